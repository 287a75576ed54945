/* ---
kind: incremental_by_time  # only the days touched by new or changed orders are recomputed
time_column: order_date
incremental_inputs: [silver.orders]
description: >
  Sales by day (the daily half of the seed's sales_summary; gold.sales_summary shows both grains
  in one table). One row per day with at least one order. Cancelled and returned orders count
  only in cancelled_orders / returned_orders; every other figure is about sales (is_sale).
  A status change (an order cancelled days later) recomputes the day the order was placed.
columns:
  order_date: Calendar day the orders were placed (UTC).
  revenue: Sum of order_revenue (line revenue after discounts, without shipping) of the sales.
  orders: Number of sales.
  units: Units sold.
  avg_order_value: revenue / orders, exactly rounded half up to cents (a double, as averages are); NULL without sales.
  distinct_customers: Distinct customers with a sale that day.
  cancelled_orders: Orders of the day now cancelled.
  returned_orders: Orders of the day now returned.
checks:
  - unique: order_date
  - not_null: [order_date, revenue, orders]
  - expression_is_true: revenue >= 0 and orders >= 0
  # every sale of silver is in gold, and nothing else
  - reconciliation:
      expression: sum(revenue)
      equals: {table: silver.orders, expression: sum(order_revenue), where: is_sale}
--- */
select
    order_date,
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
group by order_date
order by order_date
