/* ---
kind: scd2
unique_key: customer_id
track: [first_name, last_name, email, city, state, country, segment]
valid_from: observed_at
# when one run sees several versions of a customer, the latest export wins
order_by: [observed_at, source_file]
description: >
  Every version of every customer: when an export shows a customer with a different city (or
  name, email, state, country, segment), the current version is closed (valid_to, is_current =
  false) and a new one opens. Re-ingesting an unchanged export adds nothing.
columns:
  observed_at: When medallion ingested the export that showed this version.
  source_file: The export file that showed it (daily drops sort after the initial export).
  valid_from: When this version was first seen (observed_at).
  valid_to: When it was replaced; NULL for the current version.
  is_current: True for the customer's current version.
checks:
  - not_null: [customer_id, valid_from]
--- */
select
    customer_id,
    nullif(trim(first_name), '') as first_name,
    nullif(trim(last_name), '') as last_name,
    nullif(lower(trim(email)), '') as email,
    nullif(trim(city), '') as city,
    nullif(trim(state), '') as state,
    nullif(upper(trim(country)), '') as country,
    case upper(trim(segment))
        when 'RETAIL' then 'Retail'
        when 'CORPORATE' then 'Corporate'
        when 'SME' then 'SME'
        when '' then 'Unknown'
        else coalesce(trim(segment), 'Unknown')
    end as segment,
    _ingested_at as observed_at,
    _source_file as source_file
from bronze.customers
where customer_id is not null
