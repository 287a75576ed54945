/* ---
kind: merge
unique_key: payment_id
description: One row per payment attempt (duplicates removed), with parsed timestamps.
columns:
  payment_ts: When the payment was made (parsed from payment_date).
  payment_date: The calendar day of payment_ts.
  is_successful: payment_status is 'completed' and the amount is positive.
expectations:
  parseable_payment_date: {expect: payment_ts is not null, action: quarantine}
  non_negative_amount: {expect: payment_amount >= 0, action: quarantine}
checks:
  - unique: payment_id
  - accepted_values:
      column: payment_status
      values: [completed, failed, declined, refunded, pending]
--- */
with latest as (
    select
        *,
        row_number() over (
            partition by payment_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.payments
    where payment_id is not null
),

parsed as (
    select
        payment_id,
        order_id,
        try_cast(trim(payment_date) as timestamp) as payment_ts,
        lower(trim(payment_method)) as payment_method,
        lower(trim(payment_status)) as payment_status,
        payment_amount
    from latest
    where version_rank = 1
)

select
    payment_id,
    order_id,
    payment_ts,
    payment_ts::date as payment_date,
    payment_method,
    payment_status,
    payment_amount,
    payment_status = 'completed' and payment_amount > 0 as is_successful
from parsed
