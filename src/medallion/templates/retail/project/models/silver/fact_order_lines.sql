/* ---
kind: merge
unique_key: order_line_id
description: One row per order line (duplicates removed), with the line total after discount.
columns:
  order_line_id: Line key, the source system's text code (OL00001).
  gross_amount: quantity * unit_price.
  discount_amount: Discount on the line; a missing discount counts as 0.
  line_total: gross_amount - discount_amount.
expectations:
  positive_quantity: {expect: quantity > 0, action: quarantine}
  non_negative_amounts:
    expect: unit_price >= 0 and discount_amount >= 0 and line_total >= 0
    action: quarantine
checks:
  - unique: order_line_id
  - not_null: [order_id, product_id]
  - relationships: {column: product_id, to: silver.dim_products.product_id}
--- */
with latest as (
    select
        *,
        row_number() over (
            partition by order_line_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.order_lines
    where order_line_id is not null
)

select
    order_line_id,
    order_id,
    product_id,
    quantity,
    unit_price,
    coalesce(discount_amount, 0)::decimal(12, 2) as discount_amount,
    (quantity * unit_price)::decimal(14, 2) as gross_amount,
    (quantity * unit_price - coalesce(discount_amount, 0))::decimal(14, 2) as line_total
from latest
where version_rank = 1
