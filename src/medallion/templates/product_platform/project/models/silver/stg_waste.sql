/* ---
kind: merge
unique_key: waste_id
description: >
  One row per waste record of the plant floor (duplicates removed), facility and reason
  standardised. The cost is the one the ERP booked; gold values the ones not booked yet.
columns:
  waste_id: Waste record key.
  waste_date: Day the units were written off.
  facility: Plant or distribution centre code (PDX-BAKERY, AUS-KITCHEN, CMH-PLANT).
  batch_code: Production batch the units came from.
  waste_reason: expired, damaged, production_scrap, overproduction or quality_reject.
  quantity: Units written off.
  waste_cost: Cost booked by the ERP (quantity * standard cost); NULL when not booked yet.
expectations:
  positive_quantity: {expect: quantity > 0, action: quarantine}
checks:
  - unique: waste_id
  - not_null: [waste_id, waste_date, facility, product_id, waste_reason]
  - accepted_values:
      column: waste_reason
      values: [expired, damaged, production_scrap, overproduction, quality_reject]
  - relationships: {column: product_id, to: silver.stg_products.product_id}
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by waste_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.waste
    where waste_id is not null
)

select
    waste_id,
    waste_date,
    upper(trim(facility)) as facility,
    product_id,
    trim(batch_code) as batch_code,
    lower(replace(trim(waste_reason), ' ', '_')) as waste_reason,
    quantity,
    waste_cost
from ranked
where version_rank = 1
