"""The product-platform template: a food manufacturer's dbt + Airflow warehouse, migrated.

Eight domains (products, recipes with recipe lines, customers, orders with order lines,
shipments, returns, waste, quality inspections) exported as CSV, JSON and Parquet files ->
silver `stg_*` staging -> a gold star schema (`dim_products`, `dim_customers`, `dim_date`,
`fact_sales`, `fact_returns`, `fact_quality`, `fact_waste`) and three metrics views.
"""

DESCRIPTION = (
    "A food manufacturer's eight domains (products, recipes, customers, orders, shipments, "
    "returns, waste, quality) -> stg_* -> star schema and metrics views (a dbt + Airflow "
    "warehouse, migrated)"
)
DEFAULT_ROWS = 3000
ROWS_UNIT = "order lines"
ORDER = 30
