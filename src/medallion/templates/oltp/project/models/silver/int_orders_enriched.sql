/* ---
kind: view
description: Orders with their customer (intermediate layer, resolved at query time).
--- */
select
    o.order_id,
    o.order_date,
    o.status,
    o.total_amount,
    o.shipping_address,
    o.customer_id,
    c.customer_name,
    c.email as customer_email,
    o.updated_at
from silver.stg_orders as o
left join silver.stg_customers as c on o.customer_id = c.customer_id
