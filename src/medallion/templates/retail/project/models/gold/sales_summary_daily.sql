/* ---
kind: incremental_by_time  # only the days touched by new or changed orders are recomputed
time_column: order_date
lookback: 1
incremental_inputs: [silver.fact_orders]
description: >
  One row per order date, for executive dashboards: the day's sales and order counts. Cancelled
  orders are counted in cancelled_orders only; every other figure excludes them.
columns:
  order_date: Calendar day of the orders.
  total_sales: Sum of net_amount (line totals after discounts) of the day's non-cancelled orders.
  total_orders: Number of non-cancelled orders.
  total_items: Units sold (sum of line quantities) in non-cancelled orders.
  avg_order_value: total_sales / total_orders, rounded to cents (a double, as averages are).
  unique_customers: Distinct customers with a non-cancelled order.
  cancelled_orders: Orders of the day with status cancelled.
  total_paid: Successful payments for the day's non-cancelled orders.
checks:
  - unique: order_date
  - expression_is_true: total_sales >= 0 and total_orders >= 0
  # every sale of silver is in gold, and nothing else
  - reconciliation:
      expression: sum(total_sales)
      equals:
        table: silver.fact_orders
        expression: sum(net_amount)
        where: status <> 'cancelled' and order_date is not null
      tolerance: 0.01
--- */
select
    order_date,
    coalesce(sum(net_amount) filter (where status <> 'cancelled'), 0)::decimal(16, 2)
        as total_sales,
    count(*) filter (where status <> 'cancelled') as total_orders,
    coalesce(sum(item_count) filter (where status <> 'cancelled'), 0) as total_items,
    round(
        sum(net_amount) filter (where status <> 'cancelled')
        / nullif(count(*) filter (where status <> 'cancelled'), 0),
        2
    ) as avg_order_value,
    count(distinct customer_id) filter (where status <> 'cancelled') as unique_customers,
    count(*) filter (where status = 'cancelled') as cancelled_orders,
    coalesce(sum(paid_amount) filter (where status <> 'cancelled'), 0)::decimal(16, 2)
        as total_paid
from silver.fact_orders
where order_date is not null
group by order_date
order by order_date
