/* ---
kind: view                   # pre-aggregated for BI, resolved at query time: always current
description: >
  One row per calendar day (every day of dim_date, zero when nothing happened): sales of the
  orders placed that day, cancellations, returns booked that day and delivery performance of the
  day's orders. Cancelled orders count in cancelled_orders only.
columns:
  orders: Non-cancelled orders placed that day.
  customers: Distinct customers with a non-cancelled order that day.
  units_sold: Units on the day's non-cancelled orders.
  gross_revenue: Sum of gross_amount (before discounts).
  discounts: Sum of discount_amount.
  net_revenue: Sum of net_amount (gross - discounts).
  avg_order_value: net_revenue / orders, exactly rounded half away from zero to cents; NULL
    without orders.
  net_revenue_7d_avg: Average net_revenue of the 7 days ending that day, exactly rounded half
    away from zero to cents.
  net_revenue_mtd: net_revenue from the first of the month to that day.
  cancelled_orders: Orders placed that day and cancelled.
  units_returned: Units returned that day (by return date, whatever the order date).
  refunds: Refunds of the returns booked that day.
  net_revenue_after_refunds: net_revenue - refunds (the day's cash view).
  delivered_orders: The day's orders delivered by now.
  on_time_delivery_pct: Share of delivered_orders that arrived by the promised date, in
    percent, exactly rounded half up to 1 decimal; NULL when none was delivered yet.
checks:
  - unique: date_key
  - expression_is_true: net_revenue = gross_revenue - discounts
  # every non-cancelled sale of the fact is in exactly one day
  - reconciliation:
      expression: sum(net_revenue)
      equals: {table: gold.fact_sales, expression: sum(net_amount), where: not is_cancelled}
  - reconciliation:
      name: reconciliation_refunds
      expression: sum(refunds)
      equals: {table: gold.fact_returns, expression: sum(refund_amount)}
--- */
with sales as (
    select
        order_date_key as date_key,
        count(distinct order_id) as orders,
        count(distinct customer_id) as customers,
        sum(quantity) as units_sold,
        sum(gross_amount) as gross_revenue,
        sum(discount_amount) as discounts,
        sum(net_amount) as net_revenue
    from gold.fact_sales
    where not is_cancelled
    group by order_date_key
),

cancellations as (
    select order_date_key as date_key, count(distinct order_id) as cancelled_orders
    from gold.fact_sales
    where is_cancelled
    group by order_date_key
),

deliveries as (
    select
        order_date_key as date_key,
        count(distinct order_id) as delivered_orders,
        count(distinct case when delivered_on_time then order_id end) as on_time_orders
    from gold.fact_sales
    where delivered_date is not null and not is_cancelled
    group by order_date_key
),

returns as (
    select
        return_date_key as date_key,
        sum(quantity_returned) as units_returned,
        sum(refund_amount) as refunds
    from gold.fact_returns
    group by return_date_key
),

daily as (
    select
        d.date_key,
        d.date_day,
        d.year,
        d.quarter,
        d.month,
        d.month_name,
        d.year_month,
        d.iso_week,
        d.day_name,
        d.is_weekend,
        coalesce(s.orders, 0) as orders,
        coalesce(s.customers, 0) as customers,
        coalesce(s.units_sold, 0) as units_sold,
        cast(coalesce(s.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(s.discounts, 0) as decimal(18, 2)) as discounts,
        cast(coalesce(s.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        coalesce(c.cancelled_orders, 0) as cancelled_orders,
        coalesce(r.units_returned, 0) as units_returned,
        cast(coalesce(r.refunds, 0) as decimal(18, 2)) as refunds,
        coalesce(v.delivered_orders, 0) as delivered_orders,
        v.on_time_orders
    from gold.dim_date as d
    left join sales as s on d.date_key = s.date_key
    left join cancellations as c on d.date_key = c.date_key
    left join returns as r on d.date_key = r.date_key
    left join deliveries as v on d.date_key = v.date_key
)

select
    date_key,
    date_day,
    year,
    quarter,
    month,
    month_name,
    year_month,
    iso_week,
    day_name,
    is_weekend,
    orders,
    customers,
    units_sold,
    gross_revenue,
    discounts,
    net_revenue,
    -- exact on every engine (docs/engines.md): DuckDB's `/` divides decimals as doubles,
    -- Spark's exactly; an integer division (`//` truncates toward zero everywhere) in tenths of
    -- a cent, rounded half away from zero as a decimal; a double, as it was
    round((cast(net_revenue * 1000 as bigint) // nullif(orders, 0)) * 0.001, 2)::double
        as avg_order_value,
    -- date_day is never NULL; "nulls first" is spelled out because it is BigQuery's default
    -- (DuckDB's is nulls last), so the window compiles to every warehouse unchanged
    -- an average as sum // count: avg() of a decimal is a double in DuckDB, exact in Spark
    round(
        (
            cast(
                sum(net_revenue) over (
                    order by date_day nulls first rows between 6 preceding and current row
                ) * 1000 as bigint
            )
            // count(net_revenue) over (
                order by date_day nulls first rows between 6 preceding and current row
            )
        ) * 0.001,
        2
    )::double as net_revenue_7d_avg,
    sum(net_revenue) over (
        partition by year_month
        order by date_day nulls first
        rows between unbounded preceding and current row
    ) as net_revenue_mtd,
    cancelled_orders,
    units_returned,
    refunds,
    net_revenue - refunds as net_revenue_after_refunds,
    delivered_orders,
    round((on_time_orders * 10000 // nullif(delivered_orders, 0)) * 0.01, 1)::double
        as on_time_delivery_pct
from daily
