/* ---
kind: merge                  # a delivered shipment is exported again: its new row wins
unique_key: shipment_id
description: >
  One row per shipment: the latest 3PL row per shipment_id (by updated_at), carrier and status
  standardised, with transit time and on-time delivery derived.
columns:
  carrier: ups, fedex, usps, dhl or freight.
  shipped_date: Day the parcel or pallet left the warehouse.
  promised_date: Day the carrier promised delivery.
  delivered_date: Day of delivery; NULL while in transit or after an exception.
  shipment_status: delivered, in_transit or exception (lost or damaged on the way).
  transit_days: delivered_date - shipped_date.
  is_on_time: delivered_date <= promised_date; NULL until delivered.
  shipping_cost: What the carrier charged; NULL when the 3PL has not billed it yet.
expectations:
  delivered_after_shipping:
    expect: delivered_date is null or delivered_date >= shipped_date
    action: quarantine
    description: A delivery before the shipment left is a keying error (dates swapped).
checks:
  - unique: shipment_id
  - not_null: [shipment_id, order_id, carrier, shipped_date, shipment_status]
  - accepted_values: {column: carrier, values: [ups, fedex, usps, dhl, freight]}
  - accepted_values:
      column: shipment_status
      values: [delivered, in_transit, exception]
  - expression_is_true: (shipment_status = 'delivered') = (delivered_date is not null)
  # shipments of orders that silver quarantined
  - relationships: {column: order_id, to: silver.stg_orders.order_id}
    severity: warn
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by shipment_id
            order by updated_at desc, _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.shipments
    where shipment_id is not null
)

select
    shipment_id,
    order_id,
    lower(replace(trim(carrier), ' ', '')) as carrier,
    upper(trim(tracking_number)) as tracking_number,
    shipped_date,
    promised_date,
    delivered_date,
    lower(replace(trim(status), ' ', '_')) as shipment_status,
    date_diff('day', shipped_date, delivered_date) as transit_days,
    delivered_date <= promised_date as is_on_time,
    shipping_cost,
    updated_at
from ranked
where version_rank = 1
