/* ---
kind: merge
unique_key: customer_id
incremental_inputs: {silver.stg_customers: customer_id}
description: One row per customer.
checks:
  - unique: customer_id
  - not_null: [customer_id, customer_name, email]
--- */
select
    customer_id,
    customer_name,
    email,
    phone,
    address,
    created_at as customer_since
from silver.stg_customers
