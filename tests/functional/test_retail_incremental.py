"""The retail template run day by day equals the same data built in one go.

Project A runs the initial export, then a day-2 and a day-3 file drop (new orders, customers who
moved, price changes), incrementally. Project B gets all those files at once and runs once.
Every silver and gold table must hold the same rows; A's customer history must also keep the
cities customers moved away from. The one-big-table shows each order as it was: its customer
columns come from the customer's version valid when the order was ingested, so there A (day by
day) differs from B (all at once, where every order sees the latest version) exactly on the old
orders of the customers who moved - and a drop of new orders never rewrites A's old lines.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medallion.project import Project
from medallion.storage import tables
from medallion.templates import get_template

AUDIT = (
    "_ingested_at",
    "_run_id",
    "_source_file",
    "observed_at",
    "valid_from",
    "valid_to",
)


def _rows(project: Project, table: str, skip: tuple[str, ...] = ()) -> list[tuple]:
    t = project.query(f"select * from {table}")
    cols = [c for c in t.column_names if c not in AUDIT and c not in skip]
    return sorted(
        (tuple(r[c] for c in cols) for r in t.select(cols).to_pylist()),
        key=lambda row: tuple((v is None, str(v)) for v in row),
    )


WIDE = "gold.reporting_sales_wide"
#: the one-big-table's customer columns: point in time (see the module docstring)
AS_IT_WAS = (
    "customer_name",
    "customer_email",
    "customer_city",
    "customer_state",
    "customer_country",
    "customer_segment",
)


def _files(project: Project, table: str) -> set[str]:
    return set(tables.open_table(project.catalog.path(table)).file_uris())


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Project, dict]:
    template = get_template("retail")
    a_root = tmp_path_factory.mktemp("daily")
    template.scaffold(a_root)
    template.generate(a_root, rows=1500)
    a = Project.load(a_root)
    first = a.run(trigger="test")
    assert first.ok, first.error
    runs = {"first": first, "files": {"first": _files(a, WIDE)}}
    for day in (2, 3):
        template.generate(a_root, day=day)
        result = a.run(trigger="test")
        assert result.ok, result.error
        runs[f"day{day}"] = result
        runs["files"][f"day{day}"] = _files(a, WIDE)
    before = {t: tables.info(a.catalog.path(t)).version for t in a.catalog.tables()}
    runs["again"] = a.run(trigger="test")
    runs["versions_before_again"] = before

    b_root = tmp_path_factory.mktemp("at_once")
    template.scaffold(b_root)
    shutil.copytree(a_root / "data", b_root / "data")
    b = Project.load(b_root)
    once = b.run(trigger="test")
    assert once.ok, once.error
    return a, b, runs


def test_a_day_drop_ingests_only_its_files(day_by_day: tuple) -> None:
    _, _, runs = day_by_day
    for name in ("customers", "orders", "order_lines", "payments", "products"):
        step = runs["day2"].step(f"bronze.{name}")
        assert step.details["files"] == [f"data/{name}_day2.csv"]
        assert step.details["already_ingested"] == 1


@pytest.mark.parametrize(
    "table",
    [
        "silver.dim_customers",
        "silver.dim_products",
        "silver.fact_order_lines",
        "silver.fact_payments",
        "silver.fact_orders",
        "gold.sales_summary_daily",
        "gold.reporting_sales_wide",
        "gold.customer_order_stats",
        "gold.reporting_customer_stats",
    ],
)
def test_incremental_equals_rebuild(day_by_day: tuple, table: str) -> None:
    a, b, _ = day_by_day
    # the one-big-table's customer columns are compared in the test below
    skip = AS_IT_WAS if table == WIDE else ()
    assert _rows(a, table, skip) == _rows(b, table, skip)


def test_wide_shows_each_order_as_it_was(day_by_day: tuple) -> None:
    a, b, _ = day_by_day
    versions = a.query(
        "select customer_id, city, valid_from, valid_to from silver.customers_history "
        "where customer_id in (select customer_id from silver.customers_history "
        "group by 1 having count(*) > 1)"
    ).to_pylist()
    assert versions, "the day drops move some customers"
    sql = (
        "select w.customer_id, w.customer_city, o._ingested_at from gold.reporting_sales_wide w "
        "join silver.fact_orders o using (order_id)"
    )
    moved = {v["customer_id"] for v in versions}
    a_lines = [r for r in a.query(sql).to_pylist() if r["customer_id"] in moved]
    old_city = 0
    for line in a_lines:
        (valid,) = [
            v
            for v in versions
            if v["customer_id"] == line["customer_id"]
            and v["valid_from"] <= line["_ingested_at"]
            and (v["valid_to"] is None or line["_ingested_at"] < v["valid_to"])
        ]
        assert line["customer_city"] == valid["city"]
        old_city += valid["valid_to"] is not None
    assert old_city > 0, "some lines keep a city the customer moved away from"
    # built from all files at once, every order sees the customer's latest version
    current = {
        r["customer_id"]: r["city"]
        for r in b.query(
            "select customer_id, city from silver.customers_history where is_current"
        ).to_pylist()
    }
    for line in b.query(sql).to_pylist():
        if line["customer_id"] in moved:
            assert line["customer_city"] == current[line["customer_id"]]


def test_a_drop_of_new_orders_rewrites_no_old_line(day_by_day: tuple) -> None:
    _, _, runs = day_by_day
    files = runs["files"]
    for before, after in (("first", "day2"), ("day2", "day3")):
        assert files[before] < files[after], f"{after}: every file of {before} is kept"
        step = runs[after].step(WIDE)
        assert step.details["merge_path"] == "append (no key exists yet)"


def test_incremental_steps_touch_only_new_data(day_by_day: tuple) -> None:
    a, _, runs = day_by_day
    day3 = runs["day3"]
    total_orders = a.query("select count(*) n from silver.fact_orders")["n"][0].as_py()
    orders = day3.step("silver.fact_orders")
    assert orders.details["mode"] == "incremental"
    # the new orders, plus older orders whose lines or payments arrived late
    assert 0 < orders.details["touched"] < total_orders / 5
    # only the buyers of the drop: "days since last order" is the view's, computed when read
    stats = day3.step("gold.customer_order_stats")
    total_buyers = a.query("select count(*) n from gold.customer_order_stats")["n"][0].as_py()
    assert stats.details["mode"] == "incremental"
    assert 0 < stats.details["touched"] < total_buyers / 5
    daily = day3.step("gold.sales_summary_daily")
    assert daily.details["mode"] == "incremental"
    assert len(daily.details["periods"]) < 10  # the new day(s), lookback and late payments


def test_history_keeps_the_old_city(day_by_day: tuple) -> None:
    a, b, _ = day_by_day
    moved = a.query(
        "select customer_id, count(*) versions, count(*) filter (where is_current) current "
        "from silver.customers_history group by 1 having count(*) > 1"
    ).to_pylist()
    assert moved, "the day drops change some customers' city"
    assert all(r["current"] == 1 for r in moved)
    cid = moved[0]["customer_id"]
    versions = a.query(
        f"select city, valid_from, valid_to, is_current from silver.customers_history "
        f"where customer_id = '{cid}' order by valid_from"
    ).to_pylist()
    assert versions[0]["city"] != versions[-1]["city"]
    assert versions[0]["valid_to"] == versions[1]["valid_from"]
    assert versions[-1]["is_current"] and versions[-1]["valid_to"] is None
    # one row per customer in the dimension, with the new city
    dim = a.query(f"select city from silver.dim_customers where customer_id = '{cid}'").to_pylist()
    assert [d["city"] for d in dim] == [versions[-1]["city"]]
    # current versions equal the rebuild's
    current = (
        "select * exclude (valid_from, valid_to, observed_at, source_file) "
        "from silver.customers_history "
    )
    assert sorted(map(str, a.query(current + "where is_current").to_pylist())) == sorted(
        map(str, b.query(current + "where is_current").to_pylist())
    )


def test_a_run_with_nothing_new_changes_nothing(day_by_day: tuple) -> None:
    a, _, runs = day_by_day
    again = runs["again"]
    assert again.ok
    after = {t: tables.info(a.catalog.path(t)).version for t in a.catalog.tables()}
    assert after == runs["versions_before_again"]
    assert sum(s.rows_written or 0 for s in again.steps) == 0


def test_the_ledger_adds_up_over_all_runs(day_by_day: tuple) -> None:
    a, _, _ = day_by_day
    verification = a.verify()
    bad = [line.problem for line in verification.lines if not line.ok]
    assert bad == []
    assert verification.ok


def test_day_drop_requires_an_initial_export(tmp_path: Path) -> None:
    from medallion.errors import TemplateError

    template = get_template("retail")
    template.scaffold(tmp_path)
    with pytest.raises(TemplateError):
        template.generate(tmp_path, day=2)


def test_a_large_drop_restricts_text_keys_by_range(tmp_path: Path) -> None:
    # more than 2000 touched keys: the restriction is a semi join with a range over the text
    # keys (OL00601..OL06800) in front, which must keep every row in scope
    template = get_template("retail")
    a_root, b_root = tmp_path / "a", tmp_path / "b"
    template.scaffold(a_root)
    template.generate(a_root, rows=600)
    a = Project.load(a_root)
    assert a.run(trigger="test").ok
    template.generate(a_root, day=2, rows=6200)
    day2 = a.run(trigger="test")
    assert day2.ok, day2.error
    assert day2.step("silver.fact_order_lines").details["touched"] > 2000
    template.scaffold(b_root)
    shutil.copytree(a_root / "data", b_root / "data", dirs_exist_ok=True)
    b = Project.load(b_root)
    assert b.run(trigger="test").ok
    for table in ("silver.fact_order_lines", "silver.fact_orders", "silver.fact_payments"):
        assert _rows(a, table) == _rows(b, table), table
    assert _rows(a, WIDE, AS_IT_WAS) == _rows(b, WIDE, AS_IT_WAS)
