/* ---
kind: view
description: Order items with their product (intermediate layer, resolved at query time).
--- */
select
    i.order_item_id,
    i.order_id,
    i.product_id,
    p.product_name,
    p.category,
    i.quantity,
    i.unit_price,
    i.line_total,
    i.updated_at
from silver.stg_order_items as i
left join silver.stg_products as p on i.product_id = p.product_id
