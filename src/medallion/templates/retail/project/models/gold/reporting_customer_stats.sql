/* ---
kind: table              # "days since last order" moves for every customer: rebuilt whole
description: >
  One row per customer with at least one non-cancelled order, for marketing and CRM: lifetime
  value and churn risk. "Today" is the latest order date in the data (as_of_date), so the figures
  do not drift with the wall clock and a re-run on the same data gives the same table.
columns:
  first_order_date: Day of the customer's first order.
  last_order_date: Day of the customer's latest order.
  order_count: Number of non-cancelled orders.
  lifetime_value: Sum of net_amount over the customer's non-cancelled orders.
  avg_order_value: lifetime_value / order_count, rounded to cents.
  days_since_last_order: as_of_date - last_order_date, in days.
  churn_risk: active (<= 30 days since last order), at_risk (31-90) or churned (> 90).
checks:
  - unique: customer_id
  - expression_is_true: lifetime_value >= 0 and order_count > 0
--- */
with orders as (
    select *
    from silver.fact_orders
    where status <> 'cancelled' and order_date is not null
),

as_of as (
    select max(order_date) as as_of_date from orders
),

per_customer as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as order_count,
        sum(net_amount)::decimal(16, 2) as lifetime_value
    from orders
    group by customer_id
)

select
    c.customer_id,
    c.full_name,
    c.email,
    c.segment,
    c.city,
    c.country,
    s.first_order_date,
    s.last_order_date,
    s.order_count,
    s.lifetime_value,
    round(s.lifetime_value / s.order_count, 2) as avg_order_value,
    a.as_of_date,
    date_diff('day', s.last_order_date, a.as_of_date) as days_since_last_order,
    case
        when date_diff('day', s.last_order_date, a.as_of_date) <= 30 then 'active'
        when date_diff('day', s.last_order_date, a.as_of_date) <= 90 then 'at_risk'
        else 'churned'
    end as churn_risk
from per_customer as s
inner join silver.dim_customers as c on s.customer_id = c.customer_id
cross join as_of as a
