"""Compiled SQL runs on the real engine: models compiled with `--dialect postgres` are executed
by PostgreSQL over the same silver tables (published there), and give the rows medallion's
DuckDB run gave."""

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
