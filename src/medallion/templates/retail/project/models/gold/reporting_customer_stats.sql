/* ---
kind: view               # resolved at query time: "days since last order" moves for everyone
description: >
  One row per customer with any order (the source system's 432 of 500), for marketing and CRM:
  lifetime value and churn risk. The order figures are stored in customer_order_stats (updated
  for the customers of each drop only); this view adds the customer's current name, email,
  segment, city and country (dim_customers: NULL when the customer is not in it - missing from
  the export, or set aside in dim_customers__quarantine) and the churn figures. "Today" is the
  latest order date in the data (as_of_date), so the figures do not drift with the wall clock
  and the same data gives the same answer.
columns:
  customer_id: Customer key (CUST0001), one row per customer with an order.
  total_orders: Number of orders, cancelled included (the source system's count).
  reported_lifetime_value: Sum of the order header totals of all the customer's orders, as the
    source system computed sales.
  order_count: Number of orders that are not cancelled.
  lifetime_value: Sum of net_amount over the customer's orders that are not cancelled.
  avg_order_value: lifetime_value / order_count, exactly rounded half up to cents (a double);
    NULL when order_count is 0.
  as_of_date: The latest order date in the data.
  days_since_last_order: as_of_date - last_order_date, in days.
  churn_risk: active (<= 30 days since last order), at_risk (31-90) or churned (> 90).
--- */
with as_of as (
    select max(last_order_date) as as_of_date from gold.customer_order_stats
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
    -- exact on every engine (docs/engines.md): DuckDB's `/` divides decimals as doubles
    -- (0.29 / 2 is 0.14499999...), Spark's exactly; an integer division (`//` truncates toward
    -- zero everywhere) in tenths of a cent, rounded half away from zero as a decimal, is the
    -- same everywhere. A double, as it was.
    round((cast(s.lifetime_value * 1000 as bigint) // nullif(s.order_count, 0)) * 0.001, 2)
        ::double as avg_order_value,
    a.as_of_date,
    date_diff('day', s.last_order_date, a.as_of_date) as days_since_last_order,
    case
        when date_diff('day', s.last_order_date, a.as_of_date) <= 30 then 'active'
        when date_diff('day', s.last_order_date, a.as_of_date) <= 90 then 'at_risk'
        else 'churned'
    end as churn_risk
from gold.customer_order_stats as s
left join silver.dim_customers as c on s.customer_id = c.customer_id
cross join as_of as a
