/* ---
kind: merge
unique_key: product_id
incremental_inputs: {silver.stg_products: product_id}
description: One row per product.
checks:
  - unique: product_id
  - not_null: [product_id, product_name, price]
--- */
select product_id, product_name, description, category, price, stock_quantity
from silver.stg_products
