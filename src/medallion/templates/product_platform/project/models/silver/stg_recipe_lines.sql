/* ---
kind: merge
unique_key: recipe_line_id
description: >
  One row per ingredient of a recipe, with the quantity converted to the ingredient's base unit
  (kg, l or each), so it can be multiplied by unit_cost (the price per base unit).
columns:
  ingredient: Ingredient name, lower-cased and trimmed.
  quantity: Quantity per batch as written, in uom.
  uom: g, kg, ml, l or each (hand-typed synonyms such as "grams", "gr", "pcs" mapped).
  base_quantity: quantity in base_uom (g / 1000 = kg, ml / 1000 = l).
  base_uom: kg, l or each.
  unit_cost: Cost of one base unit of the ingredient.
  line_cost: base_quantity * unit_cost, the ingredient's cost per batch.
expectations:
  positive_quantity: {expect: quantity > 0, action: quarantine}
  known_uom:
    expect: uom in ('g', 'kg', 'ml', 'l', 'each')
    action: quarantine
checks:
  - unique: recipe_line_id
  - not_null: [recipe_line_id, recipe_id, ingredient, unit_cost]
  # lines of a recipe that silver quarantined (e.g. a batch_yield of 0) have no recipe
  - relationships: {column: recipe_id, to: silver.stg_recipes.recipe_id}
    severity: warn
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by recipe_line_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.recipe_lines
    where recipe_line_id is not null
),

typed as (
    select
        recipe_line_id,
        recipe_id,
        line_number,
        lower(trim(ingredient)) as ingredient,
        quantity,
        case lower(trim(uom))
            when 'grams' then 'g'
            when 'gr' then 'g'
            when 'kgs' then 'kg'
            when 'millilitres' then 'ml'
            when 'litre' then 'l'
            when 'pcs' then 'each'
            when 'ea' then 'each'
            else lower(trim(uom))
        end as uom,
        unit_cost
    from ranked
    where version_rank = 1
),

based as (
    select
        *,
        -- multiplying by 0.001 (not dividing by 1000) keeps the arithmetic in exact decimals
        case when uom in ('g', 'ml') then quantity * 0.001 else quantity end as base_quantity,
        case uom when 'g' then 'kg' when 'ml' then 'l' else uom end as base_uom
    from typed
)

select
    recipe_line_id,
    recipe_id,
    line_number,
    ingredient,
    quantity,
    uom,
    cast(base_quantity as decimal(14, 6)) as base_quantity,
    base_uom,
    unit_cost,
    cast(base_quantity * unit_cost as decimal(16, 4)) as line_cost
from based
