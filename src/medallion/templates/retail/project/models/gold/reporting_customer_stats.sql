/* ---
kind: table              # "days since last order" moves for every customer: rebuilt whole
description: >
  One row per customer with any order (the source system's 432 of 500), for marketing and CRM:
  lifetime value and churn risk. total_orders and reported_lifetime_value are the source
  system's figures (all orders, header totals); order_count and lifetime_value are the
  template's (cancelled orders excluded, net of the order lines). "Today" is the latest order
  date in the data (as_of_date), so the figures do not drift with the wall clock and a re-run on
  the same data gives the same table. The customer's name, email, segment, city and country are
  NULL when the customer is not in dim_customers (missing from the export, or set aside in
  dim_customers__quarantine).
columns:
  customer_id: Customer key (CUST0001), one row per customer with an order.
  first_order_date: Day of the customer's first order.
  last_order_date: Day of the customer's latest order.
  total_orders: Number of orders, cancelled included (the source system's count).
  reported_lifetime_value: Sum of the order header totals (total_amount) of all the customer's
    orders, as the source system computed sales.
  order_count: Number of orders that are not cancelled.
  lifetime_value: Sum of net_amount over the customer's orders that are not cancelled.
  avg_order_value: lifetime_value / order_count, rounded to cents; NULL when order_count is 0.
  days_since_last_order: as_of_date - last_order_date, in days.
  churn_risk: active (<= 30 days since last order), at_risk (31-90) or churned (> 90).
checks:
  - unique: customer_id
  - not_null: [customer_id]
  - expression_is_true: lifetime_value >= 0 and total_orders > 0 and order_count <= total_orders
--- */
with orders as (
    select *
    from silver.fact_orders
    where order_date is not null
),

as_of as (
    select max(order_date) as as_of_date from orders
),

per_customer as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as total_orders,
        sum(total_amount)::decimal(16, 2) as reported_lifetime_value,
        count(*) filter (where status <> 'CANCELLED') as order_count,
        coalesce(sum(net_amount) filter (where status <> 'CANCELLED'), 0)::decimal(16, 2)
            as lifetime_value
    from orders
    group by customer_id
)

select
    s.customer_id,
    c.full_name,
    c.email,
    c.segment,
    c.city,
    c.country,
    s.first_order_date,
    s.last_order_date,
    s.total_orders,
    s.reported_lifetime_value,
    s.order_count,
    s.lifetime_value,
    round(s.lifetime_value / nullif(s.order_count, 0), 2) as avg_order_value,
    a.as_of_date,
    date_diff('day', s.last_order_date, a.as_of_date) as days_since_last_order,
    case
        when date_diff('day', s.last_order_date, a.as_of_date) <= 30 then 'active'
        when date_diff('day', s.last_order_date, a.as_of_date) <= 90 then 'at_risk'
        else 'churned'
    end as churn_risk
from per_customer as s
left join silver.dim_customers as c on s.customer_id = c.customer_id
cross join as_of as a
