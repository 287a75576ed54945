/* ---
kind: merge                  # SCD type 1, as the seed's marts: a changed customer replaces its row
unique_key: customer_id
incremental_inputs: {silver.stg_customers: customer_id}
description: >
  One row per customer with its segment attributes. Business accounts (retailers, wholesalers,
  food service) and consumers share the dimension; is_business tells them apart.
columns:
  customer_id: Customer key.
  customer_type: consumer, retailer, wholesale, food_service or unknown.
  is_business: True for retailer, wholesale and food_service accounts.
  region: North America (US, CA) or Europe (GB).
  signup_month: First day of the month the account was created (acquisition cohort).
checks:
  - unique: customer_id
  - not_null: [customer_id, customer_name, customer_type, region]
  - accepted_values: {column: region, values: [North America, Europe]}
--- */
select
    customer_id,
    customer_name,
    customer_type,
    customer_type in ('retailer', 'wholesale', 'food_service') as is_business,
    email,
    has_valid_email,
    phone,
    city,
    state,
    country,
    case when country in ('US', 'CA') then 'North America' else 'Europe' end as region,
    signup_date,
    cast(date_trunc('month', cast(signup_date as date)) as date) as signup_month
from silver.stg_customers
