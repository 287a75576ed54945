/* ---
kind: merge
unique_key: order_item_id
# a new or changed item, or a change to its order, updates the item's row
incremental_inputs:
  silver.stg_order_items: order_item_id
  silver.stg_orders: order_id
description: One row per order item (the grain of sales), merged incrementally.
columns:
  line_total: quantity * unit_price.
checks:
  - unique: order_item_id
  - not_null: [order_item_id, order_id, customer_id, product_id, quantity, unit_price, line_total]
  - relationships: {column: customer_id, to: gold.dim_customers.customer_id}
  - relationships: {column: product_id, to: gold.dim_products.product_id}
  - accepted_values:
      column: order_status
      values: [pending, processing, shipped, completed, cancelled, returned]
--- */
select
    i.order_item_id,
    i.order_id,
    o.order_date,
    o.order_date::date as order_day,
    o.status as order_status,
    o.customer_id,
    i.product_id,
    i.category,
    i.quantity,
    i.unit_price,
    i.line_total
from silver.int_order_items_enriched as i
inner join silver.int_orders_enriched as o on i.order_id = o.order_id
