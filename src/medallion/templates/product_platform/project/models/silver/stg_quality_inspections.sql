/* ---
kind: merge
unique_key: inspection_id
description: >
  One row per quality inspection of a production batch (duplicates removed), with the defect
  rate and the result standardised. Acceptance rule (the QA team's sampling plan): a defect rate
  up to 2 % passes, up to 5 % is a conditional pass (batch released after rework), above fails.
  The QA app sometimes leaves the result empty; it is then derived by that rule.
columns:
  inspection_date: The calendar day of inspected_at.
  inspection_type: final, in_process or shelf_life.
  inspector: Who inspected; 'unassigned' when the app has no name.
  sample_size: Units sampled from the batch.
  defects_found: Defective units in the sample.
  defect_rate: defects_found / sample_size, exactly rounded half up to 4 decimals.
  result: pass, conditional or fail (as recorded, or derived when missing).
  result_derived: True when result was derived by the acceptance rule.
expectations:
  defects_within_sample:
    expect: sample_size > 0 and defects_found between 0 and sample_size
    action: quarantine
    description: More defects than units sampled is a keying error.
checks:
  - unique: inspection_id
  - not_null: [inspection_id, product_id, inspected_at, result]
  - accepted_values: {column: result, values: [pass, conditional, fail]}
  - accepted_values: {column: inspection_type, values: [final, in_process, shelf_life]}
  - relationships: {column: product_id, to: silver.stg_products.product_id}
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by inspection_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.quality_inspections
    where inspection_id is not null
),

cleaned as (
    select
        inspection_id,
        trim(batch_code) as batch_code,
        product_id,
        inspected_at,
        lower(replace(replace(trim(inspection_type), '-', '_'), ' ', '_')) as inspection_type,
        coalesce(nullif(trim(inspector), ''), 'unassigned') as inspector,
        sample_size,
        defects_found,
        -- exact on every engine (docs/engines.md): an integer division in units of 0.00001,
        -- rounded half away from zero as a decimal; a double, as it was
        round((defects_found * 100000 // nullif(sample_size, 0)) * 0.00001, 4)::double
            as defect_rate,
        nullif(lower(trim(result)), '') as recorded_result
    from ranked
    where version_rank = 1
)

select
    inspection_id,
    batch_code,
    product_id,
    inspected_at,
    cast(inspected_at as date) as inspection_date,
    inspection_type,
    inspector,
    sample_size,
    defects_found,
    defect_rate,
    coalesce(
        recorded_result,
        case
            when defects_found * 50 <= sample_size then 'pass'         -- rate <= 2 %
            when defects_found * 20 <= sample_size then 'conditional'  -- rate <= 5 %
            else 'fail'
        end
    ) as result,
    recorded_result is null as result_derived
from cleaned
