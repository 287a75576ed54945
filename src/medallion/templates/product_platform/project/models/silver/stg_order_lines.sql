/* ---
kind: merge
unique_key: order_line_id
description: >
  One row per order line (duplicates removed), with prices as exact decimals and the line's
  amounts: gross = quantity * unit_price, discount = gross * discount_pct / 100 rounded to cents,
  net = gross - discount.
columns:
  order_line_id: Order line key.
  line_number: Position of the line in its order.
  quantity: Units ordered.
  unit_price: >
    Price per unit charged (the order platform exports a double; its decimal value rounded half
    up to cents, the same on every engine).
  discount_pct: >
    Line discount in percent (customer tier or promotion), rounded half up to 2 decimals; 0 when
    missing.
  gross_amount: quantity * unit_price.
  discount_amount: gross_amount * discount_pct / 100, rounded half up to cents.
  net_amount: gross_amount - discount_amount (the revenue of the line).
expectations:
  positive_quantity: {expect: quantity > 0, action: quarantine}
  has_unit_price: {expect: unit_price is not null and unit_price >= 0, action: quarantine}
  valid_discount: {expect: discount_pct between 0 and 100, action: quarantine}
checks:
  - unique: order_line_id
  - not_null: [order_line_id, order_id, product_id, net_amount]
  - relationships: {column: product_id, to: silver.stg_products.product_id}
  # lines of orders that silver quarantined (an order time that is not a time)
  - relationships: {column: order_id, to: silver.stg_orders.order_id}
    severity: warn
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by order_line_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.order_lines
    where order_line_id is not null
),

typed as (
    select
        order_line_id,
        order_id,
        line_number,
        product_id,
        quantity,
        -- the export's doubles read as 6-place decimals first, then rounded half up: DuckDB
        -- casts a double's binary value (0.145 is 0.14499999... -> 0.14), Spark its decimal
        -- text (0.15); at 6 places both read the text's value (docs/engines.md)
        cast(cast(unit_price as decimal(18, 6)) as decimal(10, 2)) as unit_price,
        cast(cast(coalesce(discount_pct, 0) as decimal(18, 6)) as decimal(5, 2)) as discount_pct
    from ranked
    where version_rank = 1
),

amounts as (
    select
        *,
        cast(quantity * unit_price as decimal(14, 2)) as gross_amount,
        -- "* 0.01" keeps exact decimal arithmetic (a division would turn it into a double)
        cast(round(quantity * unit_price * discount_pct * 0.01, 2) as decimal(14, 2))
            as discount_amount
    from typed
)

select
    order_line_id,
    order_id,
    line_number,
    product_id,
    quantity,
    unit_price,
    discount_pct,
    gross_amount,
    discount_amount,
    cast(gross_amount - discount_amount as decimal(14, 2)) as net_amount
from amounts
