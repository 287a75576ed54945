/* ---
kind: merge
unique_key: order_id
description: Orders, latest version of each, with the status standardized.
columns:
  status: pending, processing, shipped, completed, cancelled or returned.
checks:
  - unique: order_id
  - not_null: [order_id, customer_id, order_date, total_amount]
  - accepted_values:
      column: status
      values: [pending, processing, shipped, completed, cancelled, returned]
  - relationships: {column: customer_id, to: silver.stg_customers.customer_id}
--- */
select
    id as order_id,
    customer_id,
    order_date,
    lower(trim(status)) as status,
    total_amount,
    nullif(trim(shipping_address), '') as shipping_address,
    created_at,
    updated_at
from bronze.orders
qualify row_number() over (partition by id order by updated_at desc, _ingested_at desc) = 1
