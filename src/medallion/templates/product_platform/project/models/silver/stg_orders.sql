/* ---
kind: merge                  # an order exported again (its status moved on) replaces its row
unique_key: order_id
description: >
  One row per order: the latest export of each order_id (by updated_at), with the order time
  parsed and codes lower-cased. Orders whose time is not a timestamp are quarantined (their lines
  then wait in gold.fact_sales__quarantine until a corrected export arrives).
columns:
  order_id: Order key.
  customer_id: The ordering customer (a few point at customers the CRM does not know).
  order_ts: When the order was placed.
  order_date: The calendar day of order_ts.
  channel: web, mobile, marketplace, edi or sales_rep.
  order_status: pending, processing, shipped, delivered or cancelled.
  payment_method: card, paypal, gift_card or invoice.
  promo_code: Upper-cased; NULL without a promotion.
  updated_at: When the order platform last changed the order.
expectations:
  parseable_order_ts:
    expect: order_ts is not null
    action: quarantine
    description: '"N/A", empty, "2024-02-30T10:00:00" or a day-first date are not order times.'
checks:
  - unique: order_id
  - not_null: [order_id, customer_id, order_date, channel, order_status]
  - accepted_values:
      column: order_status
      values: [pending, processing, shipped, delivered, cancelled]
  - accepted_values: {column: channel, values: [web, mobile, marketplace, edi, sales_rep]}
  - accepted_values: {column: payment_method, values: [card, paypal, gift_card, invoice]}
  # the order platform accepts customer ids the CRM has not exported yet: reported, not blocking
  - relationships: {column: customer_id, to: silver.stg_customers.customer_id}
    severity: warn
  # a silently half-empty export: far fewer orders than the last runs
  - anomaly: {metric: row_count, method: relative, threshold: 0.5}
    severity: warn
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc, _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.orders
    where order_id is not null
),

parsed as (
    select
        order_id,
        customer_id,
        try_cast(trim(order_ts) as timestamp) as order_ts,
        lower(trim(channel)) as channel,
        lower(trim(status)) as order_status,
        lower(trim(payment_method)) as payment_method,
        upper(nullif(trim(promo_code), '')) as promo_code,
        updated_at
    from ranked
    where version_rank = 1
)

select
    order_id,
    customer_id,
    order_ts,
    cast(order_ts as date) as order_date,
    channel,
    order_status,
    payment_method,
    promo_code,
    updated_at
from parsed
