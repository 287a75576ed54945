select
    transaction_id,
    account_id,
    kind,
    {{ cents_to_dollars('amount_cents') }} as amount,
    {{ signed_amount('kind', cents_to_dollars('amount_cents')) }} as signed_amount,
    booked_at,
    updated_at
from {{ source('bank', 'transactions') }}
