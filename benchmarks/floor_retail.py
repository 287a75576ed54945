"""The floor for the retail benchmark: the same pipeline with DuckDB and deltalake and nothing else.

What a careful person would write by hand to turn the retail template's five CSV files into the
same bronze, silver and gold Delta tables — the minimum correct work that medallion is compared
against:

- bronze: each CSV is read by DuckDB's `read_csv` (auto-detection, with the column types the
  template's medallion.yml declares), the three audit columns are added, and the result is
  streamed (`rel.arrow()`, a RecordBatchReader) into `write_deltalake`;
- silver and gold: in dependency order, each model's SQL file from the template (the same text
  medallion runs) is run by DuckDB and streamed into `write_deltalake(mode="overwrite")`;
- every table written is registered back in DuckDB as a view `<layer>.<name>` over
  `DeltaTable(...).to_pyarrow_dataset()`, so the models' SQL reads Delta, as in medallion.

No quarantine of unparseable rows, no run log, no checkpoints, no validation, no logging.

    python benchmarks/floor_retail.py --data DATA_DIR --models MODELS_DIR --lakehouse OUT_DIR

Prints one JSON line: seconds per step and in total (after imports).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from deltalake import DeltaTable, write_deltalake

#: source -> declared column types, as in the template's medallion.yml (retail.py checks they
#: still match); other columns keep the types DuckDB detects
SOURCES: dict[str, dict[str, str]] = {
    "customers": {"customer_id": "BIGINT"},
    "products": {"product_id": "BIGINT", "unit_price": "DECIMAL(12,2)"},
    "orders": {
        "order_id": "BIGINT",
        "customer_id": "BIGINT",
        "order_date": "VARCHAR",
        "total_amount": "DECIMAL(12,2)",
    },
    "order_lines": {
        "order_line_id": "BIGINT",
        "order_id": "BIGINT",
        "product_id": "BIGINT",
        "quantity": "INTEGER",
        "unit_price": "DECIMAL(12,2)",
        "discount_amount": "DECIMAL(12,2)",
    },
    "payments": {
        "payment_id": "BIGINT",
        "order_id": "BIGINT",
        "payment_date": "VARCHAR",
        "payment_amount": "DECIMAL(12,2)",
    },
}

#: the template's models in a dependency order (retail.py checks it against medallion's graph)
MODELS: tuple[str, ...] = (
    "silver.dim_customers",
    "silver.dim_products",
    "silver.fact_order_lines",
    "silver.fact_payments",
    "silver.fact_orders",
    "gold.reporting_customer_stats",
    "gold.reporting_sales_wide",
    "gold.sales_summary_daily",
)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write(
    con: duckdb.DuckDBPyConnection, lakehouse: Path, fqn: str, rel: duckdb.DuckDBPyRelation
) -> None:
    """Stream a relation into the Delta table `fqn`, then expose that table as `fqn` in DuckDB."""
    layer, name = fqn.split(".")
    path = str(lakehouse / layer / name)
    write_deltalake(path, rel.arrow(), mode="overwrite")
    con.register(f"delta_{layer}_{name}", DeltaTable(path).to_pyarrow_dataset())
    con.execute(f"CREATE VIEW {layer}.{name} AS SELECT * FROM delta_{layer}_{name}")


def run(data: Path, models: Path, lakehouse: Path) -> dict[str, float]:
    """Build every table; seconds per step."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as medallion does: timestamps mean the same anywhere
    for layer in ("bronze", "silver", "gold"):
        con.execute(f"CREATE SCHEMA {layer}")
    run_id = uuid.uuid4().hex
    ingested_at = datetime.now(UTC).isoformat()
    steps: dict[str, float] = {}
    for source, types in SOURCES.items():
        started = time.perf_counter()
        struct = "{" + ", ".join(f"{_lit(c)}: {_lit(t)}" for c, t in types.items()) + "}"
        rel = con.sql(
            f"SELECT *, {_lit(f'data/{source}.csv')} AS _source_file, "
            f"TIMESTAMPTZ {_lit(ingested_at)} AS _ingested_at, {_lit(run_id)} AS _run_id "
            f"FROM read_csv({_lit(str(data / f'{source}.csv'))}, types={struct})"
        )
        _write(con, lakehouse, f"bronze.{source}", rel)
        steps[f"bronze.{source}"] = time.perf_counter() - started
    for fqn in MODELS:
        started = time.perf_counter()
        layer, name = fqn.split(".")
        sql = (models / layer / f"{name}.sql").read_text(encoding="utf-8")
        _write(con, lakehouse, fqn, con.sql(sql))
        steps[fqn] = time.perf_counter() - started
    con.close()
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the five CSV files")
    parser.add_argument("--models", type=Path, required=True, help="the template's models/")
    parser.add_argument("--lakehouse", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    steps = run(args.data, args.models, args.lakehouse)
    print(json.dumps({"run_s": time.perf_counter() - started, "steps": steps}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
