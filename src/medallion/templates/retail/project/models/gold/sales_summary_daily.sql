/* ---
kind: incremental_by_time  # only the days touched by new or changed orders are recomputed
time_column: order_date
lookback: 1
incremental_inputs: [silver.fact_orders]
description: >
  One row per order date, for executive dashboards. reported_sales and reported_orders are the
  source system's own figures (the sum of the order header totals of all the day's orders,
  cancelled ones included), kept so a migration can check it reproduces the old numbers; the
  other figures are the template's: net of the order lines, cancelled orders excluded (counted in
  cancelled_orders only).
columns:
  order_date: Calendar day of the orders.
  reported_sales: The source system's daily sales - sum of the order header totals (total_amount)
    of all the day's orders, cancelled included, as it computed them.
  reported_orders: Number of orders of the day, cancelled included (the source system's count).
  total_sales: Sum of net_amount (line totals after discounts) of the day's orders that are not
    cancelled.
  total_orders: Number of orders that are not cancelled.
  total_items: Units sold (sum of line quantities) in orders that are not cancelled.
  avg_order_value: total_sales / total_orders, exactly rounded half up to cents (a double, as
    averages are).
  unique_customers: Distinct customers with an order that is not cancelled.
  cancelled_orders: Orders of the day with status CANCELLED.
  total_paid: Successful payments for the day's orders that are not cancelled.
checks:
  - unique: order_date
  - expression_is_true: total_sales >= 0 and total_orders >= 0 and reported_orders > 0
  # every sale of silver is in gold, and nothing else: the template's figure ...
  - reconciliation:
      expression: sum(total_sales)
      equals:
        table: silver.fact_orders
        expression: sum(net_amount)
        where: status <> 'CANCELLED' and order_date is not null
      tolerance: 0.01
  # ... and the source system's
  - reconciliation:
      name: reconciliation_reported_sales
      expression: sum(reported_sales)
      equals:
        table: silver.fact_orders
        expression: sum(total_amount)
        where: order_date is not null
      tolerance: 0.01
--- */
select
    order_date,
    sum(total_amount)::decimal(16, 2) as reported_sales,
    count(*) as reported_orders,
    coalesce(sum(net_amount) filter (where status <> 'CANCELLED'), 0)::decimal(16, 2)
        as total_sales,
    count(*) filter (where status <> 'CANCELLED') as total_orders,
    coalesce(sum(item_count) filter (where status <> 'CANCELLED'), 0) as total_items,
    -- exact on every engine (as gold.reporting_customer_stats, docs/engines.md)
    round(
        (
            cast(sum(net_amount) filter (where status <> 'CANCELLED') * 1000 as bigint)
            // nullif(count(*) filter (where status <> 'CANCELLED'), 0)
        ) * 0.001,
        2
    )::double as avg_order_value,
    count(distinct customer_id) filter (where status <> 'CANCELLED') as unique_customers,
    count(*) filter (where status = 'CANCELLED') as cancelled_orders,
    coalesce(sum(paid_amount) filter (where status <> 'CANCELLED'), 0)::decimal(16, 2)
        as total_paid
from silver.fact_orders
where order_date is not null
group by order_date
order by order_date
