/* ---
kind: merge                # SCD type 1: a changed customer replaces its row
unique_key: customer_id
description: >
  One row per customer_id: the most recently ingested version of each customer, with names
  trimmed and capitalised, email lower-cased and blanks turned into NULL. Incremental: each run
  merges the customers that appear in new files (the history is in customers_history).
columns:
  customer_id: Customer key, the source system's text code (CUST0001).
  first_name: Trimmed; ALL-CAPS or all-lower names are capitalised, others kept as written.
  full_name: first_name and last_name joined by a space.
  email: Trimmed and lower-cased.
  segment: Retail, Corporate or SME, spelled as the source system does whatever the case or
    spaces of the export; 'Unknown' when missing (any other value fails the check).
expectations:
  valid_email:
    expect: regexp_matches(email, '^[^@\s]+@[^@\s]+\.[^@\s]+$')
    action: quarantine
    description: An address marketing can send to; others go to dim_customers__quarantine.
checks:
  - unique: customer_id
  - not_null: [customer_id, email]
  - accepted_values: {column: segment, values: [Retail, Corporate, SME, Unknown]}
--- */
with latest as (
    select
        *,
        row_number() over (
            partition by customer_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.customers
    where customer_id is not null
),

trimmed as (
    select
        customer_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(city), '') as city,
        nullif(trim(state), '') as state,
        nullif(upper(trim(country)), '') as country,
        case upper(trim(segment))
            when 'RETAIL' then 'Retail'
            when 'CORPORATE' then 'Corporate'
            when 'SME' then 'SME'
            when '' then 'Unknown'
            else coalesce(trim(segment), 'Unknown')
        end as segment
    from latest
    where version_rank = 1
),

named as (
    -- "ALICE" / "alice" -> "Alice"; mixed case such as "McDonald" is kept as written. (Columns
    -- listed and substring(), not `* replace` and x[1]: the model compiles for other engines.)
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
        phone,
        city,
        state,
        country,
        segment
    from trimmed
)

select
    customer_id,
    first_name,
    last_name,
    concat_ws(' ', first_name, last_name) as full_name,
    email,
    phone,
    city,
    state,
    country,
    segment
from named
