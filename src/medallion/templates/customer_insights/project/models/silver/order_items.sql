/* ---
kind: merge
unique_key: [order_id, line_number]
description: >
  One row per order line: the items nested in the latest version of each order, unnested, with
  the line's revenue. Lines with a quantity of zero or less, a missing price or a discount larger
  than the line are quarantined (order_items__quarantine) and count in no revenue.
columns:
  line_number: Position of the item in the order's items list (1, 2, ...).
  quantity: Units ordered.
  unit_price: Price per unit charged (list price, or a promotional price).
  discount: Discount on the line; missing counts as 0.
  gross_amount: quantity * unit_price.
  line_revenue: gross_amount - discount; what the line earns.
expectations:
  positive_quantity: {expect: quantity > 0, action: quarantine}
  has_price: {expect: unit_price >= 0, action: quarantine}
  valid_discount: {expect: discount between 0 and gross_amount, action: quarantine}
checks:
  - unique: [order_id, line_number]
  - not_null: [order_id, product_id]
  # products missing from the catalogue: reported, and shown as 'Unknown' in product_metrics
  - relationships: {column: product_id, to: silver.products.product_id}
    severity: warn
--- */
with latest as (
    select
        order_id,
        items,
        row_number() over (
            partition by order_id
            order by try_cast(updated_at as timestamp) desc nulls last,
                _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.orders
    where order_id is not null
),

lines as (
    select
        l.order_id,
        i.line_number,
        -- each field cast to its type (as bronze.orders declares it): the model then compiles
        -- for engines that hold nested values untyped (jsonb in PostgreSQL, VARIANT in Snowflake)
        cast(i.item.product_id as bigint) as product_id,
        cast(i.item.quantity as integer) as quantity,
        cast(i.item.unit_price as decimal(12, 2)) as unit_price,
        coalesce(cast(i.item.discount as decimal(12, 2)), 0)::decimal(12, 2) as discount
    from latest as l,
        unnest(l.items) with ordinality as i (item, line_number)
    where l.version_rank = 1
)

select
    order_id,
    line_number::integer as line_number,
    product_id,
    quantity,
    unit_price,
    discount,
    (quantity * unit_price)::decimal(14, 2) as gross_amount,
    (quantity * unit_price - discount)::decimal(14, 2) as line_revenue
from lines
