/* ---
kind: merge
unique_key: payment_id
description: >
  One row per payment (duplicates removed), codes upper-cased and trimmed. A payment of 0 is
  kept (the source system has them); a negative one is set aside.
columns:
  payment_id: Payment key, the source system's text code (PAY0001).
  payment_date: Day of the payment (parsed from the source's YYYY-MM-DD text).
  payment_method: CARD, CASH, UPI or PAYPAL.
  payment_status: SUCCESS, FAILED or PENDING.
  is_successful: payment_status is SUCCESS and the amount is positive.
expectations:
  parseable_payment_date: {expect: payment_date is not null, action: quarantine}
  non_negative_amount: {expect: payment_amount >= 0, action: quarantine}
checks:
  - unique: payment_id
  - accepted_values: {column: payment_status, values: [SUCCESS, FAILED, PENDING]}
  - accepted_values: {column: payment_method, values: [CARD, CASH, UPI, PAYPAL]}
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
        try_cast(trim(payment_date) as date) as payment_date,
        upper(trim(payment_method)) as payment_method,
        upper(trim(payment_status)) as payment_status,
        payment_amount
    from latest
    where version_rank = 1
)

select
    payment_id,
    order_id,
    payment_date,
    payment_method,
    payment_status,
    payment_amount,
    payment_status = 'SUCCESS' and payment_amount > 0 as is_successful
from parsed
