/* ---
kind: table                # ranks and shares move for every product when one sells: rebuilt whole
description: >
  One row per product (the seed's product_metrics): what it sold in orders that count as sales
  (is_sale), its rank by revenue, and its share of its category's revenue. Products that sold
  nothing are listed with zeros; items of products missing from the catalogue (or quarantined
  there) are listed under category 'Unknown', so the table adds up to all sales revenue.
columns:
  list_price: The catalogue's current unit_price; NULL for products not in the catalogue.
  units_sold: Units in sales.
  revenue: Sum of line_revenue (after discounts) of the product's lines in sales.
  order_count: Distinct sales that contain the product.
  avg_selling_price: revenue / units_sold, exactly rounded half up to cents; NULL when nothing
    sold.
  revenue_rank: 1 = the highest revenue; equal revenues share a rank (SQL rank()).
  category_rank: The same rank within the product's category.
  category_revenue_share: revenue / the category's revenue, exactly rounded half up to 4
    decimals (0.1234 = 12.34 %); NULL when the category sold nothing.
checks:
  - unique: product_id
  - not_null: [product_id, category, revenue, revenue_rank]
  - expression_is_true: revenue >= 0 and units_sold >= 0 and revenue_rank >= 1
  - expression_is_true: category_revenue_share is null or category_revenue_share between 0 and 1
  - reconciliation:
      expression: sum(revenue)
      equals: {table: silver.orders, expression: sum(order_revenue), where: is_sale}
--- */
with sales_lines as (
    select
        i.product_id,
        i.order_id,
        i.quantity,
        i.line_revenue
    from silver.order_items as i
    inner join silver.orders as o on i.order_id = o.order_id
    where o.is_sale
),

per_product as (
    select
        product_id,
        sum(quantity) as units_sold,
        sum(line_revenue) as revenue,
        count(distinct order_id) as order_count
    from sales_lines
    group by product_id
),

combined as (
    select
        coalesce(p.product_id, s.product_id) as product_id,
        p.sku,
        p.product_name,
        coalesce(p.category, 'Unknown') as category,
        p.subcategory,
        p.brand,
        p.unit_price as list_price,
        p.is_active,
        coalesce(s.units_sold, 0) as units_sold,
        coalesce(s.revenue, 0)::decimal(16, 2) as revenue,
        coalesce(s.order_count, 0) as order_count
    from silver.products as p
    full outer join per_product as s on p.product_id = s.product_id
)

select
    *,
    -- exact on every engine (docs/engines.md): DuckDB's `/` divides decimals as doubles
    -- (0.29 / 2 is 0.14499999...), Spark's exactly; an integer division (`//` truncates toward
    -- zero everywhere) one digit finer than the result, rounded half away from zero as a
    -- decimal, is the same everywhere. A double, as it was.
    round((cast(revenue * 1000 as bigint) // nullif(units_sold, 0)) * 0.001, 2)::double
        as avg_selling_price,
    rank() over (order by revenue desc) as revenue_rank,
    rank() over (partition by category order by revenue desc) as category_rank,
    -- cents over cents, in units of 0.00001
    round(
        (
            cast(revenue * 10000000 as bigint)
            // nullif(cast(sum(revenue) over (partition by category) * 100 as bigint), 0)
        ) * 0.00001,
        4
    )::double as category_revenue_share
from combined
order by revenue_rank, product_id
