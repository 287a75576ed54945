/* ---
kind: merge
unique_key: recipe_id
description: >
  One row per recipe version (duplicates removed). A product has one active recipe; older
  versions stay for history. is_active is written Y/N, yes/no, true/false or 1/0 by hand.
columns:
  recipe_id: Recipe key.
  product_id: The product the recipe makes.
  version: Recipe version (higher is newer).
  batch_yield: Sellable units one batch makes.
  batch_minutes: Production time of one batch.
  is_active: True for the version production uses now.
  effective_date: First day the version was used.
expectations:
  positive_yield:
    expect: batch_yield > 0
    action: quarantine
    description: The batch cost is divided by the yield; a yield of 0 is a keying error.
  known_active_flag:
    expect: is_active is not null
    action: quarantine
    description: An is_active value that is none of the known spellings.
checks:
  - unique: recipe_id
  - not_null: [recipe_id, product_id, version]
  - relationships: {column: product_id, to: silver.stg_products.product_id}
  # two active versions of one product would double its cost in dim_products
  - unique: product_id
    name: one_active_recipe_per_product
    where: is_active
--- */
with ranked as (
    select
        *,
        row_number() over (
            partition by recipe_id order by _ingested_at desc, _source_file desc
        ) as version_rank
    from bronze.recipes
    where recipe_id is not null
)

select
    recipe_id,
    product_id,
    trim(recipe_name) as recipe_name,
    version,
    batch_yield,
    batch_minutes,
    case
        when lower(trim(is_active)) in ('y', 'yes', 'true', 't', '1') then true
        when lower(trim(is_active)) in ('n', 'no', 'false', 'f', '0') then false
    end as is_active,
    effective_date
from ranked
where version_rank = 1
