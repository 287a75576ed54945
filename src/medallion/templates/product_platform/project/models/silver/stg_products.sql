/* ---
kind: merge                  # a product exported again (new price, new status) replaces its row
unique_key: product_id
description: >
  One row per product: the latest row of the ERP item master per product_id (by updated_at),
  with codes standardised and the text fields the ERP writes loosely typed (prices may carry a
  '$', dates a '/').
columns:
  product_id: Product key (the ERP item number).
  sku: Stock keeping unit, upper-cased and trimmed (e.g. BKY-00012).
  category: bakery, snacks, beverages, sauces, ready_meals or dairy (lower snake case).
  pack_size: Pack as sold (e.g. "800 g", "6 x 330 ml").
  list_price: Shelf price per unit, parsed from text ("$3.49" -> 3.49).
  standard_cost: The ERP's standard cost per unit (finance updates it once a year).
  shelf_life_days: Days from production to best-before; NULL when the ERP has none.
  is_perishable: True when shelf_life_days <= 30 (fresh and chilled goods).
  launch_date: First day on sale ("YYYY/MM/DD" is accepted too).
  status: active or discontinued.
  updated_at: When the ERP last changed the product.
expectations:
  parseable_list_price:
    expect: list_price > 0
    action: quarantine
    description: A product without a usable price cannot be sold or costed.
checks:
  - unique: product_id
  - not_null: [product_id, sku, product_name, category, list_price, status]
  - accepted_values:
      column: category
      values: [bakery, snacks, beverages, sauces, ready_meals, dairy]
  - accepted_values: {column: status, values: [active, discontinued]}
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by product_id
            order by updated_at desc, _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.products
    where product_id is not null
)

select
    product_id,
    upper(trim(sku)) as sku,
    trim(product_name) as product_name,
    lower(replace(trim(category), ' ', '_')) as category,
    trim(pack_size) as pack_size,
    try_cast(replace(trim(list_price), '$', '') as decimal(10, 2)) as list_price,
    standard_cost,
    shelf_life_days,
    shelf_life_days <= 30 as is_perishable,
    try_cast(replace(trim(launch_date), '/', '-') as date) as launch_date,
    lower(trim(status)) as status,
    updated_at
from ranked
where version_rank = 1
