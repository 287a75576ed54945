/* ---
kind: merge
unique_key: product_id
description: Products, latest version of each.
checks:
  - unique: product_id
  - not_null: [product_id, price]
  - expression_is_true: price >= 0
--- */
select
    id as product_id,
    trim(name) as product_name,
    description,
    price,
    coalesce(nullif(trim(category), ''), 'Uncategorised') as category,
    stock_quantity,
    created_at,
    updated_at
from bronze.products
qualify row_number() over (partition by id order by updated_at desc, _ingested_at desc) = 1
