"""Compiled SQL runs on the real engines: models compiled with `--dialect postgres` are executed
by PostgreSQL over the same tables (published there), those compiled with `--dialect spark` by a
local Spark (from Parquet files), and give the rows medallion's DuckDB run gave."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from medallion.project import Project

pytestmark = pytest.mark.postgres

CONFIG = """\
name: portable
sources:
  orders:
    path: data/orders.csv
    columns: {order_id: INTEGER, customer: VARCHAR, status: VARCHAR, amount: 'DECIMAL(10,2)',
              order_date: DATE}
publish:
  copy:
    type: postgres
    dsn: {dsn}
    schema: silver
    after_run: false
    tables: [silver.orders]
"""
MODELS = {
    "silver/orders.sql": """\
        select order_id, lower(trim(customer)) as customer, upper(status) as status, amount,
               order_date
        from bronze.orders
        """,
    # a spread of portable constructs: CTEs, FILTER, date parts and arithmetic, windows,
    # CASE, string functions, HAVING, DISTINCT counts, NULLIF, casts
    "gold/monthly.sql": """\
        with m as (
            select date_trunc('month', order_date) as month, customer, status, amount
            from silver.orders
        )
        select month,
               extract(year from month) as year,
               count(*) as orders,
               count(*) filter (where status = 'SHIPPED') as shipped,
               count(distinct customer) as customers,
               sum(amount) as revenue,
               round(sum(amount) / nullif(count(*), 0), 2) as avg_order
        from m
        group by month
        having count(*) > 0
        """,
    "gold/customers.sql": """\
        select customer,
               count(*) as orders,
               sum(amount) as revenue,
               rank() over (order by sum(amount) desc) as revenue_rank,
               case when sum(amount) >= 100 then 'big' when sum(amount) >= 20 then 'mid'
                    else 'small' end as tier,
               concat(upper(customer), '#', cast(count(*) as varchar)) as label,
               min(order_date) + interval 30 day as first_plus_30,
               max(order_date) - min(order_date) as span_days,
               coalesce(max(case when status = 'CANCELLED' then order_date end),
                        date '1900-01-01') as last_cancel
        from silver.orders
        group by customer
        """,
}
ORDERS = """\
order_id,customer,status,amount,order_date
1, Ann ,shipped,10.00,2024-01-05
2,ann,cancelled,5.50,2024-01-20
3,Bob,shipped,100.00,2024-02-01
4,bob ,pending,20.25,2024-02-03
5,Cy,shipped,1.99,2024-02-28
"""


def normal(value: Any) -> Any:
    """Compare across engines: decimals and floats as rounded floats, datetimes as dates."""
    if isinstance(value, Decimal | float):
        return round(float(value), 6)
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return value


def test_compiled_postgres_sql_gives_medallions_rows(tmp_path: Path, pg_db: str) -> None:
    root = tmp_path / "p"
    (root / "data").mkdir(parents=True)
    (root / "data" / "orders.csv").write_text(ORDERS)
    (root / "medallion.yml").write_text(CONFIG.replace("{dsn}", pg_db))
    for rel, text in MODELS.items():
        path = root / "models" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    project = Project.load(root)
    assert project.run(trigger="test").ok
    assert project.publish().ok  # silver.orders now exists in PostgreSQL too
    out = project.compile("postgres").output

    with psycopg.connect(pg_db) as conn:
        for table in ("monthly", "customers"):
            sql = (out / "gold" / f"{table}.sql").read_text()
            cur = conn.execute(sql.encode())
            columns = [d.name for d in cur.description or []]
            pg_rows = sorted(tuple(normal(v) for v in row) for row in cur.fetchall())
            expected = project.query(f"select * from gold.{table}")
            assert columns == expected.column_names
            duck_rows = sorted(tuple(normal(r[c]) for c in columns) for r in expected.to_pylist())
            assert pg_rows == duck_rows, table


SEMANTICS_CONFIG = """\
name: semantics
sources:
  events:
    path: data/events.csv
    columns: {id: INTEGER, grp: VARCHAR, name: VARCHAR, ts: VARCHAR, amount: DOUBLE,
              price: 'DECIMAL(10,3)'}
  orders:
    path: data/orders.json
    format: json
    columns: {order_id: INTEGER, items: 'STRUCT(sku VARCHAR, qty INTEGER)[]'}
"""
SEMANTICS_MODELS = {
    # arg_max skips rows whose value is NULL; its FILTER narrows the rows it looks at
    "gold/picks.sql": """\
        select grp,
               arg_max(name, id) as newest_name,
               arg_max(name, id) filter (where amount > 1) as newest_big,
               arg_min(name, id) as oldest_name
        from bronze.events
        group by grp
        """,
    # DuckDB rounds half away from zero (PostgreSQL's round(double) to even); try_cast gives
    # NULL for a value that does not convert (a CAST fails the query); concat_ws skips NULLs
    "gold/numbers.sql": """\
        select id,
               round(amount, 2) as r2,
               round(amount, 0) as r0,
               round(price, 2) as p2,
               try_cast(ts as timestamp) as t,
               hour(try_cast(ts as timestamp)) as h,
               concat_ws(' ', name, grp) as label
        from bronze.events
        """,
    # WITH ORDINALITY from 1; the items are jsonb in PostgreSQL, their fields stored upper-case
    "gold/lines.sql": """\
        select o.order_id, i.n as line_number,
               cast(i.item.sku as varchar) as sku, cast(i.item.qty as integer) as qty
        from bronze.orders as o, unnest(o.items) with ordinality as i (item, n)
        """,
}
EVENTS = """\
id,grp,name,ts,amount,price
1,a,ann,2024-01-05 10:00:00,2.675,2.345
2,a,,2024-02-30 11:00:00,0.5,1.005
3,b,bob,2024-03-01 23:59:00,4524.275,-2.345
4,b,cy,not a date,-2.5,0.125
"""
ORDERS_JSON = (
    '{"order_id": 1, "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}\n'
    '{"order_id": 2, "items": [{"sku": "C", "qty": 5}]}\n'
)
T = "2024-01-05 10:00:00", "2024-03-01 23:59:00"
#: by hand, from EVENTS and ORDERS_JSON
EXPECTED = {
    "picks": [("a", "ann", "ann", "ann"), ("b", "cy", "bob", "bob")],
    "numbers": [
        (1, 2.68, 3.0, 2.35, T[0], 10, "ann a"),
        (2, 0.5, 1.0, 1.01, None, None, "a"),
        (3, 4524.27, 4524.0, -2.35, T[1], 23, "bob b"),
        (4, -2.5, -3.0, 0.13, None, None, "cy b"),
    ],
    "lines": [(1, 1, "A", 2), (1, 2, "B", 1), (2, 1, "C", 5)],
}


def by_hand(value: Any) -> Any:
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        return value.isoformat(sep=" ")
    return normal(value)


def semantics_project(tmp_path: Path) -> Project:
    """SEMANTICS_MODELS over EVENTS and ORDERS_JSON, run by medallion; its gold tables checked
    against EXPECTED."""
    root = tmp_path / "p"
    (root / "data").mkdir(parents=True)
    (root / "data" / "events.csv").write_text(EVENTS)
    (root / "data" / "orders.json").write_text(ORDERS_JSON)
    (root / "medallion.yml").write_text(SEMANTICS_CONFIG)
    for rel, text in SEMANTICS_MODELS.items():
        path = root / "models" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    project = Project.load(root)
    assert project.run(trigger="test").ok
    for table, expected in EXPECTED.items():
        in_duckdb = sorted(
            tuple(by_hand(v) for v in row.values())
            for row in project.query(f"select * from gold.{table}").to_pylist()
        )
        assert in_duckdb == [tuple(by_hand(v) for v in row) for row in expected], table
    return project


def duckdb_rows(project: Project, table: str) -> list[tuple[Any, ...]]:
    rows = project.query(f"select * from gold.{table}").to_pylist()
    return sorted(tuple(by_hand(v) for v in row.values()) for row in rows)


def test_compiled_postgres_sql_keeps_duckdbs_meaning(tmp_path: Path, pg_db: str) -> None:
    """The constructs whose plain SQLGlot translation changes the result (see
    models/dialects.py), on values chosen where it would: the rows are those computed by hand,
    in PostgreSQL as in DuckDB."""
    from medallion.publish.postgres import publish_table

    project = semantics_project(tmp_path)
    out = project.compile("postgres").output
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute((out / "medallion_functions.sql").read_text().encode())
        for source in ("events", "orders"):
            data = project.query(f"select * from bronze.{source}")
            publish_table(
                conn,
                schema_name="bronze",
                name=source,
                reader=data.to_reader(),
                mode="replace",
                key=[],
                comment="",
            )
        for table in EXPECTED:
            cur = conn.execute((out / "gold" / f"{table}.sql").read_text().encode())
            in_postgres = sorted(tuple(by_hand(v) for v in row) for row in cur.fetchall())
            assert in_postgres == duckdb_rows(project, table), table


@pytest.mark.spark
def test_compiled_spark_sql_keeps_duckdbs_meaning(tmp_path: Path, spark: Any) -> None:
    """The same on a local Spark: arg_max (MAX_BY returns the NULL at the largest key), round
    (Spark rounds a double's decimal text), WITH ORDINALITY (POSEXPLODE counts from 0)."""
    import pyarrow.parquet as pq

    project = semantics_project(tmp_path)
    out = project.compile("spark").output
    spark.sql("CREATE DATABASE IF NOT EXISTS bronze")
    for source in ("events", "orders"):
        folder = tmp_path / "parquet" / source
        folder.mkdir(parents=True)
        pq.write_table(project.query(f"select * from bronze.{source}"), folder / "part.parquet")
        spark.sql(f"DROP TABLE IF EXISTS bronze.{source}")
        spark.sql(f"CREATE TABLE bronze.{source} USING parquet LOCATION '{folder}'")
    for table in EXPECTED:
        sql = (out / "gold" / f"{table}.sql").read_text().rstrip().removesuffix(";")
        in_spark = sorted(
            tuple(by_hand(v) for v in row.values()) for row in spark.sql(sql).toArrow().to_pylist()
        )
        assert in_spark == duckdb_rows(project, table), table
