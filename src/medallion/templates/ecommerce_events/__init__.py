"""The ecommerce-events template: a Databricks Auto Loader + Delta Live Tables pipeline over an
e-commerce clickstream (seed 004), migrated: hourly CSV drops -> bronze events_raw -> silver
events_cleaned (deduplicated across runs, rule failures quarantined) -> four gold tables."""

DESCRIPTION = (
    "E-commerce clickstream: hourly CSV event drops (Auto Loader style) -> deduplicated, "
    "quarantined events -> customer segments, product performance, daily sales and funnels "
    "(a Databricks Auto Loader + Delta Live Tables pipeline, migrated)"
)
DEFAULT_ROWS = 20_000
ROWS_UNIT = "events"
ORDER = 40
