/* ---
kind: table                # recency moves for every customer each day: rebuilt whole
description: >
  RFM segmentation (the seed's customer_segments): one row per customer of silver.customers with
  at least one sale (is_sale), scored on Recency, Frequency and Monetary value and put in a
  named segment for marketing and CRM.

  As-of date. Recency is measured against as_of_date = the latest order date among all sales +
  1 day, not against today's date: the data decide "now", so a re-run on the same data gives the
  same table, results can be tested, and a backfill scores customers as they were.

  Measures (sales only: cancelled and returned orders do not count).
    recency_days = as_of_date - the customer's last sale date (1 = bought on the last day).
    frequency    = number of sales.
    monetary     = sum of their order_revenue (after discounts, without shipping).

  Scores 1-5 by quintile of the scored customers. score = least(5, 1 + floor(5 *
  percent_rank())), ordering by recency_days descending (the longest-ago buyer scores 1, the most
  recent 5) and by frequency / monetary ascending. percent_rank is the share of the other
  customers with a strictly lower position, so a score of 5 means "ahead of at least 80 % of
  the others", and customers with equal values always get the same score (unlike ntile, which
  would split, say, all one-time buyers across two scores by an arbitrary order). With a single
  customer every score is 1.

  Segments: the first matching rule wins (R, F, M = the scores); every combination lands in one.
    Champions           R >= 4 and F >= 4 and M >= 4  bought recently, often, and spend the most
    Loyal Customers     R >= 3 and F >= 4             buy often, recently enough
    Potential Loyalists R >= 4 and F in (2, 3)        recent, a few orders: could become loyal
    New Customers       R >= 4 and F = 1              recent first-time buyers
    Need Attention      R = 3                         average recency, not (yet) frequent
    At Risk             R <= 2 and F >= 3             used to buy often, not lately
    Hibernating         R = 2                         few orders, a while ago
    Lost                R = 1                         few orders, long ago
columns:
  customer_id: Customer key (silver.customers).
  first_order_date: Day of the customer's first sale.
  last_order_date: Day of the customer's latest sale.
  as_of_date: The latest sale date in the data + 1 day (the same for every row).
  recency_days: as_of_date - last_order_date, in days (>= 1).
  frequency: Number of sales.
  monetary: Sum of the sales' order_revenue.
  avg_order_value: monetary / frequency, exactly rounded half up to cents (a double).
  r_score: Recency score 1-5 (5 = most recent).
  f_score: Frequency score 1-5 (5 = most orders).
  m_score: Monetary score 1-5 (5 = highest spend).
  rfm_cell: The three scores as text, e.g. '545'.
  segment: Named segment (rules in the description).
checks:
  - unique: customer_id
  - not_null: [customer_id, segment, as_of_date]
  - expression_is_true: r_score between 1 and 5 and f_score between 1 and 5 and m_score between 1 and 5
  - expression_is_true: recency_days >= 1 and frequency >= 1
  - accepted_values:
      column: segment
      values:
        - Champions
        - Loyal Customers
        - Potential Loyalists
        - New Customers
        - Need Attention
        - At Risk
        - Hibernating
        - Lost
  - relationships: {column: customer_id, to: silver.customers.customer_id}
--- */
with sales as (
    select
        customer_id,
        order_date,
        order_revenue
    from silver.orders
    where is_sale
),

as_of as (
    -- "now" for recency: the day after the latest sale in the data (never the wall clock)
    select max(order_date) + 1 as as_of_date from sales
),

per_customer as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as frequency,
        sum(order_revenue)::decimal(16, 2) as monetary
    from sales
    group by customer_id
),

measured as (
    select
        p.*,
        a.as_of_date,
        date_diff('day', p.last_order_date, a.as_of_date) as recency_days
    from per_customer as p
    -- only known customers are segmented (and ranked against each other)
    inner join silver.customers as c on p.customer_id = c.customer_id
    cross join as_of as a
),

scored as (
    select
        *,
        least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc)))::integer
            as r_score,
        least(5, 1 + floor(5 * percent_rank() over (order by frequency)))::integer as f_score,
        least(5, 1 + floor(5 * percent_rank() over (order by monetary)))::integer as m_score
    from measured
)

select
    s.customer_id,
    c.full_name,
    c.email,
    c.country,
    c.marketing_opt_in,
    s.first_order_date,
    s.last_order_date,
    s.as_of_date,
    s.recency_days,
    s.frequency,
    s.monetary,
    -- exact on every engine (docs/engines.md): DuckDB's `/` divides decimals as doubles
    -- (0.29 / 2 is 0.14499999...), Spark's exactly; an integer division (`//` truncates toward
    -- zero everywhere) one digit finer than the result, rounded half away from zero as a
    -- decimal, is the same everywhere. A double, as it was.
    round((cast(s.monetary * 1000 as bigint) // s.frequency) * 0.001, 2)::double as avg_order_value,
    s.r_score,
    s.f_score,
    s.m_score,
    s.r_score::varchar || s.f_score::varchar || s.m_score::varchar as rfm_cell,
    case
        when s.r_score >= 4 and s.f_score >= 4 and s.m_score >= 4 then 'Champions'
        when s.r_score >= 3 and s.f_score >= 4 then 'Loyal Customers'
        when s.r_score >= 4 and s.f_score >= 2 then 'Potential Loyalists'
        when s.r_score >= 4 then 'New Customers'
        when s.r_score = 3 then 'Need Attention'
        when s.f_score >= 3 then 'At Risk'
        when s.r_score = 2 then 'Hibernating'
        else 'Lost'
    end as segment
from scored as s
inner join silver.customers as c on s.customer_id = c.customer_id
order by s.customer_id
