"""Incremental kinds on tiny projects: run twice, then add a file and check exactly what changed.

Sources use globs (data/orders*.csv), so writing data/orders2.csv is a new file for the next run.
Every expected value is written out by hand from the CSV text of the test.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest

from medallion.project import Project

CONFIG = """
name: kinds
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, seq: INTEGER, day: DATE, amount: INTEGER, status: VARCHAR}
"""
ORDERS1 = (
    "id,seq,day,amount,status\n"
    "1,1,2024-01-01,10,new\n"
    "2,2,2024-01-01,20,new\n"
    "3,3,2024-01-02,30,new\n"
)

KIND_MODELS = {
    "append": "/* ---\nkind: append\n--- */\nselect id, amount from bronze.orders\n",
    "merge": "/* ---\nkind: merge\nunique_key: id\n--- */\n"
    "select id, amount, _ingested_at from bronze.orders\n",
    "scd2": "/* ---\nkind: scd2\nunique_key: id\ntrack: [amount]\n--- */\n"
    "select id, amount from bronze.orders\n",
    "incremental_by_time": "/* ---\nkind: incremental_by_time\ntime_column: day\n--- */\n"
    "select day, sum(amount) as total from bronze.orders group by day\n",
    "table": "select id, amount from bronze.orders\n",
}


def rows(project: Project, sql: str) -> list[dict[str, Any]]:
    return project.query(sql).to_pylist()


@pytest.mark.parametrize("kind", list(KIND_MODELS))
def test_second_run_without_new_data_writes_nothing(
    make_project: Callable[..., Project],
    versions: Callable[[Project], dict[str, int]],
    kind: str,
) -> None:
    project = make_project(
        CONFIG, {"silver/m.sql": KIND_MODELS[kind]}, {"data/orders1.csv": ORDERS1}
    )
    first = project.run(trigger="test")
    assert first.ok, first.error
    before = versions(project)
    assert before == {"bronze.orders": 0, "silver.m": 0}

    second = project.run(trigger="test")

    assert second.ok, second.error
    assert versions(project) == before
    ingest = second.step("bronze.orders")
    assert ingest.note == "no new files (1 already ingested)"
    assert ingest.delta_version is None
    step = second.step("silver.m")
    assert "no new data" in step.note
    assert step.delta_version is None
    assert step.rows_written == 0
    assert project.verify().ok


def test_append_adds_exactly_the_new_rows(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(
        CONFIG, {"silver/m.sql": KIND_MODELS["append"]}, {"data/orders1.csv": ORDERS1}
    )
    assert project.run(trigger="test").ok
    (project.root / "data/orders2.csv").write_text(
        "id,seq,day,amount,status\n4,4,2024-01-03,40,new\n1,5,2024-01-03,11,new\n"
    )

    result = project.run(trigger="test")

    assert result.ok, result.error
    step = result.step("silver.m")
    assert (step.rows_in, step.rows_written, step.delta_version) == (2, 2, 1)
    assert step.details["mode"] == "incremental"
    assert step.details["new_files"] == {"bronze.orders": 1}
    assert rows(project, "select id, amount from silver.m order by id, amount") == [
        {"id": 1, "amount": 10},
        {"id": 1, "amount": 11},
        {"id": 2, "amount": 20},
        {"id": 3, "amount": 30},
        {"id": 4, "amount": 40},
    ]
    _, history = project.table_history("silver.m")
    assert (history[0]["mode"], history[0]["rows_added"]) == ("Append", 2)
    assert history[0]["run_id"] == result.run_id
    assert versions(project) == {"bronze.orders": 1, "silver.m": 1}
    assert project.verify().ok


MERGE = """\
/* ---
kind: merge
unique_key: id
order_by: seq
delete_when: status = 'deleted'
--- */
select id, seq, amount, status from bronze.orders
"""


def test_merge_updates_inserts_deletes_and_keeps_one_row_per_key(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, {"silver/m.sql": MERGE}, {"data/orders1.csv": ORDERS1})
    assert project.run(trigger="test").ok
    # 2 changes, 3 is deleted, 4 is new and appears twice (the higher seq wins)
    (project.root / "data/orders2.csv").write_text(
        "id,seq,day,amount,status\n"
        "2,4,2024-01-01,25,new\n"
        "4,5,2024-01-03,40,new\n"
        "3,6,2024-01-02,0,deleted\n"
        "4,7,2024-01-03,45,new\n"
    )

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert rows(project, "select id, seq, amount, status from silver.m order by id") == [
        {"id": 1, "seq": 1, "amount": 10, "status": "new"},
        {"id": 2, "seq": 4, "amount": 25, "status": "new"},
        {"id": 4, "seq": 7, "amount": 45, "status": "new"},
    ]
    step = result.step("silver.m")
    assert step.details["touched"] == 3
    assert step.details["merge"] == {"inserted": 1, "updated": 1, "deleted": 1}
    # keys 2, 3, 4 recomputed from the whole input: 6 rows, one kept per key
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        6,
        3,
        3,
        0,
    )
    assert step.rows_in == step.rows_written + step.rows_dropped + step.rows_quarantined
    assert step.delta_version == 1
    assert project.verify().ok


SCD2 = """\
/* ---
kind: scd2
unique_key: id
track: [city]
valid_from: observed_at
order_by: observed_at
--- */
select id, city, note, _ingested_at as observed_at from bronze.customers
"""
SCD2_CONFIG = """
name: hist
sources:
  customers:
    path: data/customers*.csv
    columns: {id: INTEGER, city: VARCHAR, note: VARCHAR}
"""
CUSTOMERS2 = "id,city,note\n1,Rome,a\n2,Lyon,zzz\n4,Oslo,d\n"


@pytest.fixture
def scd2_project(make_project: Callable[..., Project]) -> Project:
    project = make_project(
        SCD2_CONFIG,
        {"silver/h.sql": SCD2},
        {"data/customers1.csv": "id,city,note\n1,Paris,a\n2,Lyon,b\n3,Nice,c\n"},
    )
    assert project.run(trigger="test").ok
    # 1 moves (tracked), 2 changes only its note (not tracked), 4 is new
    (project.root / "data/customers2.csv").write_text(CUSTOMERS2)
    return project


def test_scd2_closes_the_old_version_and_opens_a_new_one(scd2_project: Project) -> None:
    project = scd2_project

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert rows(
        project,
        "select id, city, note, is_current, valid_to is null as open from silver.h "
        "order by id, valid_from",
    ) == [
        {"id": 1, "city": "Paris", "note": "a", "is_current": False, "open": False},
        {"id": 1, "city": "Rome", "note": "a", "is_current": True, "open": True},
        {"id": 2, "city": "Lyon", "note": "b", "is_current": True, "open": True},
        {"id": 3, "city": "Nice", "note": "c", "is_current": True, "open": True},
        {"id": 4, "city": "Oslo", "note": "d", "is_current": True, "open": True},
    ]
    # the old version of 1 closes exactly when the new one opens: the second file's ingest time
    (closed,) = rows(project, "select valid_to from silver.h where id = 1 and not is_current")
    (opened,) = rows(project, "select valid_from from silver.h where id = 1 and is_current")
    (second,) = rows(
        project,
        "select _ingested_at from bronze.customers where _source_file = 'data/customers2.csv' "
        "limit 1",
    )
    assert closed["valid_to"] == opened["valid_from"] == second["_ingested_at"]
    step = result.step("silver.h")
    assert step.details["scd2"] == {"new_keys": 1, "changed": 1, "unchanged": 1}
    assert step.rows_in == step.rows_written + step.rows_dropped + step.rows_quarantined
    assert project.verify().ok


def test_scd2_identical_file_under_a_new_name_adds_no_version(
    scd2_project: Project, versions: Callable[[Project], dict[str, int]]
) -> None:
    project = scd2_project
    assert project.run(trigger="test").ok
    table_before = rows(project, "select * from silver.h order by id, valid_from")
    before = versions(project)
    shutil.copy(project.root / "data/customers2.csv", project.root / "data/customers3.csv")

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert result.step("bronze.customers").rows_written == 3
    step = result.step("silver.h")
    assert step.details["scd2"] == {"new_keys": 0, "changed": 0, "unchanged": 3}
    assert step.delta_version is None
    # no row was committed; one commit records what was read, so the next run does not read
    # the same rows again
    assert versions(project) == {
        **before,
        "bronze.customers": before["bronze.customers"] + 1,
        "silver.h": before["silver.h"] + 1,
    }
    assert rows(project, "select * from silver.h order by id, valid_from") == table_before
    assert project.run(trigger="test").step("silver.h").note == "no new data upstream"
    # no row was committed, so the step wrote nothing and the ledger balances
    assert step.rows_written == 0
    assert project.verify().ok


def test_scd2_track_limits_what_counts_as_a_change(scd2_project: Project) -> None:
    project = scd2_project
    assert project.run(trigger="test").ok
    # only the untracked note changes: no new version, and the current row keeps its note
    (project.root / "data/customers3.csv").write_text("id,city,note\n3,Nice,changed\n")

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert result.step("silver.h").details["scd2"] == {
        "new_keys": 0,
        "changed": 0,
        "unchanged": 1,
    }
    assert rows(project, "select id, city, note, is_current from silver.h where id = 3") == [
        {"id": 3, "city": "Nice", "note": "c", "is_current": True}
    ]
    assert rows(project, "select count(*) as n from silver.h") == [{"n": 5}]


# A first build streams the model's rows straight into the table. With `order_by`, copies of a
# key are expected and de-duplicated on the way; without, a repeated key is only found at the end
# of the stream, which then aborts the write and builds again de-duplicating. Either way the
# result must be as if the rows had been de-duplicated from the start, in one commit.
FIRST_BUILD_DUPLICATES = (
    "id,seq,day,amount,status\n"
    "1,1,2024-01-01,10,new\n"
    "2,3,2024-01-01,21,new\n"
    "2,2,2024-01-01,20,new\n"
    "3,4,2024-01-02,30,new\n"
    "3,4,2024-01-02,30,new\n"  # an exact copy: the same row whichever copy is kept
)


def _files_on_disk(project: Project, table: str) -> set[str]:
    path = project.catalog.path(table)
    return {p.relative_to(path).as_posix() for p in path.rglob("*.parquet")}


def _files_in_table(project: Project, table: str) -> set[str]:
    import pyarrow as pa
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(str(project.catalog.path(table))).get_add_actions())
    return set(actions.column("path").to_pylist())


@pytest.mark.parametrize("kind", ["merge", "scd2"])
@pytest.mark.parametrize("order_by", [True, False], ids=["order_by", "no_order_by"])
def test_first_build_with_repeated_keys_keeps_one_row_per_key(
    make_project: Callable[..., Project], kind: str, order_by: bool
) -> None:
    config = "order_by: seq\n" if order_by else ""
    if kind == "scd2":
        config += "valid_from: day\n"
    # without order_by, which copy of key 2 wins is arbitrary: only the exact copies of key 3
    # are compared in full
    where = "" if order_by else "where id <> 2 or seq = 3"
    model = (
        f"/* ---\nkind: {kind}\nunique_key: id\n{config}--- */\n"
        f"select id, seq, day, amount from bronze.orders {where}\n"
    )
    project = make_project(CONFIG, {"silver/m.sql": model}, {"data/orders1.csv": ORDERS1})
    (project.root / "data/orders1.csv").write_text(FIRST_BUILD_DUPLICATES)

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert rows(project, "select id, seq, amount from silver.m order by id") == [
        {"id": 1, "seq": 1, "amount": 10},
        {"id": 2, "seq": 3, "amount": 21},
        {"id": 3, "seq": 4, "amount": 30},
    ]
    step = result.step("silver.m")
    n_in = 5 if order_by else 4
    assert (step.rows_in, step.rows_written, step.rows_dropped) == (n_in, 3, n_in - 3)
    assert step.delta_version == 0  # one commit: an aborted streamed write committed nothing
    # and left no data file behind
    assert _files_on_disk(project, "silver.m") == _files_in_table(project, "silver.m")
    assert project.verify().ok


@pytest.mark.parametrize("kind", ["merge", "scd2"])
def test_first_build_with_unique_keys_streams_in_one_commit(
    make_project: Callable[..., Project], kind: str
) -> None:
    project = make_project(
        CONFIG, {"silver/m.sql": KIND_MODELS[kind]}, {"data/orders1.csv": ORDERS1}
    )

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert rows(project, "select id, amount from silver.m order by id") == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
        {"id": 3, "amount": 30},
    ]
    step = result.step("silver.m")
    assert (step.rows_in, step.rows_written, step.rows_dropped) == (3, 3, 0)
    assert step.delta_version == 0
    assert _files_on_disk(project, "silver.m") == _files_in_table(project, "silver.m")
