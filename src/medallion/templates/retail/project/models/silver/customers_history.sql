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
  false) and a new one opens. Re-ingesting an unchanged export adds nothing. Names, email,
  segment are cleaned as in dim_customers, so gold can show a customer as they were when an
  order came in (reporting_sales_wide joins the version valid when the order was ingested).
columns:
  full_name: first_name and last_name joined by a space (capitalised as in dim_customers).
  observed_at: When medallion ingested the export that showed this version.
  source_file: The export file that showed it (daily drops sort after the initial export).
  valid_from: When this version was first seen (observed_at).
  valid_to: When it was replaced; NULL for the current version.
  is_current: True for the customer's current version.
checks:
  - not_null: [customer_id, valid_from]
--- */
with trimmed as (
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
),

named as (
    -- "ALICE" / "alice" -> "Alice", as dim_customers does
    select
        customer_id,
        case
            when first_name in (upper(first_name), lower(first_name))
                then upper(substring(first_name, 1, 1)) || lower(substring(first_name, 2))
            else first_name
        end as first_name,
        case
            when last_name in (upper(last_name), lower(last_name))
                then upper(substring(last_name, 1, 1)) || lower(substring(last_name, 2))
            else last_name
        end as last_name,
        email,
        city,
        state,
        country,
        segment,
        observed_at,
        source_file
    from trimmed
)

select
    customer_id,
    first_name,
    last_name,
    concat_ws(' ', first_name, last_name) as full_name,
    email,
    city,
    state,
    country,
    segment,
    observed_at,
    source_file
from named
