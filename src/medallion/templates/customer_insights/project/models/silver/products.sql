/* ---
kind: merge
unique_key: product_id
description: >
  One row per product (the seed's silver_products): the catalogue row with the latest
  updated_at, text trimmed, category spelled one way. A product with a zero or negative price
  is a catalogue error: quarantined, so no revenue is computed from it.
columns:
  product_id: Product key.
  sku: Stock keeping unit.
  category: Electronics, Home, Clothing, Sports, Beauty or Toys (capitalised, trimmed).
  subcategory: Other when missing.
  brand: Unbranded when missing.
  unit_price: Current list price.
  is_active: False for products no longer sold.
  updated_at: When the catalogue last changed the product (the version kept).
expectations:
  positive_price: {expect: unit_price > 0, action: quarantine}
checks:
  - unique: product_id
  - not_null: [product_id, product_name, category]
  - accepted_values:
      column: category
      values: [Electronics, Home, Clothing, Sports, Beauty, Toys]
--- */
with latest as (
    select
        *,
        row_number() over (
            partition by product_id
            order by updated_at desc nulls last, _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.products
    where product_id is not null
)

select
    product_id,
    trim(sku) as sku,
    trim(product_name) as product_name,
    upper(substring(trim(category), 1, 1)) || lower(substring(trim(category), 2)) as category,
    coalesce(nullif(trim(subcategory), ''), 'Other') as subcategory,
    coalesce(nullif(trim(brand), ''), 'Unbranded') as brand,
    unit_price,
    coalesce(is_active, false) as is_active,
    updated_at
from latest
where version_rank = 1
