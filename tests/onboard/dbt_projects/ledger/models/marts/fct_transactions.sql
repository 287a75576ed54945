{{
    config(
        materialized='incremental',
        unique_key='transaction_id'
    )
}}

select
    t.transaction_id,
    {{ money_utils.surrogate_key(['t.transaction_id', 't.account_id']) }} as transaction_key,
    t.account_id,
    a.currency,
    t.kind,
    t.amount,
    t.signed_amount,
    t.amount >= {{ var('large_amount') }} as is_large,
    cast(t.booked_at as date) as booked_on,
    {{ money_utils.month_of('t.booked_at') }} as booked_month,
    {{ dbt.datediff('a.opened_on', 't.booked_at', 'day') }} as days_since_opening,
    t.updated_at
from {{ ref('stg_transactions') }} as t
join {{ ref('stg_accounts') }} as a on a.account_id = t.account_id

{% if is_incremental() %}
where t.updated_at > (select max(updated_at) from {{ this }})
{% endif %}
