/* ---
kind: merge
# One row per event. The key is a hash of what identifies an event (time, type, product, user,
# session), so an event delivered twice - in one file, in the next hour's file, or days later in
# another drop - is one row, across runs too. event_date leads the key: the table is partitioned
# by it, and a merge then rewrites only the days the new rows fall on.
unique_key: [event_date, event_id]
# Which rows a run recomputes: those whose event_time appears among the new bronze rows. Bronze
# files hold consecutive hours, so the scan is restricted to a narrow time range (row groups
# outside it are skipped) instead of reading all of bronze; a repeated event has the same
# event_time as its first copy, so both copies meet here and the merge keeps one.
incremental_inputs:
  bronze.events_raw: event_time
# of several copies of one event, the last delivered wins (a later run, then a later file)
order_by: [_ingested_at, _source_file]
partition_by: [event_date]
description: >
  Every behaviour event once: event types, brands and category codes normalised (trimmed,
  lower-case), derived calendar columns and the top-level category, duplicates removed (they are
  counted as dropped rows of the step). Rows breaking a rule - an unknown event type, a price
  outside 0..100,000, a zero product or user id - go to silver.events_cleaned__quarantine with
  the names of the rules they broke: the Databricks pipeline's events_quarantine (`medallion
  quarantine show events_cleaned`; `medallion quarantine replay events_cleaned` after a fix).
columns:
  event_id: >
    First 16 hex digits of the MD5 of event_time, event_type, product_id, user_id and
    user_session: the same event always gets the same id.
  event_time: When the event happened (UTC).
  event_date: Calendar day of event_time (UTC); the table's partition column.
  event_hour: Hour of the day of event_time (0-23, UTC).
  event_type: view, cart, remove_from_cart or purchase (trimmed, lower-case).
  product_id: Product id (> 0).
  category_id: Category id from the shop's taxonomy.
  category_code: Dotted category path (electronics.smartphone), trimmed and lower-case; NULL
    when the shop has no code for the category.
  category_l1: First part of category_code (electronics); NULL when there is no code.
  brand: Brand, trimmed and lower-case; NULL when missing.
  price: Product price at the time of the event (0 to 100,000).
  user_id: User id (> 0).
  user_session: Session id (a UUID); NULL when the tracker lost it.
  _source_file: The landed file the row was read from (the last delivered copy).
  _ingested_at: When that file was ingested.
expectations:
  known_event_type:
    expect: event_type in ('view', 'cart', 'remove_from_cart', 'purchase')
    action: quarantine
    description: The four event types of the funnel; anything else is a tracker bug.
  price_in_range:
    expect: price between 0 and 100000
    action: quarantine
    description: Negative prices (refunds logged as events) and absurd ones (cents as units).
  valid_product_id: {expect: product_id > 0, action: quarantine}
  valid_user_id: {expect: user_id > 0, action: quarantine}
checks:
  - unique: event_id
  - not_null: [event_id, event_time, event_date, product_id, user_id]
  - accepted_values:
      column: event_type
      values: [view, cart, remove_from_cart, purchase]
--- */
with normalised as (
    select
        event_time,
        nullif(lower(trim(event_type)), '') as event_type,
        product_id,
        category_id,
        nullif(lower(trim(category_code)), '') as category_code,
        nullif(lower(trim(brand)), '') as brand,
        price,
        user_id,
        nullif(trim(user_session), '') as user_session,
        _source_file,
        _ingested_at
    from bronze.events_raw
)

select
    left(
        md5(
            concat_ws(
                '|',
                strftime(event_time, '%Y-%m-%d %H:%M:%S'),
                coalesce(event_type, ''),
                coalesce(product_id::varchar, ''),
                coalesce(user_id::varchar, ''),
                coalesce(user_session, '')
            )
        ),
        16
    ) as event_id,
    event_time,
    event_time::date as event_date,
    hour(event_time)::integer as event_hour,
    event_type,
    product_id,
    category_id,
    category_code,
    split_part(category_code, '.', 1) as category_l1,
    brand,
    price,
    user_id,
    user_session,
    _source_file,
    _ingested_at
from normalised
