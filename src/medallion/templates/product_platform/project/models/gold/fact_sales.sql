/* ---
kind: merge
unique_key: order_line_id
# a new or changed line, a change of its order (status) or of its order's shipment (delivered)
# recomputes exactly the lines concerned: each input names the output column it touches
incremental_inputs:
  silver.stg_order_lines: order_line_id
  silver.stg_orders: order_id
  silver.stg_shipments: order_id
description: >
  Sales at the grain of the order line: what was sold, to whom, when, for how much, and how the
  order's delivery went. Lines whose order silver rejected wait in fact_sales__quarantine (they
  come back by themselves when a corrected order export arrives: the merge recomputes them).
columns:
  order_line_id: One row per order line.
  order_date_key: Key into dim_date (yyyymmdd of order_date).
  order_status: pending, processing, shipped, delivered or cancelled.
  is_cancelled: The order was cancelled; its lines count in no revenue figure.
  net_amount: Revenue of the line after its discount.
  shipped_date: First day a shipment of the order left (NULL if none yet).
  delivered_date: Day the order was delivered (NULL if not yet).
  days_to_deliver: delivered_date - order_date.
  delivered_on_time: Every delivered shipment of the order arrived by its promised date.
expectations:
  known_order:
    expect: order_date is not null
    action: quarantine
    description: The line's order is not in silver.stg_orders (quarantined or not exported).
checks:
  - unique: order_line_id
  - not_null: [order_line_id, order_id, order_date_key, customer_id, product_id, net_amount]
  - relationships: {column: product_id, to: gold.dim_products.product_id}
  - relationships: {column: order_date_key, to: gold.dim_date.date_key}
  # orders for customers the CRM has not exported (see stg_orders): reported, not blocking
  - relationships: {column: customer_id, to: gold.dim_customers.customer_id}
    severity: warn
  - accepted_values:
      column: order_status
      values: [pending, processing, shipped, delivered, cancelled]
  - expression_is_true: net_amount = gross_amount - discount_amount and net_amount >= 0
  # revenue far off the last runs' (a feed that lost a day, prices exported in cents)
  - anomaly: {metric: sum(net_amount), method: relative, threshold: 0.5}
    severity: warn
--- */
with shipments as (
    select
        order_id,
        min(shipped_date) as shipped_date,
        max(delivered_date) as delivered_date,
        count(*) as shipment_count,
        sum(case when shipment_status = 'delivered' then 1 else 0 end) as delivered_count,
        min(case when is_on_time then 1 else 0 end) as all_on_time
    from silver.stg_shipments
    group by order_id
)

select
    l.order_line_id,
    l.order_id,
    l.line_number,
    o.order_date,
    cast(strftime(o.order_date, '%Y%m%d') as integer) as order_date_key,
    o.order_ts,
    o.customer_id,
    l.product_id,
    o.channel,
    o.payment_method,
    o.promo_code,
    o.order_status,
    o.order_status = 'cancelled' as is_cancelled,
    l.quantity,
    l.unit_price,
    l.discount_pct,
    l.gross_amount,
    l.discount_amount,
    l.net_amount,
    s.shipped_date,
    case when s.delivered_count = s.shipment_count then s.delivered_date end as delivered_date,
    case
        when s.delivered_count = s.shipment_count
            then date_diff('day', o.order_date, s.delivered_date)
    end as days_to_deliver,
    case when s.delivered_count = s.shipment_count then s.all_on_time = 1 end
        as delivered_on_time
from silver.stg_order_lines as l
left join silver.stg_orders as o on l.order_id = o.order_id
left join shipments as s on l.order_id = s.order_id
