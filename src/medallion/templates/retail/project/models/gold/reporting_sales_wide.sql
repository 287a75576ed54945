/* ---
kind: merge
unique_key: order_line_id
# a new or changed line, order, product or customer updates the lines it appears on: each
# input is mapped to the output column that says which lines it touches
incremental_inputs:
  silver.fact_order_lines: order_line_id
  silver.fact_orders: order_id
  silver.dim_products: product_id
  silver.dim_customers: customer_id
description: >
  One Big Table for self-service BI: one row per order line, joined to its order, product,
  customer and payment summary, so analysts query one table without joins.
columns:
  order_line_id: One row per order line.
  customer_name: NULL when the order's customer is not in dim_customers.
  order_total_amount: The order header total, as the source system reported it.
checks:
  - unique: order_line_id
  - reconciliation:
      name: reconciliation_line_totals
      expression: sum(line_total)
      equals: {table: silver.fact_order_lines, expression: sum(line_total)}
--- */
select
    l.order_line_id,
    l.order_id,
    o.order_date,
    o.channel,
    o.status as order_status,
    o.customer_id,
    c.full_name as customer_name,
    c.email as customer_email,
    c.city as customer_city,
    c.state as customer_state,
    c.country as customer_country,
    c.segment as customer_segment,
    l.product_id,
    p.product_name,
    p.category,
    p.sub_category,
    p.brand,
    l.quantity,
    l.unit_price,
    l.discount_amount,
    l.gross_amount,
    l.line_total,
    o.total_amount as order_total_amount,
    o.net_amount as order_net_amount,
    o.payment_method,
    o.payment_status,
    o.paid_amount as order_paid_amount
from silver.fact_order_lines as l
left join silver.fact_orders as o on l.order_id = o.order_id
left join silver.dim_products as p on l.product_id = p.product_id
left join silver.dim_customers as c on o.customer_id = c.customer_id
