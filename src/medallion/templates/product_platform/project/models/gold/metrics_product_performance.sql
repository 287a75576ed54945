/* ---
kind: view
description: >
  One row per product: sales, margin, returns, waste and quality side by side, ranked for
  assortment reviews. Cancelled orders are excluded. Business rules:
  cost_of_goods = units_sold * dim_products.unit_cost (the current recipe cost);
  contribution = gross_margin - refunds - waste_cost;
  ABC class (Pareto on revenue): products sorted by net_revenue, descending; A while the running
  share of total revenue before the product is under 80 %, B under 95 %, C the rest (and every
  product without sales).
columns:
  units_sold: Units of non-cancelled order lines.
  net_revenue: Sum of net_amount of those lines.
  cost_of_goods: units_sold * unit_cost, rounded to cents.
  gross_margin: net_revenue - cost_of_goods.
  gross_margin_pct: gross_margin / net_revenue in percent, exactly rounded half away from zero
    to 1 decimal.
  units_returned: Units returned (any reason).
  return_rate_pct: units_returned / units_sold in percent, exactly rounded half up to 2 decimals.
  quality_returns: Units returned for damaged_in_transit, defective or expired.
  waste_units: Units written off.
  waste_pct: waste_units / (units_sold + waste_units) in percent, exactly rounded half up to 2
    decimals - the share of the units that left production and were not sold but wasted.
  inspections: Quality inspections of the product's batches.
  failed_inspections: Inspections with result fail.
  inspection_pass_pct: Share of inspections with result pass, in percent, exactly rounded half up
    to 1 decimal.
  avg_defect_rate: Mean defect_rate of the inspections, exactly rounded half up to 4 decimals.
  contribution: gross_margin - refunds - waste_cost.
  revenue_rank: 1 = highest net_revenue (ties share a rank).
  abc_class: A, B or C (see above).
checks:
  - unique: product_id
  - accepted_values: {column: abc_class, values: [A, B, C]}
  - reconciliation:
      expression: sum(net_revenue)
      equals: {table: gold.fact_sales, expression: sum(net_amount), where: not is_cancelled}
  - reconciliation:
      name: reconciliation_waste_cost
      expression: sum(waste_cost)
      equals: {table: gold.fact_waste, expression: sum(waste_cost)}
--- */
with sales as (
    select
        product_id,
        count(distinct order_id) as orders,
        sum(quantity) as units_sold,
        sum(net_amount) as net_revenue
    from gold.fact_sales
    where not is_cancelled
    group by product_id
),

returns as (
    select
        product_id,
        sum(quantity_returned) as units_returned,
        sum(case when is_quality_issue then quantity_returned else 0 end) as quality_returns,
        sum(refund_amount) as refunds
    from gold.fact_returns
    group by product_id
),

waste as (
    select product_id, sum(quantity) as waste_units, sum(waste_cost) as waste_cost
    from gold.fact_waste
    group by product_id
),

quality as (
    select
        product_id,
        count(*) as inspections,
        sum(case when is_fail then 1 else 0 end) as failed_inspections,
        sum(case when is_pass then 1 else 0 end) as passed_inspections,
        -- the mean as an exact sum and a count (avg() is a double in DuckDB, a decimal in
        -- Spark); defect_rate holds 4-place values
        sum(cast(defect_rate as decimal(18, 4))) as defect_rate_sum,
        count(defect_rate) as defect_rates
    from gold.fact_quality
    group by product_id
),

measures as (
    select
        p.product_id,
        p.sku,
        p.product_name,
        p.category,
        p.status,
        p.price_tier,
        p.list_price,
        p.unit_cost,
        coalesce(s.orders, 0) as orders,
        coalesce(s.units_sold, 0) as units_sold,
        cast(coalesce(s.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        cast(round(coalesce(s.units_sold, 0) * p.unit_cost, 2) as decimal(18, 2))
            as cost_of_goods,
        coalesce(r.units_returned, 0) as units_returned,
        coalesce(r.quality_returns, 0) as quality_returns,
        cast(coalesce(r.refunds, 0) as decimal(18, 2)) as refunds,
        coalesce(w.waste_units, 0) as waste_units,
        cast(coalesce(w.waste_cost, 0) as decimal(18, 2)) as waste_cost,
        coalesce(q.inspections, 0) as inspections,
        coalesce(q.failed_inspections, 0) as failed_inspections,
        q.passed_inspections,
        q.defect_rate_sum,
        q.defect_rates
    from gold.dim_products as p
    left join sales as s on p.product_id = s.product_id
    left join returns as r on p.product_id = r.product_id
    left join waste as w on p.product_id = w.product_id
    left join quality as q on p.product_id = q.product_id
),

ranked as (
    select
        *,
        net_revenue - cost_of_goods as gross_margin,
        rank() over (order by net_revenue desc) as revenue_rank,
        -- revenue of the products ranked before this one (ties broken by product_id, never
        -- NULL: "nulls first" is BigQuery's default, spelled out so the window compiles as is)
        coalesce(
            sum(net_revenue) over (
                order by net_revenue desc, product_id nulls first
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as revenue_before,
        sum(net_revenue) over () as total_revenue
    from measures
)

select
    product_id,
    sku,
    product_name,
    category,
    status,
    price_tier,
    list_price,
    unit_cost,
    orders,
    units_sold,
    net_revenue,
    cost_of_goods,
    gross_margin,
    -- percentages exact on every engine (docs/engines.md): integer divisions one digit finer
    -- than the result, rounded half away from zero as decimals; doubles, as they were
    round(
        (
            cast(gross_margin * 1000000 as bigint) // nullif(cast(net_revenue * 100 as bigint), 0)
        ) * 0.01,
        1
    )::double as gross_margin_pct,
    units_returned,
    round((units_returned * 100000 // nullif(units_sold, 0)) * 0.001, 2)::double
        as return_rate_pct,
    quality_returns,
    refunds,
    waste_units,
    waste_cost,
    round((waste_units * 100000 // nullif(units_sold + waste_units, 0)) * 0.001, 2)::double
        as waste_pct,
    inspections,
    failed_inspections,
    round((passed_inspections * 10000 // nullif(inspections, 0)) * 0.01, 1)::double
        as inspection_pass_pct,
    round((cast(defect_rate_sum * 100000 as bigint) // nullif(defect_rates, 0)) * 0.00001, 4)
        ::double as avg_defect_rate,
    gross_margin - refunds - waste_cost as contribution,
    revenue_rank,
    case
        when net_revenue > 0 and revenue_before < total_revenue * 0.80 then 'A'
        when net_revenue > 0 and revenue_before < total_revenue * 0.95 then 'B'
        else 'C'
    end as abc_class
from ranked
