/* ---
kind: merge
unique_key: order_line_id
# The lines of orders that are new or changed (a new or changed line, a late payment, a header
# sent again) are built; a customer who moves or a product whose price changes touches no line
# already built, so a drop of new orders appends and never rewrites old rows. Both inputs map to
# order_id: one set of keys, whose range the engine pushes into the scans.
incremental_inputs:
  silver.fact_order_lines: order_id
  silver.fact_orders: order_id
description: >
  One Big Table for self-service BI: one row per order line, joined to its order, product,
  customer and payment summary, so analysts query one table without joins. Each line shows the
  order as it was: the customer's name, email, city, state, country and segment are those of the
  customer's version in silver.customers_history that was valid when the order was ingested (a
  point-in-time join), so a customer who later moves keeps their old city on their old orders,
  as an auditor reading an old invoice expects, and their new orders show the new city
  (dim_customers has the current one). Product name, category and brand are the catalogue's when
  the line was built (the exports change prices, which the line carries itself).
columns:
  order_line_id: One row per order line.
  customer_name: The customer as they were when the order was ingested; NULL when no version
    of the customer was known then (a customer missing from the exports, or arriving later).
  customer_city: The customer's city when the order was ingested (not the current one).
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
left join silver.customers_history as c
    on
        o.customer_id = c.customer_id
        and o._ingested_at >= c.valid_from
        and (c.valid_to is null or o._ingested_at < c.valid_to)
