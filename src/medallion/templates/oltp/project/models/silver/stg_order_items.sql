/* ---
kind: merge
unique_key: order_item_id
description: Order items, latest version of each, with the line total.
expectations:
  positive_quantity: {expect: quantity > 0, action: quarantine}
checks:
  - unique: order_item_id
  - not_null: [order_item_id, order_id, product_id, quantity, unit_price]
  - relationships: {column: order_id, to: silver.stg_orders.order_id}
  - relationships: {column: product_id, to: silver.stg_products.product_id}
--- */
select
    id as order_item_id,
    order_id,
    product_id,
    quantity,
    unit_price,
    (quantity * unit_price)::decimal(14, 2) as line_total,
    created_at,
    updated_at
from bronze.order_items
qualify row_number() over (partition by id order by updated_at desc, _ingested_at desc) = 1
