select order_id, customer_id, upper(status) as status, amount
from {{ ref('raw_orders') }}
