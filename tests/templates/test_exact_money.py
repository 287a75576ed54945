"""The templates' averages, shares and percentages are exact and the same on every engine.

DuckDB's `/` divides even decimals as doubles (0.29 / 2 is 0.14499999..., which rounds to 0.14),
Spark's divides decimals exactly (0.145, rounding to 0.15): before the templates computed their
ratios as integer divisions, the ecommerce template's `avg_purchase_value` differed by a cent at
half-cent ties between medallion and a hand-written PySpark job (docs/engines.md). Here the ties
are written by hand into the ecommerce template's input, the gold values are checked against
exact half-up rounding, and the same SELECTs run by a real (local) Spark — as `medallion compile
--dialect spark` writes them, and as plain SQLGlot transpiles them (what a hand-written PySpark
job runs) — give the same rows.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from medallion.project import Project
from medallion.templates import TEMPLATES, get_template
from medallion.templates.ecommerce_events.generate import COLUMNS

PHONE = "2053013555631882655,electronics.smartphone"
GOLD = (
    "gold.customer_metrics",
    "gold.product_performance",
    "gold.daily_sales_summary",
    "gold.conversion_funnel",
)


def _event(day: str, minute: int, kind: str, product: int, price: str, user: int, sess: str) -> str:
    hour, minute = divmod(minute, 60)
    when = f"2019-10-{day} {hour:02d}:{minute:02d}:00 UTC"
    return f"{when},{kind},{product},{PHONE},acme,{price},{user},{sess}\n"


def _events() -> str:
    """The hand-made ties (each average is a half cent or a half of the 4th decimal):

    - 2019-10-01: user 301 buys product 5001 at 0.10 and 0.19 (0.29 / 2 = 0.145); user 302 buys
      product 5002 at 0.20 and 0.37 (0.57 / 2 = 0.285) and product 5003 at 1.00, 1.00, 1.00 and
      2.53 (5.53 / 4 = 1.3825, no tie: 1.38).
    - 2019-10-02: user 304 buys product 5005 at 0.29 and user 305 only views it, so the day's
      revenue per user is 0.29 / 2 = 0.145.
    - 2019-10-03: user 303 views product 5004 800 times and adds it to the cart 57 times
      (57 / 800 = 0.07125).
    """
    rows = [
        _event("01", 0, "purchase", 5001, "0.10", 301, "a1"),
        _event("01", 1, "purchase", 5001, "0.19", 301, "a1"),
        _event("01", 2, "purchase", 5002, "0.20", 302, "b1"),
        _event("01", 3, "purchase", 5002, "0.37", 302, "b1"),
    ]
    rows += [_event("01", 10 + i, "purchase", 5003, "1.00", 302, "b1") for i in range(3)]
    rows.append(_event("01", 13, "purchase", 5003, "2.53", 302, "b1"))
    # one event a minute: the event id hashes the time, a repeat of the same minute is one event
    rows += [_event("03", i, "view", 5004, "5.00", 303, f"c{i}") for i in range(800)]
    rows += [_event("03", 800 + i, "cart", 5004, "5.00", 303, f"c{i}") for i in range(57)]
    rows.append(_event("02", 900, "purchase", 5005, "0.29", 304, "d1"))
    rows.append(_event("02", 901, "view", 5005, "0.29", 305, "e1"))
    return ",".join(COLUMNS) + "\n" + "".join(rows)


def half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def ties(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("ties")
    get_template("ecommerce-events").scaffold(root)
    landing = root / "data" / "events"
    landing.mkdir(parents=True, exist_ok=True)
    for old in landing.rglob("*.csv"):
        old.unlink()
    (landing / "2019-10-01.csv").write_text(_events(), encoding="utf-8")
    project = Project.load(root)
    result = project.run()
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    return Project.load(root)


def _by(project: Project, table: str, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in project.query(f"select * from {table}").to_pylist()}


def test_averages_round_half_up_exactly(ties: Project) -> None:
    users = _by(ties, "gold.customer_metrics", "user_id")
    # 0.145 and 0.285: DuckDB's double division gave 0.14 and 0.28
    assert users[301]["avg_purchase_value"] == half_up(Decimal("0.29") / 2, 2) == Decimal("0.15")
    assert users[302]["avg_purchase_value"] == half_up(Decimal("6.10") / 6, 2) == Decimal("1.02")
    # 57 / 800 = 0.07125: the double gave 0.0712
    assert users[303]["view_to_cart_rate"] == 0.0713
    products = _by(ties, "gold.product_performance", "product_id")
    assert products[5001]["avg_purchase_price"] == Decimal("0.15")
    assert products[5002]["avg_purchase_price"] == Decimal("0.29")
    assert products[5003]["avg_purchase_price"] == Decimal("1.38")  # 1.3825, no tie
    assert products[5004]["view_to_cart_rate"] == 0.0713
    days = _by(ties, "gold.daily_sales_summary", "event_date")
    assert days[date(2019, 10, 1)]["avg_purchase_value"] == half_up(Decimal("6.39") / 8, 2)
    assert days[date(2019, 10, 2)]["revenue_per_user"] == Decimal("0.15")  # 0.29 / 2 users
    assert days[date(2019, 10, 2)]["avg_purchase_value"] == Decimal("0.29")


def _load_into_spark(project: Project, spark: Any, folder: Path) -> None:
    """Every table of the project, as DuckDB has it, as a Parquet table of the Spark session."""
    import pyarrow.parquet as pq

    for node in project.graph.order:
        layer, _ = node.split(".")
        where = folder / node
        where.mkdir()
        pq.write_table(project.query(f"select * from {node}"), where / "part.parquet")
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        spark.sql(f"DROP TABLE IF EXISTS {node}")  # another test's
        spark.sql(f"CREATE TABLE {node} USING parquet LOCATION '{where}'")


def _rows(table: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


@pytest.mark.spark
def test_spark_gives_the_same_cents(ties: Project, spark: Any, tmp_path: Path) -> None:
    import sqlglot

    _load_into_spark(ties, spark, tmp_path)
    out = ties.compile("spark").output
    for fqn in GOLD:
        model = ties.models[fqn]
        assert model.tree is not None
        duck = ties.query(model.tree.sql("duckdb"))
        layer, name = fqn.split(".")
        compiled = (out / layer / f"{name}.sql").read_text().rstrip().removesuffix(";")
        # toArrow: times as UTC-aware values, decimals as Decimal, doubles as float
        got = spark.sql(compiled).toArrow()
        assert got.column_names == duck.column_names, fqn
        assert _rows(got) == _rows(duck), fqn
        # SQLGlot alone (no medallion rewrite): the ratios do not depend on the compile step
        plain = sqlglot.transpile(model.tree.sql("duckdb"), read="duckdb", write="spark")[0]
        ratios = [
            c
            for c in duck.column_names
            if c.startswith("avg_") or c.endswith("_rate") or c == "revenue_per_user"
        ]
        key = duck.column_names[0] if fqn != "gold.conversion_funnel" else "event_date"
        frame = spark.sql(plain).select(key, *ratios)
        assert _rows(frame.toArrow()) == _rows(duck.select([key, *ratios])), fqn


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_no_template_divides_as_doubles(tmp_path: Path, name: str) -> None:
    """Every division in a template is an integer division (`//`): DuckDB's `/` divides decimals
    as doubles and other engines exactly, so a `/` is where two engines round apart."""
    import sqlglot.expressions as exp

    get_template(name).scaffold(tmp_path)
    project = Project.load(tmp_path, env={})  # the oltp template's ${VAR}s are not needed
    found = [
        (fqn, node.sql("duckdb"))
        for fqn, model in project.models.items()
        if model.tree is not None
        for node in model.tree.find_all(exp.Div)
    ]
    assert found == []


def test_snowflake_divides_integers_exactly(tmp_path: Path) -> None:
    """SQLGlot writes `a // b` as TRUNC(a / b) for Snowflake, whose `/` rounds the quotient to 6
    places first; the compiled templates spell it (a - a % b) / b, exact at any size."""
    get_template("ecommerce-events").scaffold(tmp_path)
    out = Project.load(tmp_path).compile("snowflake").output
    sql = (out / "gold" / "customer_metrics.sql").read_text()
    assert "TRUNC" not in sql.upper()
    assert "CAST(revenue * 1000 AS BIGINT) % NULLIF(purchases, 0)" in sql
