{{
    config(
        materialized='incremental',
        unique_key='transaction_id'
    )
}}

select
    t.transaction_id,
    t.account_id,
    a.currency,
    t.kind,
    t.amount,
    t.signed_amount,
    t.amount >= {{ var('large_amount') }} as is_large,
    cast(t.booked_at as date) as booked_on,
    t.updated_at
from {{ ref('stg_transactions') }} as t
join {{ ref('stg_accounts') }} as a on a.account_id = t.account_id

{% if is_incremental() %}
where t.updated_at > (select max(updated_at) from {{ this }})
{% endif %}
