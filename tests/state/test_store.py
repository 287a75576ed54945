"""The SQLite state database: schema versioning, runs and steps, dead runs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from medallion.errors import StateError
from medallion.state.store import StateStore, new_run_id


def test_run_and_steps_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".medallion")
    run_id = new_run_id()
    store.start_run(run_id, trigger="test", command="medallion run", selection="+x")
    store.start_step(run_id, 1, "ingest", "bronze", "orders")
    store.end_step(
        run_id,
        1,
        status="success",
        rows_read=5,
        rows_written=4,
        rows_quarantined=1,
        delta_version=0,
        duration_s=0.5,
        details={"files": ["a.csv"]},
    )
    store.add_skipped_step(run_id, 2, "model", "silver", "x", "upstream failed")
    store.end_run(run_id, "failed", "1 step(s) failed")
    run = store.run(run_id)
    assert run is not None
    assert (run["status"], run["trigger"], run["selection"]) == ("failed", "test", "+x")
    assert run["ended_at"] >= run["started_at"]
    steps = store.steps(run_id)
    assert [(s["step_no"], s["status"]) for s in steps] == [(1, "success"), (2, "skipped")]
    assert steps[0]["details"] == {"files": ["a.csv"]}
    assert (steps[0]["rows_read"], steps[0]["rows_written"], steps[0]["rows_quarantined"]) == (
        5,
        4,
        1,
    )
    summary = store.run_summaries(5)[0]
    assert (summary["steps"], summary["skipped_steps"], summary["rows_written"]) == (2, 1, 4)
    with pytest.raises(ValueError, match="unknown step columns"):
        store.end_step(run_id, 1, bogus=1)


def test_schema_is_versioned(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.runs()
    con = sqlite3.connect(tmp_path / "state.db")
    from medallion.state.store import _MIGRATIONS

    assert con.execute("PRAGMA user_version").fetchone()[0] == len(_MIGRATIONS)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(StateError, match="newer medallion"):
        StateStore(tmp_path).runs()


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as err:
        StateStore(tmp_path).runs()
    assert err.value.hint and "move it away" in err.value.hint


def test_run_of_a_dead_process_is_marked_aborted(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    run_id = new_run_id()
    store.start_run(run_id, trigger="test", command="run", selection=None)
    store.start_step(run_id, 1, "model", "silver", "x")
    # pretend the run belonged to a process that has since exited
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    con = sqlite3.connect(tmp_path / "state.db")
    con.execute("UPDATE runs SET pid = ? WHERE run_id = ?", (int(dead.stdout), run_id))
    con.commit()
    con.close()
    run = StateStore(tmp_path).runs(1)[0]
    assert run["status"] == "aborted"
    assert StateStore(tmp_path).steps(run_id)[0]["status"] == "aborted"


def test_a_session_shares_one_connection_and_rolls_back_a_failed_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's bookkeeping goes through one connection; a statement failing inside a
    transaction does not leave that connection in it (the next write would join it)."""
    store = StateStore(tmp_path / ".medallion")
    opened: list[str] = []
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append("x") or real(*a, **k))
    run_id = new_run_id()
    with store.session():
        store.start_run(run_id, trigger="test", command="medallion run", selection=None)
        store.start_step(run_id, 1, "ingest", "bronze", "orders")
        with pytest.raises(StateError), store.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO no_such_table VALUES (1)")
        with store.connect() as con:
            assert not con.in_transaction
        store.end_step(run_id, 1, status="success")
        store.end_run(run_id, "success")
    assert len(opened) == 1
    run = store.run(run_id)  # after the session: a connection of its own again
    assert run is not None and run["status"] == "success"
    assert len(opened) == 2


def test_runs_recorded_before_kinds_get_theirs_from_their_trigger_and_steps(
    tmp_path: Path,
) -> None:
    """A state database of schema 5 (no run kinds) upgraded in place: a test run is told by
    its `test` steps, maintenance and publish runs by their trigger, the rest are builds."""
    from medallion.state.store import _MIGRATIONS, _split

    con = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    for script in _MIGRATIONS[:5]:
        for statement in _split(script):
            con.execute(statement)
    con.execute("PRAGMA user_version = 5")
    runs = [
        ("r1", "cli", "medallion run", "model"),
        ("r2", "cli", "medallion test --select x", "test"),
        ("r3", "optimize", "optimize", "optimize"),
        ("r4", "api", "test", None),  # a test that found no checks: its command says it
        ("r5", "publish", "publish", "publish"),
    ]
    for i, (run_id, trigger, command, step) in enumerate(runs):
        con.execute(
            "INSERT INTO runs (run_id, started_at, status, trigger, command) "
            "VALUES (?, ?, 'success', ?, ?)",
            (run_id, f"2026-01-0{i + 1}T00:00:00+00:00", trigger, command),
        )
        if step:
            con.execute(
                "INSERT INTO run_steps (run_id, step_no, step, layer, table_name, status) "
                "VALUES (?, 1, ?, 'silver', 'x', 'success')",
                (run_id, step),
            )
    con.close()
    store = StateStore(tmp_path)
    kinds = {r["run_id"]: r["kind"] for r in store.runs()}
    assert kinds == {"r1": "run", "r2": "test", "r3": "optimize", "r4": "test", "r5": "publish"}
    assert [r["run_id"] for r in store.runs(5, kind="test")] == ["r4", "r2"]
    assert store.runs(1, kind="run")[0]["run_id"] == "r1"
