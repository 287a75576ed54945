/* ---
kind: incremental_by_time  # only the days with new or changed events are recomputed
time_column: event_date
incremental_inputs: [silver.events_cleaned]
description: >
  The purchase funnel per day and top-level category, for the growth team and ML features: how
  many sessions (and users) viewed, added to the cart and bought, the step rates, and how many
  carts were abandoned. A session counts in a category on a day when it has an event of that
  category that day (a session crossing midnight counts on both days); events without a
  category code count under 'unknown'.
columns:
  event_date: Calendar day (UTC).
  category_l1: Top-level category ('unknown' when the events have no category code).
  sessions: Sessions with an event in the category that day (events without a session id are
    counted in the user columns only).
  sessions_with_view: Sessions that viewed a product of the category.
  sessions_with_cart: Sessions that added one to the cart.
  sessions_with_purchase: Sessions that bought one.
  users: Distinct users with an event in the category that day.
  users_with_view: Users who viewed.
  users_with_cart: Users who added to the cart.
  users_with_purchase: Users who bought.
  view_to_cart_rate: sessions_with_cart / sessions_with_view, exactly rounded half up to 4 decimals; NULL without views.
  cart_to_purchase_rate: sessions_with_purchase / sessions_with_cart, exactly rounded half up to 4 decimals; NULL without carts.
  view_to_purchase_rate: sessions_with_purchase / sessions_with_view, exactly rounded half up to 4 decimals; NULL without views.
  abandoned_carts: Sessions that added to the cart but bought nothing in the category that day.
  cart_abandonment_rate: abandoned_carts / sessions_with_cart, exactly rounded half up to 4 decimals; NULL without carts.
checks:
  - unique: [event_date, category_l1]
  - not_null: [event_date, category_l1, users]
  - expression_is_true: >
      sessions_with_cart <= sessions and sessions_with_purchase <= sessions
      and abandoned_carts <= sessions_with_cart and users_with_purchase <= users
--- */
with events as (
    select
        event_date,
        coalesce(category_l1, 'unknown') as category_l1,
        user_id,
        user_session,
        event_type
    from silver.events_cleaned
),

per_session as (
    select
        event_date,
        category_l1,
        user_session,
        bool_or(event_type = 'view') as viewed,
        bool_or(event_type = 'cart') as carted,
        bool_or(event_type = 'purchase') as purchased
    from events
    where user_session is not null
    group by event_date, category_l1, user_session
),

per_user as (
    select
        event_date,
        category_l1,
        user_id,
        bool_or(event_type = 'view') as viewed,
        bool_or(event_type = 'cart') as carted,
        bool_or(event_type = 'purchase') as purchased
    from events
    group by event_date, category_l1, user_id
),

sessions as (
    select
        event_date,
        category_l1,
        count(*) as sessions,
        count(*) filter (where viewed) as sessions_with_view,
        count(*) filter (where carted) as sessions_with_cart,
        count(*) filter (where purchased) as sessions_with_purchase,
        count(*) filter (where carted and not purchased) as abandoned_carts
    from per_session
    group by event_date, category_l1
),

users as (
    select
        event_date,
        category_l1,
        count(*) as users,
        count(*) filter (where viewed) as users_with_view,
        count(*) filter (where carted) as users_with_cart,
        count(*) filter (where purchased) as users_with_purchase
    from per_user
    group by event_date, category_l1
)

select
    u.event_date,
    u.category_l1,
    coalesce(s.sessions, 0) as sessions,
    coalesce(s.sessions_with_view, 0) as sessions_with_view,
    coalesce(s.sessions_with_cart, 0) as sessions_with_cart,
    coalesce(s.sessions_with_purchase, 0) as sessions_with_purchase,
    u.users,
    u.users_with_view,
    u.users_with_cart,
    u.users_with_purchase,
    -- the rates exact on every engine (as customer_metrics, docs/engines.md): integer divisions
    -- in units of 0.00001, rounded half away from zero to 4 decimals
    round((s.sessions_with_cart * 100000 // nullif(s.sessions_with_view, 0)) * 0.00001, 4)::double
        as view_to_cart_rate,
    round((s.sessions_with_purchase * 100000 // nullif(s.sessions_with_cart, 0)) * 0.00001, 4)
        ::double as cart_to_purchase_rate,
    round((s.sessions_with_purchase * 100000 // nullif(s.sessions_with_view, 0)) * 0.00001, 4)
        ::double as view_to_purchase_rate,
    coalesce(s.abandoned_carts, 0) as abandoned_carts,
    round((s.abandoned_carts * 100000 // nullif(s.sessions_with_cart, 0)) * 0.00001, 4)::double
        as cart_abandonment_rate
from users as u
left join sessions as s
    on u.event_date = s.event_date and u.category_l1 = s.category_l1
