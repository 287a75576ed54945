"""The floor for the retail benchmark: the same pipeline with DuckDB and deltalake and nothing else.

What a careful person would write by hand to turn the retail template's five CSV files into the
same bronze, silver and gold Delta tables — the minimum correct work that medallion is compared
against:

- bronze: each CSV is read by DuckDB's `read_csv` (auto-detection, with the column types the
  template's medallion.yml declares), the three audit columns are added, and the result is
  streamed (`rel.arrow()`, a RecordBatchReader) into `write_deltalake`;
- silver and gold: in dependency order, each model's SQL file from the template (the same text
  medallion runs) is run by DuckDB and streamed into `write_deltalake(mode="overwrite")`;
- a model with expectations (the template's row rules, e.g. a valid email) is computed once into
  a DuckDB temporary table with one boolean per rule; the rows passing every rule are written to
  the model's table and the others, with the names of the rules they break, a run id and a
  timestamp, to `<model>__quarantine` — the tables medallion writes on a first run;
- `customers_history` (scd2 in medallion) is, on a first run, the latest version of each
  customer with `valid_from`, `valid_to` = NULL and `is_current` = true;
- every table written is registered back in DuckDB as a view `<layer>.<name>` over
  `DeltaTable(...).to_pyarrow_dataset()`, so the models' SQL reads Delta, as in medallion.

The floor knows the data: the models' SQL already yields one row per key, so it does not
de-duplicate by `unique_key` again as medallion's merge and scd2 kinds must. No quarantine of
unparseable CSV rows, no run log, no checkpoints, no table checks, no validation, no logging.

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
    "customers": {"customer_id": "VARCHAR"},
    "products": {"product_id": "VARCHAR", "unit_price": "DECIMAL(12,2)"},
    "orders": {
        "order_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "order_date": "VARCHAR",
        "total_amount": "DECIMAL(12,2)",
    },
    "order_lines": {
        "order_line_id": "VARCHAR",
        "order_id": "VARCHAR",
        "product_id": "VARCHAR",
        "quantity": "INTEGER",
        "unit_price": "DECIMAL(12,2)",
        "discount_amount": "DECIMAL(12,2)",
    },
    "payments": {
        "payment_id": "VARCHAR",
        "order_id": "VARCHAR",
        "payment_date": "VARCHAR",
        "payment_amount": "DECIMAL(12,2)",
    },
}

#: the template's models in a dependency order (retail.py checks it against medallion's graph)
MODELS: tuple[str, ...] = (
    "silver.customers_history",
    "silver.dim_customers",
    "silver.dim_products",
    "silver.fact_order_lines",
    "silver.fact_payments",
    "silver.fact_orders",
    "gold.customer_order_stats",
    "gold.reporting_customer_stats",
    "gold.reporting_sales_wide",
    "gold.sales_summary_daily",
)


#: model -> {expectation: predicate}, as in the models' headers (retail.py checks they match);
#: every action there is quarantine
EXPECTATIONS: dict[str, dict[str, str]] = {
    "silver.dim_customers": {"valid_email": r"regexp_matches(email, '^[^@\s]+@[^@\s]+\.[^@\s]+$')"},
    "silver.dim_products": {"non_negative_price": "unit_price >= 0"},
    "silver.fact_order_lines": {
        "positive_quantity": "quantity > 0",
        "non_negative_amounts": "unit_price >= 0 and discount_amount >= 0 and line_total >= 0",
    },
    "silver.fact_orders": {
        "parseable_order_date": "order_date is not null",
        "non_negative_total": "total_amount >= 0",
    },
    "silver.fact_payments": {
        "parseable_payment_date": "payment_date is not null",
        "non_negative_amount": "payment_amount >= 0",
    },
}

#: the scd2 model's first build: its latest row per key, opened at valid_from
SCD2 = {"silver.customers_history": ("customer_id", "observed_at desc, source_file desc")}

#: models that are views (resolved when read, as in medallion: nothing is written)
VIEWS = ("gold.reporting_customer_stats",)


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


def _write_checked(
    con: duckdb.DuckDBPyConnection,
    lakehouse: Path,
    fqn: str,
    sql: str,
    rules: dict[str, str],
    run_id: str,
) -> None:
    """The model's rows passing every rule to `fqn`, the others to `fqn`__quarantine."""
    oks = [f"__ok{i}" for i in range(len(rules))]
    flags = ", ".join(
        f"coalesce(({p}), false) AS {ok}" for ok, p in zip(oks, rules.values(), strict=True)
    )
    con.execute(f"CREATE TEMP TABLE __checked AS SELECT *, {flags} FROM ({sql})")
    columns = ", ".join(f'"{c}"' for c in con.table("__checked").columns if c not in oks)
    passing = " AND ".join(oks)
    _write(con, lakehouse, fqn, con.sql(f"SELECT {columns} FROM __checked WHERE {passing}"))
    failed = ", ".join(
        f"CASE WHEN NOT {ok} THEN {_lit(name)} END" for ok, name in zip(oks, rules, strict=True)
    )
    # like medallion, no quarantine table while no row was ever set aside
    if con.sql(f"SELECT count(*) FROM __checked WHERE NOT ({passing})").fetchall()[0][0]:
        _write(
            con,
            lakehouse,
            f"{fqn}__quarantine",
            con.sql(
                f"SELECT {columns}, list_filter([{failed}], lambda x: x IS NOT NULL) AS "
                f"_failed_expectations, {_lit(run_id)} AS _run_id, now() AS _quarantined_at "
                f"FROM __checked WHERE NOT ({passing})"
            ),
        )
    con.execute("DROP TABLE __checked")


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
        if fqn in SCD2:
            key, order = SCD2[fqn]
            sql = (
                "SELECT *, observed_at AS valid_from, NULL::TIMESTAMPTZ AS valid_to, "
                f"true AS is_current FROM ({sql}) QUALIFY row_number() OVER "
                f"(PARTITION BY {key} ORDER BY {order}) = 1"
            )
        rules = EXPECTATIONS.get(fqn)
        if fqn in VIEWS:
            con.execute(f"CREATE VIEW {fqn} AS {sql}")
        elif rules:
            _write_checked(con, lakehouse, fqn, sql, rules, run_id)
        else:
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
