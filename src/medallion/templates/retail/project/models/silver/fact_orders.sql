/* ---
kind: merge
unique_key: order_id
# new orders, and orders whose lines or payments changed, are recomputed from all their rows
incremental_inputs: [bronze.orders, silver.fact_order_lines, silver.fact_payments]
description: >
  One row per order (duplicates removed): the cleaned header, what its lines add up to, and what
  was paid. total_amount is the header as the source system wrote it; net_amount is the sum of the
  order's lines, the figure gold reports use.
columns:
  order_date: Day of the order (parsed from the source text).
  channel: web, mobile, store or marketplace (lower-cased, trimmed).
  status: completed, shipped, pending, cancelled or returned (lower-cased, trimmed).
  total_amount: Order total as written in the order header.
  line_count: Number of order lines.
  item_count: Sum of line quantities.
  net_amount: Sum of line totals after discounts.
  amount_mismatch: True when total_amount differs from net_amount.
  paid_amount: Sum of successful payments.
  payment_method: Method of the latest payment attempt.
  payment_status: Status of the latest payment attempt; 'none' when there is no payment.
expectations:
  parseable_order_date: {expect: order_date is not null, action: quarantine}
  non_negative_total: {expect: total_amount >= 0, action: quarantine}
checks:
  - unique: order_id
  - accepted_values:
      column: status
      values: [completed, shipped, pending, cancelled, returned]
  - accepted_values: {column: channel, values: [web, mobile, store, marketplace]}
  # the source system has orders whose customer is missing: reported, not blocking
  - relationships: {column: customer_id, to: silver.dim_customers.customer_id}
    severity: warn
  # a silently half-empty load: order count far below the last runs
  - anomaly: {metric: row_count, method: relative, threshold: 0.5}
    severity: warn
--- */
with orders as (
    select
        *,
        row_number() over (
            partition by order_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.orders
    where order_id is not null
),

lines as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as item_count,
        sum(line_total) as net_amount
    from silver.fact_order_lines
    group by order_id
),

payments as (
    select
        order_id,
        sum(payment_amount) filter (where is_successful) as paid_amount,
        arg_max(payment_method, payment_ts) as payment_method,
        arg_max(payment_status, payment_ts) as payment_status
    from silver.fact_payments
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    try_cast(trim(o.order_date) as date) as order_date,
    lower(trim(o.channel)) as channel,
    lower(trim(o.status)) as status,
    o.total_amount,
    coalesce(l.line_count, 0) as line_count,
    coalesce(l.item_count, 0) as item_count,
    coalesce(l.net_amount, 0)::decimal(14, 2) as net_amount,
    o.total_amount is distinct from coalesce(l.net_amount, 0) as amount_mismatch,
    coalesce(p.paid_amount, 0)::decimal(14, 2) as paid_amount,
    p.payment_method,
    coalesce(p.payment_status, 'none') as payment_status
from orders as o
left join lines as l on o.order_id = l.order_id
left join payments as p on o.order_id = p.order_id
where o.version_rank = 1
