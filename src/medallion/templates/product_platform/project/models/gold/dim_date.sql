/* ---
kind: table                  # a few hundred rows: rebuilt whole when a dated input changes
description: >
  The calendar: one row per day from the first day of the month of the earliest date in the
  data (orders, shipments, returns, waste, inspections) to the last day of the month of the
  latest one, so every fact's date key finds its day and BI tools can show empty days too.
columns:
  date_key: yyyymmdd as an integer (the key the facts use).
  date_day: The date.
  quarter: 1-4.
  month_name: January ... December.
  year_month: yyyy-mm, for monthly grouping.
  month_start: First day of the month.
  iso_week: ISO week number (1-53).
  day_of_week: ISO day of the week, 1 = Monday ... 7 = Sunday.
  day_name: Monday ... Sunday.
  is_weekend: Saturday or Sunday.
checks:
  - unique: date_key
  - not_null: [date_key, date_day]
  - expression_is_true: day_of_week between 1 and 7
--- */
with dates as (
    select order_date as day_value from silver.stg_orders
    union all
    select shipped_date from silver.stg_shipments
    union all
    select delivered_date from silver.stg_shipments
    union all
    select return_date from silver.stg_returns
    union all
    select waste_date from silver.stg_waste
    union all
    select inspection_date from silver.stg_quality_inspections
),

bounds as (
    select
        cast(date_trunc('month', cast(min(day_value) as date)) as date) as first_day,
        cast(date_trunc('month', cast(max(day_value) as date)) + interval 1 month - interval 1 day as date)
            as last_day
    from dates
),

-- the days from first_day to last_day: an offset of 0 to 99,999 days (273 years) from five
-- digit tables, not generate_series(), which has no translation for Spark, BigQuery or
-- Snowflake (`medallion compile`)
digits as (
    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

offsets as (
    select a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d as n
    from digits as a, digits as b, digits as c, digits as e, digits as f
),

calendar as (
    select cast(bounds.first_day + offsets.n as date) as date_day
    from bounds, offsets
    where bounds.first_day + offsets.n <= bounds.last_day
)

select
    cast(strftime(date_day, '%Y%m%d') as integer) as date_key,
    date_day,
    extract(year from date_day) as year,
    extract(quarter from date_day) as quarter,
    extract(month from date_day) as month,
    strftime(date_day, '%B') as month_name,
    strftime(date_day, '%Y-%m') as year_month,
    -- the inner cast tells SQLGlot the type: BigQuery truncates a DATE with DATE_TRUNC
    cast(date_trunc('month', cast(date_day as date)) as date) as month_start,
    extract(week from date_day) as iso_week,
    extract(day from date_day) as day_of_month,
    extract(isodow from date_day) as day_of_week,
    strftime(date_day, '%A') as day_name,
    extract(isodow from date_day) >= 6 as is_weekend
from calendar
