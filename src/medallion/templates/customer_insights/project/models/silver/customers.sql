/* ---
kind: merge                # SCD type 1: a customer's newest version replaces the old one
unique_key: customer_id
description: >
  One row per customer (the seed's silver_customers): the version with the latest updated_at
  of every customer in the CRM exports, with names, e-mail, country and the opt-in flag
  standardised. Incremental: each run merges the customers that appear in new files.
columns:
  customer_id: Customer key from the CRM.
  first_name: Trimmed; ALL-CAPS or all-lower names are capitalised, others kept as written.
  full_name: first_name and last_name joined by a space.
  email: Trimmed and lower-cased.
  city: Trimmed; NULL when missing.
  country: ISO 3166 alpha-2 code (US, GB, DE, FR, NL, CA) from the code or any of its spellings.
  signup_date: Day the customer signed up; NULL when missing or not a date.
  marketing_opt_in: Y/yes/true/1 -> true, N/no/false/0 -> false, anything else NULL.
  updated_at: When the CRM last changed the customer (the version kept).
expectations:
  valid_email:
    expect: regexp_matches(email, '^[^@\s]+@[^@\s]+\.[^@\s]+$')
    action: quarantine
    description: An address marketing can send to; others go to customers__quarantine.
checks:
  - unique: customer_id
  - not_null: [customer_id, email, country]
  - accepted_values: {column: country, values: [US, GB, DE, FR, NL, CA]}
--- */
with latest as (
    select
        *,
        -- the newest version wins; exact duplicate lines are interchangeable
        row_number() over (
            partition by customer_id
            order by try_cast(updated_at as timestamp) desc nulls last,
                _ingested_at desc, _source_file desc
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
        upper(trim(country)) as country_text,
        try_cast(trim(signup_date) as date) as signup_date,
        lower(trim(marketing_opt_in)) as opt_in_text,
        try_cast(updated_at as timestamp) as updated_at
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
        country_text,
        signup_date,
        opt_in_text,
        updated_at
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
    case
        when country_text in ('US', 'USA', 'UNITED STATES', 'UNITED STATES OF AMERICA') then 'US'
        when country_text in ('GB', 'UK', 'UNITED KINGDOM', 'GREAT BRITAIN') then 'GB'
        when country_text in ('DE', 'GERMANY', 'DEUTSCHLAND') then 'DE'
        when country_text in ('FR', 'FRANCE') then 'FR'
        when country_text in ('NL', 'NETHERLANDS', 'THE NETHERLANDS', 'HOLLAND') then 'NL'
        when country_text in ('CA', 'CANADA') then 'CA'
    end as country,
    signup_date,
    case
        when opt_in_text in ('y', 'yes', 'true', '1') then true
        when opt_in_text in ('n', 'no', 'false', '0') then false
    end as marketing_opt_in,
    updated_at
from named
