/* ---
kind: merge
unique_key: waste_id
# a product's new standard cost revalues its waste records whose cost was not booked
incremental_inputs:
  silver.stg_waste: waste_id
  silver.stg_products: product_id
description: >
  Waste at the grain of one write-off record. The cost is what the ERP booked, or, where it has
  not booked one yet, quantity * the product's standard cost (the ERP's own valuation rule).
columns:
  waste_date_key: Key into dim_date (yyyymmdd of waste_date).
  waste_cost: Booked cost, or quantity * standard_cost when none is booked.
  cost_estimated: True when waste_cost is the estimate.
  is_avoidable: overproduction or expired (planning could have prevented it), as opposed to
    scrap, damage and quality rejects.
checks:
  - unique: waste_id
  - not_null: [waste_id, product_id, waste_date_key, quantity, waste_cost]
  - relationships: {column: product_id, to: gold.dim_products.product_id}
  - relationships: {column: waste_date_key, to: gold.dim_date.date_key}
  # every unit of the waste log is in the fact
  - reconciliation:
      expression: sum(quantity)
      equals: {table: silver.stg_waste, expression: sum(quantity)}
--- */
select
    w.waste_id,
    w.waste_date,
    cast(strftime(w.waste_date, '%Y%m%d') as integer) as waste_date_key,
    w.facility,
    w.product_id,
    w.batch_code,
    w.waste_reason,
    w.waste_reason in ('overproduction', 'expired') as is_avoidable,
    w.quantity,
    cast(coalesce(w.waste_cost, w.quantity * p.standard_cost) as decimal(14, 2)) as waste_cost,
    w.waste_cost is null as cost_estimated
from silver.stg_waste as w
left join silver.stg_products as p on w.product_id = p.product_id
