select
    account_id,
    owner as owner_name,
    upper(currency) as currency,
    opened_on
from {{ ref('accounts') }}
