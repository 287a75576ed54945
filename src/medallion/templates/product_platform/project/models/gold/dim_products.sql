/* ---
kind: table                  # one row per product (thousands at most): rebuilt whole, and only
                             # when products, recipes or recipe lines changed
description: >
  One row per product with its current recipe costing. Unit cost: the active recipe's material
  cost per unit (sum of its ingredient line costs / batch_yield), the figure production controls;
  a product without a usable active recipe (none, or quarantined in silver) falls back to the
  ERP standard cost. Margins compare that cost with the list price.
columns:
  product_id: Product key.
  active_recipe_id: The recipe production uses now (highest active version); NULL if none.
  recipe_version: Its version.
  ingredient_count: Ingredient lines of the active recipe (packaging included).
  batch_yield: Units per batch of the active recipe.
  batch_material_cost: Sum of the active recipe's line costs (one batch).
  recipe_unit_cost: batch_material_cost / batch_yield, exactly rounded half up to 4 decimals.
  unit_cost: recipe_unit_cost, or standard_cost when there is no usable recipe; 4 decimals.
  cost_source: recipe or standard (which of the two unit_cost is).
  cost_variance_pct: (recipe_unit_cost - standard_cost) / standard_cost * 100, exactly rounded
    half away from zero to 1 decimal; a large value means the ERP standard is out of date.
  unit_margin: list_price - unit_cost.
  margin_pct: unit_margin / list_price * 100, exactly rounded half away from zero to 1 decimal.
  price_tier: value (< 3.00), standard (3.00 - 6.99) or premium (>= 7.00), by list price.
checks:
  - unique: product_id
  - not_null: [product_id, sku, category, list_price, unit_cost, cost_source]
  - accepted_values: {column: cost_source, values: [recipe, standard]}
  - accepted_values: {column: price_tier, values: [value, standard, premium]}
  - relationships: {column: active_recipe_id, to: silver.stg_recipes.recipe_id}
--- */
with recipe_costs as (
    select
        r.recipe_id,
        r.product_id,
        r.version,
        r.batch_yield,
        count(l.recipe_line_id) as ingredient_count,
        sum(l.line_cost) as batch_material_cost
    from silver.stg_recipes as r
    inner join silver.stg_recipe_lines as l on r.recipe_id = l.recipe_id
    where r.is_active
    group by r.recipe_id, r.product_id, r.version, r.batch_yield
),

active_recipes as (
    select
        *,
        row_number() over (partition by product_id order by version desc, recipe_id desc)
            as recipe_rank
    from recipe_costs
),

costed as (
    select
        p.product_id,
        p.sku,
        p.product_name,
        p.category,
        p.pack_size,
        p.list_price,
        p.standard_cost,
        p.shelf_life_days,
        p.is_perishable,
        p.launch_date,
        p.status,
        p.status = 'active' as is_active,
        r.recipe_id as active_recipe_id,
        r.version as recipe_version,
        r.ingredient_count,
        r.batch_yield,
        cast(r.batch_material_cost as decimal(18, 4)) as batch_material_cost,
        -- exact on every engine (docs/engines.md): DuckDB's `/` divides decimals as doubles,
        -- Spark's exactly; an integer division (`//` truncates toward zero everywhere) one
        -- digit finer than the result, rounded half away from zero as a decimal
        cast(
            round((cast(r.batch_material_cost * 100000 as bigint) // r.batch_yield) * 0.00001, 4)
            as decimal(12, 4)
        ) as recipe_unit_cost
    from silver.stg_products as p
    left join active_recipes as r on p.product_id = r.product_id and r.recipe_rank = 1
)

select
    *,
    cast(coalesce(recipe_unit_cost, standard_cost) as decimal(12, 4)) as unit_cost,
    case when recipe_unit_cost is null then 'standard' else 'recipe' end as cost_source,
    -- percent in units of 0.01 (4-place costs over cents), rounded to 1 decimal, exactly
    round(
        (
            cast((recipe_unit_cost - standard_cost) * 1000000 as bigint)
            // nullif(cast(standard_cost * 100 as bigint), 0)
        ) * 0.01,
        1
    )::double as cost_variance_pct,
    cast(list_price - coalesce(recipe_unit_cost, standard_cost) as decimal(12, 4))
        as unit_margin,
    round(
        (
            cast((list_price - coalesce(recipe_unit_cost, standard_cost)) * 1000000 as bigint)
            // cast(list_price * 100 as bigint)
        ) * 0.01,
        1
    )::double as margin_pct,
    case
        when list_price < 3 then 'value'
        when list_price < 7 then 'standard'
        else 'premium'
    end as price_tier
from costed
