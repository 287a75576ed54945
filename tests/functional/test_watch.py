"""Continuous mode (`medallion run --watch`): runs happen when input lands, exactly once, and
the watcher stops cleanly on SIGTERM — after the current run, or (second signal) cutting it short
without a partial commit.

Watchers run either in a thread of this process (Project.watch, with a stop event) or as a
`medallion run --watch --json` subprocess, whose JSON lines say what it did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medallion.orchestrate.watch import WatchEvent, watch
from medallion.project import Project

CONFIG = """
name: watched
sources:
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, amount: INTEGER}
"""
MODELS = {
    "silver/s.sql": """\
        /* ---
        kind: merge
        unique_key: id
        --- */
        select id, amount from bronze.sales
        """,
    "gold/g.sql": "select count(*) as n, sum(amount) as total from silver.s\n",
}
FILE1 = "id,amount\n1,10\n2,20\n"
FILE2 = "id,amount\n3,30\n4,40\n5,50\n"


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@contextmanager
def watcher(root: Path, interval: float = 0.1) -> Iterator[list[WatchEvent]]:
    """Project.watch in a thread (which loads its own Project: the state database connection
    belongs to one thread); yields the list its events are appended to; stops it on exit."""
    events: list[WatchEvent] = []
    stop = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            watch(Project.load(root), interval=interval, stop=stop, on_event=events.append)
        except BaseException as e:  # surfaced in the test thread
            failure.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        yield events
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the watcher did not stop"
    assert not failure, failure


def runs(events: list[WatchEvent]) -> list[WatchEvent]:
    return [e for e in events if e.kind == "run"]


def test_watch_catches_up_then_runs_only_when_a_file_lands(
    make_project: Callable[..., Project],
) -> None:
    root = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1}).root
    with watcher(root) as events:
        wait_for(lambda: len(runs(events)) == 1)
        time.sleep(1.0)  # ten polls with nothing new
        assert len(runs(events)) == 1
        (root / "data/sales2.csv").write_text(FILE2)
        wait_for(lambda: len(runs(events)) == 2)
        time.sleep(0.5)
    done = runs(events)
    assert len(done) == 2
    assert all(e.result is not None and e.result.ok for e in done)
    assert done[1].pending == {"sales": 1}
    second = done[1].result
    assert second is not None
    assert second.step("bronze.sales").rows_written == 3  # only the new file

    project = Project.load(root)
    assert project.query("select n, total from gold.g").to_pylist() == [{"n": 5, "total": 150}]
    assert project.query("select count(*) as c from bronze.sales").to_pylist() == [{"c": 5}]
    assert [(r["trigger"], r["status"]) for r in project.runs()] == [("watch", "success")] * 2


def test_pending_input_counts_new_files_without_running_anything(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1})
    assert project.pending_input() == {"sales": 1}
    assert project.catalog.tables() == []  # nothing was written by asking
    assert project.run(trigger="test").ok
    assert project.pending_input() == {}

    # a copy of an ingested file under its own name is new; touching one is not
    (project.root / "data/sales2.csv").write_text(FILE2)
    os.utime(project.root / "data/sales1.csv", (time.time() + 5, time.time() + 5))
    assert project.pending_input() == {"sales": 1}
    assert project.pending_input(["gold.g"]) == {}  # the source is not selected


def test_watch_reloads_edited_models_and_waits_out_a_broken_edit(
    make_project: Callable[..., Project],
) -> None:
    root = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1}).root
    gold = root / "models/gold/g.sql"
    with watcher(root) as events:
        wait_for(lambda: len(runs(events)) == 1)
        gold.write_text("select count(*) as n, sum(amount) as total from silver.s where\n")
        wait_for(lambda: any(e.kind == "error" for e in events))
        (root / "data/sales2.csv").write_text(FILE2)  # new input, but the project is broken
        time.sleep(1.0)
        assert len(runs(events)) == 1
        errors = [e for e in events if e.kind == "error"]
        assert len(errors) == 1  # reported once, not at every poll
        assert "g.sql" in errors[0].message
        gold.write_text("select count(*) as n, sum(amount) * 2 as total from silver.s\n")
        wait_for(lambda: len(runs(events)) == 2)
    project = Project.load(root)
    assert project.query("select n, total from gold.g").to_pylist() == [{"n": 5, "total": 300}]


def test_a_project_broken_when_the_watcher_starts_is_reported_once(
    make_project: Callable[..., Project],
) -> None:
    bad = {**MODELS, "gold/x.sql": "select * from silver.nope\n"}
    root = make_project(CONFIG, bad, {"data/sales1.csv": FILE1}).root
    with watcher(root, interval=0.05) as events:
        wait_for(lambda: any(e.kind == "error" for e in events))
        time.sleep(0.5)  # ten polls
        assert [e.kind for e in events] == ["error"]
        assert "unknown table silver.nope" in events[0].message
        (root / "models/gold/x.sql").write_text("select n from gold.g\n")
        wait_for(lambda: len(runs(events)) == 1)
    assert runs(events)[0].result is not None and runs(events)[0].result.ok


def test_max_runs_ends_a_watcher_whose_project_is_broken(
    make_project: Callable[..., Project],
) -> None:
    bad = {**MODELS, "gold/x.sql": "select * from silver.nope\n"}
    root = make_project(CONFIG, bad, {"data/sales1.csv": FILE1}).root
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", "run", "--watch", "--max-runs", "1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("unknown table silver.nope") == 1


def test_watch_waits_while_another_writer_holds_the_lock(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1})
    with project.writer("optimize"), watcher(project.root) as events:
        wait_for(lambda: any(e.kind == "busy" for e in events))
        assert runs(events) == []
        busy = next(e for e in events if e.kind == "busy")
        assert "optimize" in busy.message
        # (the lock is released when the `with` ends; the watcher is stopped first)
    with watcher(project.root) as events:
        wait_for(lambda: len(runs(events)) == 1)
    assert Project.load(project.root).query("select n from gold.g").to_pylist() == [{"n": 2}]


# -- the CLI: signals --------------------------------------------------------------------------


def cli_watch(root: Path, fault: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ}
    env.pop("MEDALLION_FAULT", None)
    if fault:
        env["MEDALLION_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "medallion", "run", "--watch", "--interval", "0.2", "--json"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def next_event(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the test's timeout guards a watcher that never prints
    assert line, f"the watcher ended: {proc.stderr.read() if proc.stderr else ''}"
    return json.loads(line)


def test_sigterm_between_runs_stops_the_watcher_cleanly(
    make_project: Callable[..., Project],
) -> None:
    root = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1}).root
    proc = cli_watch(root)
    try:
        first = next_event(proc)
        assert first["event"] == "run" and first["run"]["status"] == "success"
        (root / "data/sales2.csv").write_text(FILE2)
        second = next_event(proc)
        assert second["pending"] == {"sales": 1}
        bronze = next(s for s in second["run"]["steps"] if s["node"] == "bronze.sales")
        assert bronze["rows_written"] == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    project = Project.load(root)
    assert project.query("select count(*) as c from bronze.sales").to_pylist() == [{"c": 5}]
    assert all(r["status"] == "success" for r in project.runs())


def test_sigterm_during_a_run_lets_it_finish(make_project: Callable[..., Project]) -> None:
    """The signal arrives right after silver.s committed: gold.g is still built, the run ends
    `success`, then the watcher exits 0 without polling again."""
    root = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1}).root
    proc = cli_watch(root, fault="after-commit:silver.s@term")
    try:
        event = next_event(proc)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert event["run"]["status"] == "success"
    assert [s["node"] for s in event["run"]["steps"]] == ["bronze.sales", "silver.s", "gold.g"]
    project = Project.load(root)
    assert [r["status"] for r in project.runs()] == ["success"]
    assert project.query("select n, total from gold.g").to_pylist() == [{"n": 2, "total": 30}]


def test_sigterm_while_an_incremental_model_writes_lets_the_run_finish(
    make_project: Callable[..., Project],
) -> None:
    """One SIGTERM while silver.s (a merge model) streams into its table: the run finishes."""
    root = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1}).root
    proc = cli_watch(root, fault="mid-write:silver.s@term")
    try:
        event = next_event(proc)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert event["run"]["status"] == "success"
    assert Project.load(root).query("select n from gold.g").to_pylist() == [{"n": 2}]


def test_second_signal_cuts_the_run_short_and_the_next_run_completes_it(
    make_project: Callable[..., Project],
) -> None:
    root = make_project(CONFIG, MODELS, {"data/sales1.csv": FILE1}).root
    proc = cli_watch(root, fault="after-commit:silver.s@term2")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "stopping now" in stderr

    project = Project.load(root)
    assert [r["status"] for r in project.runs()] == ["interrupted"]
    assert "gold.g" not in project.catalog.tables()  # never half-built: not built at all
    assert project.run(trigger="test").ok
    assert project.query("select n, total from gold.g").to_pylist() == [{"n": 2, "total": 30}]
    assert project.query("select count(*) as c from silver.s").to_pylist() == [{"c": 2}]
