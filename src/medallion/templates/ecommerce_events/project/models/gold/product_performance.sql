/* ---
kind: merge
unique_key: product_id
# products with new or changed events are recomputed from all their events
incremental_inputs: [silver.events_cleaned]
description: >
  One row per product with its funnel (views, cart adds, purchases), revenue and conversion, for
  merchandising. Category and brand are the latest the product's events showed.
columns:
  category_code: Latest non-empty category code of the product's events.
  category_l1: Top-level category of category_code.
  brand: Latest non-empty brand of the product's events.
  views: Views of the product.
  cart_adds: Times it was added to a cart.
  cart_removals: Times it was removed from a cart.
  purchases: Times it was bought.
  revenue: Sum of the purchase prices.
  unique_viewers: Distinct users who viewed it.
  unique_buyers: Distinct users who bought it.
  avg_purchase_price: revenue / purchases, exactly rounded half up to cents; NULL without purchases.
  view_to_cart_rate: cart_adds / views, exactly rounded half up to 4 decimals; NULL without views.
  view_to_purchase_rate: >
    purchases / views (the product's conversion), exactly rounded half up to 4 decimals; NULL
    without views.
  first_seen: Time of the product's first event.
  last_seen: Time of its latest event.
checks:
  - unique: product_id
  - not_null: [product_id, views, purchases]
  - expression_is_true: revenue >= 0 and purchases <= views + cart_adds + purchases
  - reconciliation:
      name: reconciliation_revenue
      expression: sum(revenue)
      equals:
        table: silver.events_cleaned
        expression: coalesce(sum(price), 0)
        where: event_type = 'purchase'
--- */
with per_product as (
    select
        product_id,
        arg_max(category_id, event_time) as category_id,
        arg_max(category_code, event_time) filter (where category_code is not null)
            as category_code,
        arg_max(brand, event_time) filter (where brand is not null) as brand,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'cart') as cart_adds,
        count(*) filter (where event_type = 'remove_from_cart') as cart_removals,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(price) filter (where event_type = 'purchase'), 0)::decimal(18, 2) as revenue,
        count(distinct user_id) filter (where event_type = 'view') as unique_viewers,
        count(distinct user_id) filter (where event_type = 'purchase') as unique_buyers,
        min(event_time) as first_seen,
        max(event_time) as last_seen
    from silver.events_cleaned
    group by product_id
)

select
    product_id,
    category_id,
    category_code,
    split_part(category_code, '.', 1) as category_l1,
    brand,
    views,
    cart_adds,
    cart_removals,
    purchases,
    revenue,
    unique_viewers,
    unique_buyers,
    -- exact on every engine (as customer_metrics, docs/engines.md): integer divisions in units
    -- one digit finer than the result, rounded half away from zero as decimals
    round((cast(revenue * 1000 as bigint) // nullif(purchases, 0)) * 0.001, 2)::decimal(18, 2)
        as avg_purchase_price,
    round((cart_adds * 100000 // nullif(views, 0)) * 0.00001, 4)::double as view_to_cart_rate,
    round((purchases * 100000 // nullif(views, 0)) * 0.00001, 4)::double as view_to_purchase_rate,
    first_seen,
    last_seen
from per_product
