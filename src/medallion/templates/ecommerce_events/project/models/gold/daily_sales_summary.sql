/* ---
kind: incremental_by_time  # only the days with new or changed events are recomputed
time_column: event_date
incremental_inputs: [silver.events_cleaned]
description: >
  One row per day (UTC) for the executive dashboard: traffic, funnel counts, sales and
  conversion. A late event recomputes its own day, whenever it arrives.
columns:
  event_date: Calendar day (UTC).
  total_events: Events of the day.
  active_users: Distinct users with an event that day.
  sessions: Distinct sessions (events without a session id are not counted).
  views: Product views.
  cart_adds: Cart adds.
  cart_removals: Cart removals.
  purchases: Purchase events (one per product bought).
  buyers: Distinct users who bought something that day.
  revenue: Sum of the purchase prices.
  avg_purchase_value: revenue / purchases, exactly rounded half up to cents; NULL without purchases.
  revenue_per_user: revenue / active_users, exactly rounded half up to cents.
  buyer_conversion_rate: buyers / active_users, exactly rounded half up to 4 decimals.
  view_to_purchase_rate: >
    purchases / views, exactly rounded half up to 4 decimals; NULL without views.
checks:
  - unique: event_date
  - not_null: [event_date, total_events, revenue]
  - expression_is_true: buyers <= active_users and revenue >= 0
  - reconciliation:
      name: reconciliation_revenue
      expression: sum(revenue)
      equals:
        table: silver.events_cleaned
        expression: coalesce(sum(price), 0)
        where: event_type = 'purchase'
  - reconciliation:
      name: reconciliation_events
      expression: sum(total_events)
      equals: {table: silver.events_cleaned, expression: count(*)}
--- */
select
    event_date,
    count(*) as total_events,
    count(distinct user_id) as active_users,
    count(distinct user_session) as sessions,
    count(*) filter (where event_type = 'view') as views,
    count(*) filter (where event_type = 'cart') as cart_adds,
    count(*) filter (where event_type = 'remove_from_cart') as cart_removals,
    count(*) filter (where event_type = 'purchase') as purchases,
    count(distinct user_id) filter (where event_type = 'purchase') as buyers,
    coalesce(sum(price) filter (where event_type = 'purchase'), 0)::decimal(18, 2) as revenue,
    -- averages and rates exact on every engine (as customer_metrics, docs/engines.md): integer
    -- divisions in units one digit finer than the result, rounded half away from zero
    round(
        (
            cast(sum(price) filter (where event_type = 'purchase') * 1000 as bigint)
            // nullif(count(*) filter (where event_type = 'purchase'), 0)
        ) * 0.001,
        2
    )::decimal(18, 2) as avg_purchase_value,
    round(
        (
            cast(coalesce(sum(price) filter (where event_type = 'purchase'), 0) * 1000 as bigint)
            // count(distinct user_id)
        ) * 0.001,
        2
    )::decimal(18, 2) as revenue_per_user,
    round(
        (
            count(distinct user_id) filter (where event_type = 'purchase') * 100000
            // count(distinct user_id)
        ) * 0.00001,
        4
    )::double as buyer_conversion_rate,
    round(
        (
            count(*) filter (where event_type = 'purchase') * 100000
            // nullif(count(*) filter (where event_type = 'view'), 0)
        ) * 0.00001,
        4
    )::double as view_to_purchase_rate
from silver.events_cleaned
group by event_date
