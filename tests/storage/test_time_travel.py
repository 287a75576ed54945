"""Time travel and maintenance: history with run ids, queries as of a version or a time,
restore, optimize (compaction is not a change for incremental models) and vacuum with
per-layer retention."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from medallion.errors import ConfigError, QueryError
from medallion.project import Project
from medallion.storage import tables

CONFIG = """
name: travel
retention: {silver: 0 hours, gold: forever}
sources:
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, amount: INTEGER}
"""
MODELS = {
    "silver/t.sql": "select id, amount from bronze.sales\n",
    "silver/app.sql": "/* ---\nkind: append\n--- */\nselect id, amount from bronze.sales\n",
    "gold/g.sql": "select count(*) as n, sum(amount) as total from silver.t\n",
}


def rows(project: Project, sql: str, as_of: Any = None) -> list[dict[str, Any]]:
    return project.query(sql, as_of=as_of).to_pylist()


def data_files(project: Project, table: str) -> int:
    return pa.table(
        tables.open_table(project.catalog.path(table)).get_add_actions(flatten=True)
    ).num_rows


@pytest.fixture
def two_runs(make_project: Callable[..., Project]) -> tuple[Project, str, str]:
    """Two runs: silver.t and gold.g at v0 (ids 1, 2), then at v1 (ids 1, 2, 3)."""
    project = make_project(CONFIG, MODELS, {"data/sales1.csv": "id,amount\n1,10\n2,20\n"})
    first = project.run(trigger="test")
    assert first.ok, first.error
    time.sleep(0.05)  # commits of the two runs are milliseconds apart at least
    (project.root / "data/sales2.csv").write_text("id,amount\n3,30\n")
    second = project.run(trigger="test")
    assert second.ok, second.error
    return project, first.run_id, second.run_id


def test_history_lists_versions_with_their_runs(two_runs: tuple[Project, str, str]) -> None:
    project, first, second = two_runs

    name, history = project.table_history("t")

    assert name == "silver.t"
    assert [(h["version"], h["run_id"], h["operation"], h["mode"]) for h in history] == [
        (1, second, "WRITE", "Overwrite"),
        (0, first, "WRITE", "Overwrite"),
    ]
    assert [h["rows_added"] for h in history] == [3, 2]


def test_query_as_of_a_version_and_a_time(two_runs: tuple[Project, str, str]) -> None:
    project, _, _ = two_runs
    sql = "select id, amount from silver.t order by id"
    assert rows(project, sql, as_of=0) == [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]
    assert rows(project, sql, as_of="1") == rows(project, sql)
    assert len(rows(project, sql)) == 3

    _, history = project.table_history("silver.t")
    v1, v0 = history[0]["timestamp"], history[1]["timestamp"]
    between = v0 + (v1 - v0) / 2
    assert v0 < between < v1

    assert rows(project, sql, as_of=between) == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
    ]
    # a time applies to every table the query reads
    assert rows(
        project,
        "select t.n, t.total, s.c from gold.g t, (select count(*) c from silver.t) s",
        as_of=between,
    ) == [{"n": 2, "total": 30, "c": 2}]


def test_a_version_number_over_two_tables_is_an_error(two_runs: tuple[Project, str, str]) -> None:
    project, _, _ = two_runs

    with pytest.raises(QueryError) as err:
        project.query("select * from silver.t, gold.g", as_of=0)

    assert err.value.message == (
        "as of version 0: a version number belongs to one table, but the query reads 2 tables "
        "(silver.t, gold.g)"
    )


def test_a_time_before_the_first_version_is_an_error_not_version_0(
    two_runs: tuple[Project, str, str],
) -> None:
    project, _, _ = two_runs
    _, history = project.table_history("silver.t")
    before = history[-1]["timestamp"] - timedelta(hours=1)

    with pytest.raises(QueryError) as err:
        project.query("select * from silver.t", as_of=before)
    assert err.value.message.startswith(
        f"silver.t: the table did not exist at {before.isoformat()}: its first version was "
        "written at "
    )

    result = project.restore("silver.t", before)
    assert not result.ok
    assert "did not exist at" in (result.steps[0].error or "")
    assert tables.open_table(project.catalog.path("silver.t")).version() == 1  # no new version


def test_restoring_the_current_version_is_a_clear_error(two_runs: tuple[Project, str, str]) -> None:
    project, _, _ = two_runs
    result = project.restore("silver.t", 1)
    assert not result.ok
    assert "t: version 1 is the current version: there is nothing to restore" in (
        result.steps[0].error or ""
    )


def test_restore_makes_v0_current_as_a_new_version(two_runs: tuple[Project, str, str]) -> None:
    project, _, _ = two_runs

    result = project.restore("silver.t", 0)

    assert result.ok, result.error
    assert result.steps[0].delta_version == 2
    assert rows(project, "select id, amount from silver.t order by id") == rows(
        project, "select id, amount from silver.t order by id", as_of=0
    )
    _, history = project.table_history("silver.t")
    assert (history[0]["version"], history[0]["operation"], history[0]["run_id"]) == (
        2,
        "RESTORE",
        result.run_id,
    )
    assert project.runs(1)[0]["trigger"] == "restore"


def test_optimize_compacts_without_changing_rows_or_feeding_incremental_models(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(CONFIG, MODELS, {"data/sales1.csv": "id,amount\n1,10\n2,20\n"})
    assert project.run(trigger="test").ok
    for n, text in ((2, "3,30\n"), (3, "4,40\n5,50\n")):
        (project.root / f"data/sales{n}.csv").write_text("id,amount\n" + text)
        assert project.run(trigger="test").ok
    totals = "select count(*) as n, sum(amount) as s from silver.app"
    assert rows(project, totals) == [{"n": 5, "s": 150}]
    assert data_files(project, "silver.app") == 3
    assert data_files(project, "bronze.sales") == 3

    result = project.optimize(["silver.app", "bronze.sales"])

    assert result.ok, result.error
    assert [s.details for s in result.steps] == [
        {"files_removed": 3, "files_added": 1},
        {"files_removed": 3, "files_added": 1},
    ]
    assert data_files(project, "silver.app") == 1
    assert data_files(project, "bronze.sales") == 1
    assert rows(project, totals) == [{"n": 5, "s": 150}]
    # compaction is not new data: the append model reads nothing twice
    incremental = ("bronze.sales", "silver.app")
    before = {t: versions(project)[t] for t in incremental}
    again = project.run(trigger="test")
    assert again.step("silver.app").note == "no new data upstream"
    assert {t: versions(project)[t] for t in incremental} == before
    (project.root / "data/sales4.csv").write_text("id,amount\n6,60\n")
    after = project.run(trigger="test")
    assert after.step("silver.app").rows_written == 1
    assert rows(project, totals) == [{"n": 6, "s": 210}]


def test_vacuum_follows_each_layers_retention(two_runs: tuple[Project, str, str]) -> None:
    project, _, _ = two_runs
    silver_dir = project.catalog.path("silver.t")
    gold_dir = project.catalog.path("gold.g")
    silver_before = sorted(p.name for p in silver_dir.glob("*.parquet"))
    gold_before = sorted(p.name for p in gold_dir.glob("*.parquet"))
    assert (len(silver_before), len(gold_before)) == (2, 2)

    result = project.vacuum()

    assert result.ok, result.error
    step = {s.node: s for s in result.steps}
    assert len(step["silver.t"].details["files"]) == 1
    assert step["silver.t"].details["retention_hours"] == 0
    assert step["gold.g"].note == "kept: this layer's retention is forever"
    assert step["bronze.sales"].details == {"retention_hours": 168, "dry_run": False, "files": []}
    assert len(list(silver_dir.glob("*.parquet"))) == 1
    assert sorted(p.name for p in gold_dir.glob("*.parquet")) == gold_before
    # the current version reads fine; gold keeps its whole history
    assert rows(project, "select count(*) as n from silver.t") == [{"n": 3}]
    assert rows(project, "select n, total from gold.g", as_of=0) == [{"n": 2, "total": 30}]

    restore = project.restore("silver.t", 0)
    assert restore.status == "failed"
    assert "files of that version may have been removed by vacuum" in restore.steps[0].error
    # time travel to the vacuumed version: a clear error naming the table and the cause
    with pytest.raises(QueryError) as err:
        project.query("select * from silver.t", as_of=0)
    assert "silver.t" in str(err.value)
    assert "vacuum" in str(err.value)


def test_invalid_retention_is_a_load_error(make_project: Callable[..., Project]) -> None:
    with pytest.raises(ConfigError) as err:
        make_project("name: bad\nretention: {silver: 3 fortnights}\n")

    assert err.value.line == 2
    assert err.value.message == (
        "retention: retention of silver: retention '3 fortnights' is a number and a unit "
        "(hours, days, weeks, months, years), or 'forever'"
    )
