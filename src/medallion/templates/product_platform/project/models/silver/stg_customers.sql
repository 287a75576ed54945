/* ---
kind: merge                  # SCD type 1: a customer exported again replaces its row
unique_key: customer_id
description: >
  One row per customer (consumers and business accounts): the latest CRM row per customer_id,
  trimmed, codes lower-cased, countries standardised to ISO codes.
columns:
  customer_id: Customer key (the CRM id).
  customer_name: Person or company name, trimmed.
  customer_type: consumer, retailer, wholesale or food_service; 'unknown' when the CRM has none.
  email: Lower-cased and trimmed.
  has_valid_email: True when email looks like an address marketing can send to.
  country: ISO code (US, CA, GB); "USA" / "United States" / "us" are mapped.
  signup_date: Account creation day ("YYYY/MM/DD" is accepted too).
expectations:
  # a business account with a mistyped address still buys: kept, counted, and flagged in
  # has_valid_email so marketing leaves it out
  valid_email:
    expect: has_valid_email
    action: warn
checks:
  - unique: customer_id
  - not_null: [customer_id, customer_name, customer_type, country]
  - accepted_values:
      column: customer_type
      values: [consumer, retailer, wholesale, food_service, unknown]
  - accepted_values: {column: country, values: [US, CA, GB]}
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.customers
    where customer_id is not null
),

cleaned as (
    select
        customer_id,
        trim(customer_name) as customer_name,
        coalesce(nullif(lower(trim(customer_type)), ''), 'unknown') as customer_type,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(city), '') as city,
        nullif(upper(trim(state)), '') as state,
        case
            when upper(trim(country)) in ('US', 'USA', 'UNITED STATES') then 'US'
            else upper(trim(country))
        end as country,
        try_cast(replace(trim(signup_date), '/', '-') as date) as signup_date,
        updated_at
    from ranked
    where version_rank = 1
)

select
    customer_id,
    customer_name,
    customer_type,
    email,
    coalesce(regexp_matches(email, '^[^@\s]+@[^@\s]+\.[^@\s]+$'), false) as has_valid_email,
    phone,
    city,
    state,
    country,
    signup_date,
    updated_at
from cleaned
