/* ---
kind: merge
unique_key: order_id
incremental_inputs:
  silver.stg_orders: order_id
  silver.stg_order_items: order_id
description: >
  One row per order: items, units, the header total as the OLTP system stored it and the sum
  of its items, and a flag where the two differ.
columns:
  header_total: total_amount of the order header.
  items_total: Sum of quantity * unit_price over the order's items.
  total_mismatch: True when header_total differs from items_total.
checks:
  - unique: order_id
  - not_null: [order_id, customer_id, order_date, header_total, items_total, item_count]
  - relationships: {column: customer_id, to: gold.dim_customers.customer_id}
  - accepted_values:
      column: status
      values: [pending, processing, shipped, completed, cancelled, returned]
--- */
select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    count(i.order_item_id) as item_count,
    coalesce(sum(i.quantity), 0) as units,
    o.total_amount as header_total,
    coalesce(sum(i.line_total), 0)::decimal(14, 2) as items_total,
    o.total_amount <> coalesce(sum(i.line_total), 0) as total_mismatch
from silver.int_orders_enriched as o
left join silver.int_order_items_enriched as i on o.order_id = i.order_id
group by o.order_id, o.customer_id, o.order_date, o.status, o.total_amount
