/* ---
kind: merge
unique_key: return_id
incremental_inputs:
  silver.stg_returns: return_id
  silver.stg_order_lines: order_line_id
  silver.stg_orders: order_id
description: >
  Returns at the grain of the returned order line, with the sale they reverse. A refund that
  customer service has not booked yet is estimated as the line's net amount per unit times the
  units returned (refund_estimated = true).
columns:
  return_date_key: Key into dim_date (yyyymmdd of return_date).
  quantity_sold: Units on the order line.
  refund_amount: Booked refund, or net_amount * quantity_returned / quantity_sold exactly
    rounded half up to cents when none is booked.
  refund_estimated: True when refund_amount is the estimate.
  days_to_return: return_date - order_date.
expectations:
  known_sale:
    expect: quantity_sold is not null and order_date is not null
    action: quarantine
    description: The returned line is not a sale in silver (its line or order was rejected).
  within_quantity_sold:
    expect: quantity_returned <= quantity_sold
    action: quarantine
    description: More units back than were bought is a keying error.
checks:
  - unique: return_id
  - not_null: [return_id, order_line_id, product_id, return_date_key, refund_amount]
  - relationships: {column: order_line_id, to: gold.fact_sales.order_line_id}
  - relationships: {column: product_id, to: gold.dim_products.product_id}
  - relationships: {column: return_date_key, to: gold.dim_date.date_key}
  - expression_is_true: return_date >= order_date
--- */
select
    r.return_id,
    r.order_line_id,
    l.order_id,
    o.customer_id,
    l.product_id,
    o.order_date,
    r.return_date,
    cast(strftime(r.return_date, '%Y%m%d') as integer) as return_date_key,
    r.quantity_returned,
    l.quantity as quantity_sold,
    r.return_reason,
    r.is_quality_issue,
    r.item_condition,
    cast(
        coalesce(
            r.refund_amount,
            -- exact on every engine (docs/engines.md): an integer division in tenths of a
            -- cent, rounded half away from zero as a decimal
            round(
                (
                    cast(l.net_amount * r.quantity_returned * 1000 as bigint)
                    // nullif(l.quantity, 0)
                ) * 0.001,
                2
            )
        ) as decimal(12, 2)
    ) as refund_amount,
    r.refund_amount is null as refund_estimated,
    date_diff('day', o.order_date, r.return_date) as days_to_return
from silver.stg_returns as r
left join silver.stg_order_lines as l on r.order_line_id = l.order_line_id
left join silver.stg_orders as o on l.order_id = o.order_id
