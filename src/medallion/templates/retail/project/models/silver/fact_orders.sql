/* ---
kind: merge
unique_key: order_id
# new orders, and orders whose lines or payments changed, are recomputed from all their rows
incremental_inputs: [bronze.orders, silver.fact_order_lines, silver.fact_payments]
description: >
  One row per order (duplicates removed): the cleaned header, what its lines add up to, and what
  was paid. total_amount is the header as the source system wrote it (what it reports as sales;
  it need not equal the lines); net_amount is the sum of the order's lines.
columns:
  order_id: Order key, the source system's text code (ORD0001).
  order_date: Day of the order (parsed from the source's YYYY-MM-DD text).
  channel: WEB, MOBILE or STORE (upper-cased, trimmed).
  status: PLACED, SHIPPED, DELIVERED or CANCELLED (upper-cased, trimmed).
  total_amount: Order total as written in the order header (the source system's sales figure).
  line_count: Number of order lines.
  item_count: Sum of line quantities.
  net_amount: Sum of line totals after discounts.
  amount_mismatch: True when total_amount differs from net_amount.
  paid_amount: Sum of successful payments.
  payment_method: Method of the latest payment (by payment_date, then payment_id).
  payment_status: Status of the latest payment; NONE when the order has no payment.
  _ingested_at: When the order header was ingested (bronze's audit column, carried along); gold
    joins the customer version of that moment (the order as it was).
expectations:
  parseable_order_date: {expect: order_date is not null, action: quarantine}
  non_negative_total: {expect: total_amount >= 0, action: quarantine}
checks:
  - unique: order_id
  - accepted_values:
      column: status
      values: [PLACED, SHIPPED, DELIVERED, CANCELLED]
  - accepted_values: {column: channel, values: [WEB, MOBILE, STORE]}
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

ranked_payments as (
    select
        order_id,
        payment_method,
        payment_status,
        payment_amount,
        is_successful,
        row_number() over (
            partition by order_id order by payment_date desc, payment_id desc
        ) as payment_rank
    from silver.fact_payments
),

payments as (
    select
        order_id,
        sum(payment_amount) filter (where is_successful) as paid_amount,
        max(payment_method) filter (where payment_rank = 1) as payment_method,
        max(payment_status) filter (where payment_rank = 1) as payment_status
    from ranked_payments
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    try_cast(trim(o.order_date) as date) as order_date,
    upper(trim(o.channel)) as channel,
    upper(trim(o.status)) as status,
    o.total_amount,
    coalesce(l.line_count, 0) as line_count,
    coalesce(l.item_count, 0) as item_count,
    coalesce(l.net_amount, 0)::decimal(14, 2) as net_amount,
    o.total_amount is distinct from coalesce(l.net_amount, 0) as amount_mismatch,
    coalesce(p.paid_amount, 0)::decimal(14, 2) as paid_amount,
    p.payment_method,
    coalesce(p.payment_status, 'NONE') as payment_status,
    o._ingested_at
from orders as o
left join lines as l on o.order_id = l.order_id
left join payments as p on o.order_id = p.order_id
where o.version_rank = 1
