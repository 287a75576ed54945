"""The customer-insights template: a Microsoft Fabric workspace (seed 000), migrated.

The seed is an "ETL Platform" workspace of the Customer Insights domain: three lakehouses
(Bronze, Silver, Gold), three notebooks (ingestion, transformation, aggregation) and two
pipelines that run them every night. Here a lakehouse is a layer of Delta tables, a notebook is
a set of SQL models of one layer, and the two pipelines are one `medallion run` (see
project/medallion.yml).
"""

from __future__ import annotations

DESCRIPTION = (
    "Customer insights: customers.csv, orders.json (nested line items), products.parquet -> "
    "RFM customer segments, daily and monthly sales, product metrics (a Microsoft Fabric "
    "lakehouse workspace, migrated)"
)
DEFAULT_ROWS = 2000
ROWS_UNIT = "orders"
ORDER = 20
