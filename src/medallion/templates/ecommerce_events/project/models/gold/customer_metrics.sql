/* ---
kind: merge
unique_key: user_id
# the users whose events are new or changed are recomputed from all their events; the others
# keep their rows
incremental_inputs: [silver.events_cleaned]
description: >
  One row per user with activity counts, revenue, sessions, first and last activity, conversion
  rates and a behavioural segment, for CRM and marketing. Figures count a user's whole history.
columns:
  total_events: Events of the user (all types).
  views: Product views.
  cart_adds: Products added to the cart.
  cart_removals: Products removed from the cart.
  purchases: Purchase events (one per product bought).
  revenue: Sum of the price of the purchase events.
  sessions: Distinct sessions (events without a session id are not counted).
  products_viewed: Distinct products viewed.
  first_activity: Time of the user's first event.
  last_activity: Time of the user's latest event.
  view_to_cart_rate: cart_adds / views, exactly rounded half up to 4 decimals; NULL without views.
  cart_to_purchase_rate: >
    purchases / cart_adds, exactly rounded half up to 4 decimals; NULL without cart adds (can
    exceed 1: "buy now" purchases skip the cart).
  conversion_rate: purchases / views, exactly rounded half up to 4 decimals; NULL without views.
  avg_purchase_value: >
    revenue / purchases, exactly rounded half up to cents (0.29 / 2 is 0.15 on every engine);
    NULL without purchases.
  segment: >
    The first that applies: Champion (10+ purchases), Loyal (5-9), Potential Loyalist (2-4),
    New Customer (1), Cart Abandoner (added to the cart, never bought), Engaged Browser (more
    than 10 views, no cart), Visitor (everyone else).
checks:
  - unique: user_id
  - not_null: [user_id, segment, first_activity]
  - accepted_values:
      column: segment
      values:
        - Champion
        - Loyal
        - Potential Loyalist
        - New Customer
        - Cart Abandoner
        - Engaged Browser
        - Visitor
  - expression_is_true: purchases <= total_events and first_activity <= last_activity
  # every purchase of silver is in some customer's revenue, and nothing else
  - reconciliation:
      name: reconciliation_revenue
      expression: sum(revenue)
      equals:
        table: silver.events_cleaned
        expression: coalesce(sum(price), 0)
        where: event_type = 'purchase'
--- */
with per_user as (
    select
        user_id,
        count(*) as total_events,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'cart') as cart_adds,
        count(*) filter (where event_type = 'remove_from_cart') as cart_removals,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(price) filter (where event_type = 'purchase'), 0)::decimal(18, 2) as revenue,
        count(distinct user_session) as sessions,
        count(distinct product_id) filter (where event_type = 'view') as products_viewed,
        min(event_time) as first_activity,
        max(event_time) as last_activity
    from silver.events_cleaned
    group by user_id
)

select
    user_id,
    total_events,
    views,
    cart_adds,
    cart_removals,
    purchases,
    revenue,
    sessions,
    products_viewed,
    first_activity,
    last_activity,
    -- Exact on every engine (docs/engines.md): DuckDB's `/` divides even decimals as doubles
    -- (0.29 / 2 is 0.14499999...), Spark's exactly, so halves rounded differently. Each ratio
    -- is an integer division (`//` truncates toward zero everywhere) in units one digit finer
    -- than the result, rounded half away from zero as a decimal.
    round((cart_adds * 100000 // nullif(views, 0)) * 0.00001, 4)::double as view_to_cart_rate,
    round((purchases * 100000 // nullif(cart_adds, 0)) * 0.00001, 4)::double
        as cart_to_purchase_rate,
    round((purchases * 100000 // nullif(views, 0)) * 0.00001, 4)::double as conversion_rate,
    round((cast(revenue * 1000 as bigint) // nullif(purchases, 0)) * 0.001, 2)::decimal(18, 2)
        as avg_purchase_value,
    -- the order matters: buyers by purchase count first, then non-buyers by what they did
    case
        when purchases >= 10 then 'Champion'
        when purchases >= 5 then 'Loyal'
        when purchases >= 2 then 'Potential Loyalist'
        when purchases = 1 then 'New Customer'
        when cart_adds > 0 then 'Cart Abandoner'
        when views > 10 then 'Engaged Browser'
        else 'Visitor'
    end as segment
from per_user
