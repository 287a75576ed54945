/* ---
kind: merge
unique_key: customer_id
description: Customers, latest version of each, with trimmed names and normalized e-mails.
columns:
  email: Lower-cased and trimmed.
checks:
  - unique: customer_id
  - not_null: [customer_id, email]
--- */
select
    id as customer_id,
    trim(name) as customer_name,
    lower(trim(email)) as email,
    nullif(trim(phone), '') as phone,
    nullif(trim(address), '') as address,
    created_at,
    updated_at
from bronze.customers
qualify row_number() over (partition by id order by updated_at desc, _ingested_at desc) = 1
