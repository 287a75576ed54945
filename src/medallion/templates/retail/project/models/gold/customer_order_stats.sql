/* ---
kind: merge
unique_key: customer_id
# the customers with new or changed orders are recomputed: a drop of new orders rewrites only
# its buyers' rows; what moves every day for everyone ("days since last order") is computed at
# read time by the reporting_customer_stats view
incremental_inputs:
  silver.fact_orders: customer_id
description: >
  One row per customer with any order (the source system's 432 of 500): the figures of their
  orders, for reporting_customer_stats (the view marketing reads, which adds the customer's
  current attributes and the churn figures). total_orders and reported_lifetime_value are the
  source system's figures (all orders, header totals); order_count and lifetime_value are the
  template's (cancelled orders excluded, net of the order lines).
columns:
  customer_id: Customer key (CUST0001), one row per customer with an order.
  first_order_date: Day of the customer's first order.
  last_order_date: Day of the customer's latest order.
  total_orders: Number of orders, cancelled included (the source system's count).
  reported_lifetime_value: Sum of the order header totals (total_amount) of all the customer's
    orders, as the source system computed sales.
  order_count: Number of orders that are not cancelled.
  lifetime_value: Sum of net_amount over the customer's orders that are not cancelled.
checks:
  - unique: customer_id
  - not_null: [customer_id]
  - expression_is_true: lifetime_value >= 0 and total_orders > 0 and order_count <= total_orders
--- */
select
    customer_id,
    min(order_date) as first_order_date,
    max(order_date) as last_order_date,
    count(*) as total_orders,
    sum(total_amount)::decimal(16, 2) as reported_lifetime_value,
    count(*) filter (where status <> 'CANCELLED') as order_count,
    coalesce(sum(net_amount) filter (where status <> 'CANCELLED'), 0)::decimal(16, 2)
        as lifetime_value
from silver.fact_orders
where order_date is not null
group by customer_id
