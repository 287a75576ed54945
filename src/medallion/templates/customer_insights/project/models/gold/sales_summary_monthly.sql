/* ---
kind: incremental_by_time  # only the months touched by new or changed orders are recomputed
time_column: order_month
grain: month
incremental_inputs: [silver.orders]
description: >
  Sales by calendar month (the monthly half of the seed's sales_summary), computed from the
  orders, not by adding up days: distinct customers of a month are not the sum of the days'
  distinct customers, and the average order value is the month's revenue over the month's
  orders. Same rules as sales_summary_daily.
columns:
  order_month: First day of the month the orders were placed.
  revenue: Sum of order_revenue of the month's sales.
  orders: Number of sales.
  units: Units sold.
  avg_order_value: revenue / orders, exactly rounded half up to cents; NULL without sales.
  distinct_customers: Distinct customers with a sale in the month.
  cancelled_orders: Orders of the month now cancelled.
  returned_orders: Orders of the month now returned.
checks:
  - unique: order_month
  - not_null: [order_month, revenue, orders]
  - reconciliation:
      expression: sum(revenue)
      equals: {table: silver.orders, expression: sum(order_revenue), where: is_sale}
--- */
select
    date_trunc('month', order_date)::date as order_month,
    coalesce(sum(order_revenue) filter (where is_sale), 0)::decimal(16, 2) as revenue,
    count(*) filter (where is_sale) as orders,
    coalesce(sum(units) filter (where is_sale), 0) as units,
    -- exact on every engine (as gold.customer_segments, docs/engines.md)
    round(
        (
            cast(sum(order_revenue) filter (where is_sale) * 1000 as bigint)
            // nullif(count(*) filter (where is_sale), 0)
        ) * 0.001,
        2
    )::double as avg_order_value,
    count(distinct customer_id) filter (where is_sale) as distinct_customers,
    count(*) filter (where status = 'cancelled') as cancelled_orders,
    count(*) filter (where status = 'returned') as returned_orders
from silver.orders
group by 1
order by order_month
