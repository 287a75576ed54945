"""`scd2` written by Spark's executors: a first build written as Spark's files; an incremental run
closes the current versions of changed keys and opens new versions of changed and new keys in
one delta-rs transaction that rewrites only the files holding a changed key's current version;
unchanged keys add nothing. Row for row equal to the same project built on DuckDB after every
run, with the same `scd2` counts in the run log, and `verify` passes.

In-process on the session's one local Spark (the `spark` fixture).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project
from tests.engine.spark.tablediff import table_digests

from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.spark

CONFIG = """
name: hist
sources:
  customers:
    path: data/c*.csv
    columns: {id: INTEGER, city: VARCHAR, note: VARCHAR, region: VARCHAR, seen: DATE}
"""
DAY1 = (
    "id,city,note,region,seen\n"
    "1,Paris,a,west,2026-01-01\n"
    "2,Lyon,b,west,2026-01-01\n"
    "3,Nice,c,south,2026-01-01\n"
    "4,Oslo,d,north,2026-01-01\n"
    "5,Nowhere,e,north,2026-01-01\n"  # quarantined by silver.people
    "6,Rome,f,south,2026-01-01\n"
)
DAY2 = (
    "id,city,note,region,seen\n"
    "1,Rome,a,west,2026-01-02\n"  # moves: a tracked change
    "2,Lyon,zzz,west,2026-01-02\n"  # only the untracked note changes (silver.hist)
    "3,Nice,c,south,2026-01-02\n"  # unchanged
    "7,Bern,g,east,2026-01-02\n"  # new
    "7,Genf,g,east,2026-01-03\n"  # new, a later copy: the highest `seen` wins
    "8,Nowhere,h,east,2026-01-02\n"  # new, quarantined by silver.people
)
MODELS = {
    # valid_from from the data, only `city` tracked, copies of a key ordered by `seen`
    "silver/hist.sql": """
        /* ---
        kind: scd2
        unique_key: id
        track: [city]
        valid_from: seen
        order_by: seen
        --- */
        select id, city, note, region, seen from bronze.customers
    """,
    # valid_from the run's time, partitioned, with a quarantine
    "silver/people.sql": """
        /* ---
        kind: scd2
        unique_key: id
        track: [city, note]
        order_by: seen
        partition_by: [region]
        expectations:
          somewhere: {expect: "city <> 'Nowhere'", action: quarantine}
        --- */
        select id, city, note, region, seen from bronze.customers
    """,
}


def _log(path: Path, version: int) -> list[dict[str, Any]]:
    text = (path / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line]


def _run(project: Project, windows: list[tuple[datetime, datetime]]) -> Any:
    start = datetime.now(UTC)
    result = project.run(trigger="test")
    windows.append((start, datetime.now(UTC)))
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    return result


def _current(project: Project, table: str) -> list[dict[str, Any]]:
    return project.query(
        f"select id, city, is_current, valid_to is null as open from {table}"
        " order by id, valid_from"
    ).to_pylist()


def test_scd2_written_by_executors_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    on_spark = write_project(
        tmp_path / "spark", CONFIG + "engine: {type: spark}\n", MODELS, {"data/c1.csv": DAY1}
    )
    on_duckdb = write_project(tmp_path / "duckdb", CONFIG, MODELS, {"data/c1.csv": DAY1})
    sp, dk = Project.load(on_spark), Project.load(on_duckdb)
    sp_windows: list[tuple[datetime, datetime]] = []
    dk_windows: list[tuple[datetime, datetime]] = []
    for day in (1, 2, 3):
        if day == 2:
            for root in (on_spark, on_duckdb):
                (root / "data/c2.csv").write_text(DAY2)
        if day == 3:  # the same rows again under a new name: no key changes
            for root in (on_spark, on_duckdb):
                (root / "data/c3.csv").write_text(DAY2)
        result = _run(sp, sp_windows)
        expected = _run(dk, dk_windows)
        a = table_digests(sp.workspace.storage_root, sp_windows)
        b = table_digests(dk.workspace.storage_root, dk_windows)
        assert a == b and len(a) == 4, day
        for node in ("silver.hist", "silver.people"):
            mine, theirs = result.step(node), expected.step(node)
            assert mine.details["scd2"] == theirs.details["scd2"], (day, node)
            assert mine.details["delta_rows"] == theirs.details["delta_rows"], (day, node)
            counts = ("rows_in", "rows_written", "rows_dropped", "rows_quarantined")
            assert [getattr(mine, c) for c in counts] == [getattr(theirs, c) for c in counts]
        if day == 2:
            second = result

    step = second.step("silver.hist")
    assert step.details["scd2"] == {"new_keys": 2, "changed": 1, "unchanged": 2}
    assert (step.rows_in, step.rows_written, step.rows_dropped) == (
        9,
        3,
        6,
    )  # keys 1-3 recomputed from both files
    assert _current(sp, "silver.hist") == [
        {"id": 1, "city": "Paris", "is_current": False, "open": False},
        {"id": 1, "city": "Rome", "is_current": True, "open": True},
        {"id": 2, "city": "Lyon", "is_current": True, "open": True},
        {"id": 3, "city": "Nice", "is_current": True, "open": True},
        {"id": 4, "city": "Oslo", "is_current": True, "open": True},
        {"id": 5, "city": "Nowhere", "is_current": True, "open": True},
        {"id": 6, "city": "Rome", "is_current": True, "open": True},
        {"id": 7, "city": "Genf", "is_current": True, "open": True},
        {"id": 8, "city": "Nowhere", "is_current": True, "open": True},
    ]
    # the old version of 1 closes exactly when the new one opens
    closed = sp.query("select valid_to from silver.hist where id = 1 and not is_current")
    assert closed.to_pylist() == [{"valid_to": datetime(2026, 1, 2, tzinfo=UTC)}]
    # written as Spark's files: the first build's and the closing run's files, one transaction
    # removing the file that held key 1's current version and adding the closed and new rows
    hist = sp.catalog.path("silver.hist")
    assert all(a["add"]["path"].startswith("spark-") for a in _log(hist, 0) if "add" in a)
    log = _log(hist, 1)
    removes = [a["remove"] for a in log if "remove" in a]
    adds = [a["add"] for a in log if "add" in a]
    assert len(removes) == 1 and adds and all(a["path"].startswith("spark-") for a in adds)
    assert [a["txn"]["version"] for a in log if "txn" in a] == [2]
    info = next(a["commitInfo"] for a in log if "commitInfo" in a)
    assert info["medallion.model"] == "silver.hist"
    assert info[tables.RUN_ID_KEY] == second.run_id
    # what the commit did, as delta-rs's writers record it: 1 closed + 1, 7 and 8 opened, and
    # the rewritten file's other rows copied, key 1's open version removed (it is added closed)
    kept = sum(json.loads(a["stats"])["numRecords"] for a in adds) - 4
    assert info["operationMetrics"] == {
        "num_added_files": len(adds),
        "num_removed_files": 1,
        "num_added_rows": 4,
        "num_copied_rows": kept,
        "num_removed_rows": 1,
    }
    assert kept > 0

    # partitioned: only the partition holding a changed key's current version (1, west;
    # 2 changed its note, tracked here) is rewritten; new keys (east) add files
    people = sp.catalog.path("silver.people")
    log = _log(people, 1)
    assert {a["remove"]["partitionValues"]["region"] for a in log if "remove" in a} == {"west"}
    step = second.step("silver.people")
    assert step.details["scd2"] == {"new_keys": 1, "changed": 2, "unchanged": 1}
    assert step.rows_quarantined == 1
    # the third run: nothing changed, nothing written, the read recorded alone
    assert result.step("silver.hist").delta_version is None
    assert result.step("silver.hist").details["scd2"] == {
        "new_keys": 0,
        "changed": 0,
        "unchanged": 5,
    }
    assert tables.info(hist).version == 2
    verification = sp.verify(5)
    assert verification.ok
    # compared with the commits, not passed for want of their counts
    compared = {
        (line.table, line.table_matches) for line in verification.lines if line.rows_written
    }
    assert compared == {
        ("bronze.customers", True),
        ("silver.hist", True),
        ("silver.people", True),
    }

    # verify compares the step's counts with what the Spark-written commit recorded: a ledger
    # saying the commit applied one row more is reported
    _tamper_delta_rows(sp, second.run_id, "hist")
    verification = sp.verify(5)
    assert not verification.ok
    (bad,) = [line for line in verification.lines if not line.ok]
    assert (bad.run_id, bad.table, bad.table_matches) == (second.run_id, "silver.hist", False)
    assert bad.problem == "the Delta commit v1 applied 4 rows, not 5"


def _tamper_delta_rows(project: Project, run_id: str, table: str) -> None:
    """The run log of `run_id`'s step building `table` says its commit applied one row more."""
    con = sqlite3.connect(project.state_dir / "state.db")
    try:
        (details,) = con.execute(
            "SELECT details FROM run_steps WHERE run_id = ? AND table_name = ?", (run_id, table)
        ).fetchone()
        data = json.loads(details)
        data["delta_rows"] += 1
        con.execute(
            "UPDATE run_steps SET details = ? WHERE run_id = ? AND table_name = ?",
            (json.dumps(data), run_id, table),
        )
        con.commit()
    finally:
        con.close()
