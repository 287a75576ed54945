select
    a.account_id,
    a.owner_name,
    a.currency,
    count(f.transaction_id) as transactions,
    coalesce(sum(f.signed_amount), 0) as balance,
    {{ cents_to_dollars('sum(case when f.is_large then 100 else 0 end)', scale=0) }} as large_transactions
from {{ ref('stg_accounts') }} as a
left join {{ ref('fct_transactions') }} as f on f.account_id = a.account_id
group by a.account_id, a.owner_name, a.currency
