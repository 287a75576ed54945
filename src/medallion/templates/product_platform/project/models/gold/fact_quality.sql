/* ---
kind: merge
unique_key: inspection_id
incremental_inputs: {silver.stg_quality_inspections: inspection_id}
description: >
  Quality inspections at the grain of one inspection of one production batch, with the
  measures QA reports on (see stg_quality_inspections for the acceptance rule).
columns:
  inspection_date_key: Key into dim_date (yyyymmdd of inspection_date).
  is_pass: result = 'pass'.
  is_fail: result = 'fail' (a conditional pass is neither).
checks:
  - unique: inspection_id
  - not_null: [inspection_id, product_id, inspection_date_key, result]
  - relationships: {column: product_id, to: gold.dim_products.product_id}
  - relationships: {column: inspection_date_key, to: gold.dim_date.date_key}
  - expression_is_true: defects_found <= sample_size
  - reconciliation:
      expression: count(*)
      equals: {table: silver.stg_quality_inspections, expression: count(*)}
--- */
select
    inspection_id,
    batch_code,
    product_id,
    inspected_at,
    inspection_date,
    cast(strftime(inspection_date, '%Y%m%d') as integer) as inspection_date_key,
    inspection_type,
    inspector,
    sample_size,
    defects_found,
    defect_rate,
    result,
    result = 'pass' as is_pass,
    result = 'fail' as is_fail,
    result_derived
from silver.stg_quality_inspections
