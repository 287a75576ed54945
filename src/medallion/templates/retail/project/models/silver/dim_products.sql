/* ---
kind: merge
unique_key: product_id
description: One row per product_id (latest ingested version), text fields trimmed.
columns:
  product_id: Product key, the source system's text code (PROD0001).
  unit_price: List price.
  status: Catalogue status as the source system spells it (Active; Inactive is its other value),
    whatever the case or spaces of the export.
  is_active: True when the catalogue status is Active.
expectations:
  non_negative_price: {expect: unit_price >= 0, action: quarantine}
checks:
  - unique: product_id
  - accepted_values: {column: status, values: [Active, Inactive]}
--- */
with latest as (
    select
        *,
        row_number() over (
            partition by product_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.products
    where product_id is not null
)

select
    product_id,
    trim(product_name) as product_name,
    coalesce(nullif(trim(category), ''), 'Uncategorised') as category,
    coalesce(nullif(trim(sub_category), ''), 'Other') as sub_category,
    coalesce(nullif(trim(brand), ''), 'Unbranded') as brand,
    unit_price,
    case upper(trim(status))
        when 'ACTIVE' then 'Active'
        when 'INACTIVE' then 'Inactive'
        else trim(status)
    end as status,
    upper(trim(status)) = 'ACTIVE' as is_active
from latest
where version_rank = 1
