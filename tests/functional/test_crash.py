"""Crash safety: a run killed with SIGKILL at a fault point, then run again, leaves every table
exactly as an uninterrupted run does — no row lost, none duplicated.

Two identical projects are built: "killed" runs `medallion run` in a subprocess with
MEDALLION_FAULT set (it dies with -9), then runs again normally; "clean" just runs. Their tables
are compared row for row, without the columns that hold times and run ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.conftest import killed_run

from medallion.project import Project

CONFIG = """
name: crash
sources:
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, amount: INTEGER}
    max_rejected: 100%  # a few lines a file: one bad line is more than the default 10%
"""
MODELS = {
    # merge with a quarantine expectation: a model quarantine table too
    "silver/s.sql": """\
        /* ---
        kind: merge
        unique_key: id
        expectations:
          positive: {expect: amount > 0, action: quarantine}
        --- */
        select id, amount, _ingested_at from bronze.sales
        """,
    "silver/app.sql": "/* ---\nkind: append\n--- */\nselect id, amount from bronze.sales\n",
    "gold/g.sql": "select count(*) as n, sum(amount) as total from silver.s\n",
}
GOOD1 = "id,amount\n1,10\n2,20\n"
# a row that cannot be parsed (bronze quarantine) and one that fails the expectation
BAD2 = "id,amount\n2,25\n3,oops\n4,40\n5,0\n"

VOLATILE = {
    "_ingested_at",
    "_run_id",
    "_quarantined_at",
    "_quarantine_id",
    "valid_from",
    "valid_to",
}
POINTS = [
    "mid-write:bronze.sales",
    "after-bronze:bronze.sales",
    "mid-write:silver.s",
    "after-commit:silver.s",
]


def frozen(value: Any) -> Any:
    """Lists (e.g. _failed_expectations) as tuples, so rows can be compared as sets."""
    return tuple(frozen(v) for v in value) if isinstance(value, list) else value


def snapshot(project: Project) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (stable columns only), sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in project.catalog.tables():
        data = project.query(f"select * from {table}")
        keep = sorted(c for c in data.column_names if c not in VOLATILE)
        out[table] = sorted(
            (tuple(frozen(r[c]) for c in keep) for r in data.select(keep).to_pylist()), key=repr
        )
    return out


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("stage", ["first-run", "later-run"])
def test_killed_run_then_rerun_equals_an_uninterrupted_run(
    make_project: Callable[..., Project], point: str, stage: str
) -> None:
    files = {"data/sales1.csv": GOOD1} if stage == "later-run" else {"data/sales1.csv": BAD2}
    killed = make_project(CONFIG, MODELS, files, name="killed")
    clean = make_project(CONFIG, MODELS, files, name="clean")
    if stage == "later-run":
        for project in (killed, clean):
            assert project.run(trigger="test").ok
            (project.root / "data/sales2.csv").write_text(BAD2)

    proc = killed_run(killed.root, point, timeout=120)
    assert proc.returncode == -9, proc.stderr  # the fault point was reached
    rerun = killed.run(trigger="test")
    reference = clean.run(trigger="test")

    assert reference.ok, reference.error
    assert rerun.ok, rerun.error
    expected = snapshot(clean)
    assert sorted(expected) == [
        "bronze.sales",
        "bronze.sales__quarantine",
        "gold.g",
        "silver.app",
        "silver.s",
        "silver.s__quarantine",
    ]
    actual = snapshot(killed)
    assert actual == expected
    for table, table_rows in actual.items():
        assert len(set(table_rows)) == len(table_rows), f"duplicate rows in {table}"
    assert killed.verify().ok
    statuses = [(r["trigger"], r["status"]) for r in killed.runs()]
    assert ("manual", "aborted") in statuses
    assert statuses[0] == ("test", "success")


def test_reference_tables_hold_the_expected_rows(make_project: Callable[..., Project]) -> None:
    """The uninterrupted run the crash tests compare with, written out by hand."""
    project = make_project(CONFIG, MODELS, {"data/sales1.csv": GOOD1})
    assert project.run(trigger="test").ok
    (project.root / "data/sales2.csv").write_text(BAD2)
    assert project.run(trigger="test").ok

    tables = snapshot(project)

    assert tables["bronze.sales"] == [
        ("data/sales1.csv", 10, 1),
        ("data/sales1.csv", 20, 2),
        ("data/sales2.csv", 0, 5),
        ("data/sales2.csv", 25, 2),
        ("data/sales2.csv", 40, 4),
    ]
    quarantine = project.query(
        "select _source_file, _line, _raw, _batch from bronze.sales__quarantine"
    ).to_pylist()
    assert quarantine == [
        {"_source_file": "data/sales2.csv", "_line": 3, "_raw": "3,oops", "_batch": 2}
    ]
    assert project.query("select id, amount from silver.s order by id").to_pylist() == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 25},
        {"id": 4, "amount": 40},
    ]
    assert project.query("select id, amount from silver.s__quarantine").to_pylist() == [
        {"id": 5, "amount": 0}
    ]
    assert project.query("select * from gold.g").to_pylist() == [{"n": 3, "total": 75}]
    assert project.query("select count(*) as n from silver.app").to_pylist() == [{"n": 5}]
