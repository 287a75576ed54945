"""The floor for the e-commerce benchmark: the ecommerce-events pipeline with DuckDB and deltalake
and nothing else.

What an expert would write by hand to turn the template's hourly CSV files into the same bronze,
silver (+ quarantine) and gold Delta tables, rebuilding everything — the minimum correct work that
medallion is compared against:

- bronze: every CSV file is read by one DuckDB `read_csv` over the file list, with the column
  types and timestamp format of the template's medallion.yml; the three audit columns are added
  (`_source_file` as medallion records it, `data/events/...`); the rows are streamed
  (`rel.arrow()`, a RecordBatchReader) into `write_deltalake`, partitioned by `event_type`;
- silver: the template's model SQL (the same text medallion runs) over a view of the bronze Delta
  table (`DeltaTable(...).to_pyarrow_dataset()`), with the four expectations as boolean columns
  (NULL counts as a violation, as in medallion). Passing rows, one per (event_date, event_id) —
  the last delivered copy wins: highest `_ingested_at`, then `_source_file` (the model's
  `order_by`) — are streamed into silver.events_cleaned partitioned by `event_date`; failing rows,
  duplicates included, with the list of the rules they broke and the quarantine columns, into
  silver.events_cleaned__quarantine (medallion routes before it de-duplicates, so does this);
- gold: the four gold models' SQL files from the template, run by DuckDB over a view of silver
  and streamed into `write_deltalake(mode="overwrite")`.

No rescue of unparseable CSV lines (there are none in the generated data), no checks, no state
database, no run log, no file fingerprints, no logging: medallion does those and its time includes
them.

    python benchmarks/floor_ecommerce.py --data DATA_DIR --models MODELS_DIR --lakehouse OUT_DIR

DATA_DIR holds events/<day>/<hour>.csv. Prints one JSON line: seconds per step and in total
(after imports).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from deltalake import DeltaTable, write_deltalake

#: the source's declared column types, as in the template's medallion.yml (ecommerce.py checks
#: they still match)
COLUMNS: dict[str, str] = {
    "event_time": "TIMESTAMP",
    "event_type": "VARCHAR",
    "product_id": "BIGINT",
    "category_id": "BIGINT",
    "category_code": "VARCHAR",
    "brand": "VARCHAR",
    "price": "DECIMAL(12,2)",
    "user_id": "BIGINT",
    "user_session": "VARCHAR",
}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
BRONZE_PARTITION = ["event_type"]

#: silver.events_cleaned's expectations (all `action: quarantine`), dedup key, order and
#: partitioning, as in the model's header (ecommerce.py checks they still match)
EXPECTATIONS: dict[str, str] = {
    "known_event_type": "event_type in ('view', 'cart', 'remove_from_cart', 'purchase')",
    "price_in_range": "price between 0 and 100000",
    "valid_product_id": "product_id > 0",
    "valid_user_id": "user_id > 0",
}
UNIQUE_KEY = ["event_date", "event_id"]
ORDER_BY = ["_ingested_at", "_source_file"]
SILVER_PARTITION = ["event_date"]

GOLD = (
    "gold.conversion_funnel",
    "gold.customer_metrics",
    "gold.daily_sales_summary",
    "gold.product_performance",
)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _expose(con: duckdb.DuckDBPyConnection, lakehouse: Path, fqn: str) -> None:
    """The Delta table `fqn` as a DuckDB view `<layer>.<name>`."""
    layer, name = fqn.split(".")
    con.register(
        f"delta_{layer}_{name}", DeltaTable(str(lakehouse / layer / name)).to_pyarrow_dataset()
    )
    con.execute(f"CREATE OR REPLACE VIEW {layer}.{name} AS SELECT * FROM delta_{layer}_{name}")


def _write(lakehouse: Path, fqn: str, rel: duckdb.DuckDBPyRelation, partition_by=None) -> None:
    layer, name = fqn.split(".")
    write_deltalake(
        str(lakehouse / layer / name), rel.arrow(), mode="overwrite", partition_by=partition_by
    )


def run(data: Path, models: Path, lakehouse: Path) -> dict[str, float]:
    """Build every table; seconds per step."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as medallion does: timestamps mean the same anywhere
    for layer in ("bronze", "silver", "gold"):
        con.execute(f"CREATE SCHEMA {layer}")
    run_id = uuid.uuid4().hex
    ingested_at = datetime.now(UTC).isoformat()
    steps: dict[str, float] = {}

    # bronze: all files in one read, audit columns, partitioned by event_type
    started = time.perf_counter()
    files = sorted(glob.glob(str(data / "events" / "**" / "*.csv"), recursive=True))
    prefix = str(data) + os.sep
    types = "{" + ", ".join(f"{_lit(c)}: {_lit(t)}" for c, t in COLUMNS.items()) + "}"
    file_list = "[" + ", ".join(_lit(f) for f in files) + "]"
    bronze = con.sql(
        f"SELECT {', '.join(COLUMNS)}, 'data/' || filename[{len(prefix) + 1}:] AS _source_file, "
        f"TIMESTAMPTZ {_lit(ingested_at)} AS _ingested_at, {_lit(run_id)} AS _run_id "
        f"FROM read_csv({file_list}, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"nullstr = '', columns = {types}, auto_detect = false, filename = true, "
        f"timestampformat = {_lit(TIMESTAMP_FORMAT)})"
    )
    _write(lakehouse, "bronze.events_raw", bronze, BRONZE_PARTITION)
    steps["bronze.events_raw"] = time.perf_counter() - started

    # silver: the model's SQL, the expectations, good rows de-duplicated, bad rows quarantined
    started = time.perf_counter()
    _expose(con, lakehouse, "bronze.events_raw")
    sql = (models / "silver" / "events_cleaned.sql").read_text(encoding="utf-8")
    con.execute(f"CREATE TEMP VIEW silver_model AS {sql}")
    oks = [f"__ok_{i}" for i in range(len(EXPECTATIONS))]
    flags = ", ".join(
        f"coalesce(({e}), false) AS {ok}" for ok, e in zip(oks, EXPECTATIONS.values(), strict=True)
    )
    con.execute(f"CREATE TEMP VIEW silver_checked AS SELECT *, {flags} FROM silver_model")
    all_ok = " AND ".join(oks)
    keys = ", ".join(UNIQUE_KEY)
    order = ", ".join(f"{c} DESC" for c in ORDER_BY)
    silver = con.sql(
        f"SELECT * EXCLUDE ({', '.join(oks)}) FROM silver_checked WHERE {all_ok} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1"
    )
    _write(lakehouse, "silver.events_cleaned", silver, SILVER_PARTITION)
    names = ", ".join(
        f"CASE WHEN NOT {ok} THEN {_lit(name)} END"
        for ok, name in zip(oks, EXPECTATIONS, strict=True)
    )
    quarantine = con.sql(
        f"SELECT * EXCLUDE ({', '.join(oks)}), "
        f"list_filter([{names}], lambda x: x IS NOT NULL) AS _failed_expectations, "
        f"{_lit(run_id)} AS _run_id, TIMESTAMPTZ {_lit(datetime.now(UTC).isoformat())} "
        f"AS _quarantined_at, {_lit(run_id + ':')} || (row_number() OVER () - 1) "
        f"AS _quarantine_id FROM silver_checked WHERE NOT ({all_ok})"
    )
    _write(lakehouse, "silver.events_cleaned__quarantine", quarantine)
    steps["silver.events_cleaned"] = time.perf_counter() - started

    # gold: the models' SQL as written, over silver
    _expose(con, lakehouse, "silver.events_cleaned")
    for fqn in GOLD:
        started = time.perf_counter()
        layer, name = fqn.split(".")
        sql = (models / layer / f"{name}.sql").read_text(encoding="utf-8")
        _write(lakehouse, fqn, con.sql(sql))
        steps[fqn] = time.perf_counter() - started
    con.close()
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding events/")
    parser.add_argument("--models", type=Path, required=True, help="the template's models/")
    parser.add_argument("--lakehouse", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    steps = run(args.data.resolve(), args.models, args.lakehouse)
    print(json.dumps({"run_s": time.perf_counter() - started, "steps": steps}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
