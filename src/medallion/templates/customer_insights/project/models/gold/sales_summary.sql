/* ---
kind: view                 # no copy: resolved from the two summaries at query time
description: >
  The seed's sales_summary as one table: the daily and the monthly summaries stacked, told apart
  by grain. They are two models because each is recomputed incrementally at its own grain (a new
  day's orders rewrite one day and one month) and because monthly distinct customers cannot be
  added up from days. Filter on grain: summing both grains counts every sale twice.
columns:
  grain: day or month.
  period_start: The day, or the first day of the month.
--- */
select
    'day' as grain,
    order_date as period_start,
    revenue,
    orders,
    units,
    avg_order_value,
    distinct_customers,
    cancelled_orders,
    returned_orders
from gold.sales_summary_daily
union all
select
    'month' as grain,
    order_month as period_start,
    revenue,
    orders,
    units,
    avg_order_value,
    distinct_customers,
    cancelled_orders,
    returned_orders
from gold.sales_summary_monthly
