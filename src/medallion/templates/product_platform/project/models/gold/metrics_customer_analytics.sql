/* ---
kind: view
description: >
  One row per customer of dim_customers: order history, lifetime value and a lifecycle segment
  for CRM. "Today" is as_of_date, the latest order date in the data, so the figures do not drift
  with the wall clock. Cancelled orders are excluded. Segments, the first rule that holds:
  prospect (no order yet); churned (last order more than 90 days before as_of_date); at_risk
  (more than 45 days); new (first order less than 30 days before as_of_date); loyal (4 orders or
  more); active (everyone else).
columns:
  orders: Non-cancelled orders.
  net_revenue: Sum of net_amount of those orders' lines.
  refunds: Refunds of the customer's returns.
  lifetime_value: net_revenue - refunds.
  avg_order_value: net_revenue / orders, exactly rounded half away from zero to cents.
  days_since_last_order: as_of_date - last_order_date.
  lifecycle_segment: prospect, new, active, loyal, at_risk or churned (see above).
  value_rank: 1 = highest lifetime_value among customers with orders (ties share a rank).
checks:
  - unique: customer_id
  - accepted_values:
      column: lifecycle_segment
      values: [prospect, new, active, loyal, at_risk, churned]
  - expression_is_true: orders = 0 or (first_order_date <= last_order_date and net_revenue >= 0)
--- */
with as_of as (
    select max(order_date) as as_of_date
    from gold.fact_sales
    where not is_cancelled
),

orders as (
    select customer_id, order_id, min(order_date) as order_date, sum(net_amount) as order_value
    from gold.fact_sales
    where not is_cancelled
    group by customer_id, order_id
),

per_customer as (
    select
        customer_id,
        count(*) as orders,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        sum(order_value) as net_revenue
    from orders
    group by customer_id
),

returns as (
    select customer_id, count(*) as returns, sum(refund_amount) as refunds
    from gold.fact_returns
    group by customer_id
),

history as (
    select
        c.customer_id,
        c.customer_name,
        c.customer_type,
        c.is_business,
        c.region,
        c.signup_date,
        coalesce(o.orders, 0) as orders,
        o.first_order_date,
        o.last_order_date,
        cast(coalesce(o.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        coalesce(r.returns, 0) as returns,
        cast(coalesce(r.refunds, 0) as decimal(18, 2)) as refunds,
        a.as_of_date,
        date_diff('day', o.last_order_date, a.as_of_date) as days_since_last_order,
        date_diff('day', o.first_order_date, a.as_of_date) as days_since_first_order
    from gold.dim_customers as c
    left join per_customer as o on c.customer_id = o.customer_id
    left join returns as r on c.customer_id = r.customer_id
    cross join as_of as a
)

select
    customer_id,
    customer_name,
    customer_type,
    is_business,
    region,
    signup_date,
    orders,
    first_order_date,
    last_order_date,
    net_revenue,
    returns,
    refunds,
    net_revenue - refunds as lifetime_value,
    -- exact on every engine (docs/engines.md): DuckDB's `/` divides decimals as doubles,
    -- Spark's exactly; an integer division (`//` truncates toward zero everywhere) in tenths of
    -- a cent, rounded half away from zero as a decimal; a double, as it was
    round((cast(net_revenue * 1000 as bigint) // nullif(orders, 0)) * 0.001, 2)::double
        as avg_order_value,
    as_of_date,
    days_since_last_order,
    case
        when orders = 0 then 'prospect'
        when days_since_last_order > 90 then 'churned'
        when days_since_last_order > 45 then 'at_risk'
        when days_since_first_order < 30 then 'new'
        when orders >= 4 then 'loyal'
        else 'active'
    end as lifecycle_segment,
    case
        when orders > 0
            then rank() over (partition by orders > 0 order by net_revenue - refunds desc)
    end as value_rank
from history
