"""One writer per project: a held lock stops `medallion run` (exit 75, naming the holder),
`--wait` waits for it, a holder killed with SIGKILL blocks nothing, and queries never wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medallion.project import Project

CONFIG = """
name: locked
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: INTEGER}
"""
MODELS = {"silver/app.sql": "/* ---\nkind: append\n--- */\nselect id, amount from bronze.orders\n"}
HOLDER = """
import sys, time
from pathlib import Path
from medallion.project import Project

project = Project.load(sys.argv[1])
with project.writer("holder-command --hold"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def built(make_project: Callable[..., Project]) -> Project:
    project = make_project(CONFIG, MODELS, {"data/orders1.csv": "id,amount\n1,10\n2,20\n"})
    assert project.run(trigger="test").ok
    (project.root / "data/orders2.csv").write_text("id,amount\n3,30\n")
    return project


@pytest.fixture
def hold(tmp_path: Path) -> Iterator[Callable[[Project, float], subprocess.Popen]]:
    """hold(project, seconds) -> a process holding the writer lock (returns once it holds it)."""
    started: list[subprocess.Popen] = []

    def start(project: Project, seconds: float) -> subprocess.Popen:
        ready = tmp_path / f"ready{len(started)}"
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(project.root), str(ready), str(seconds)]
        )
        started.append(proc)
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the holder exited before taking the lock"
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.05)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def medallion(project: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_second_writer_exits_75_naming_the_holder(
    built: Project,
    hold: Callable[[Project, float], subprocess.Popen],
    versions: Callable[[Project], dict[str, int]],
) -> None:
    before = versions(built)
    holder = hold(built, 60)

    proc = medallion(built, "run")

    assert proc.returncode == 75, proc.stderr
    assert "another medallion writer is running" in proc.stderr
    assert f"pid {holder.pid} (holder-command --hold)" in proc.stderr
    assert "--wait" in proc.stderr
    assert versions(built) == before  # the new file was not ingested


def test_queries_are_not_blocked_by_the_writer(
    built: Project, hold: Callable[[Project, float], subprocess.Popen]
) -> None:
    hold(built, 60)

    proc = medallion(built, "query", "select count(*) as n from silver.app", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 2}]
    assert built.query("select sum(amount) as s from bronze.orders").to_pylist() == [{"s": 30}]


def test_wait_lets_the_run_start_when_the_holder_finishes(
    built: Project, hold: Callable[[Project, float], subprocess.Popen]
) -> None:
    holder = hold(built, 2)

    proc = medallion(built, "run", "--wait", "10")

    assert proc.returncode == 0, proc.stderr
    assert holder.poll() == 0  # it had finished before the run could start
    assert built.query("select id from silver.app order by id").to_pylist() == [
        {"id": 1},
        {"id": 2},
        {"id": 3},
    ]


def test_maintenance_commands_wait_too_and_take_p_after_the_command(
    built: Project, hold: Callable[[Project, float], subprocess.Popen], tmp_path: Path
) -> None:
    """The lock error's hint offers --wait: optimize, vacuum, restore and replay take it."""
    holder = hold(built, 60)
    refused = medallion(built, "optimize")
    assert refused.returncode == 75
    assert "--wait SECONDS" in refused.stderr
    holder.kill()
    holder.wait()
    holder = hold(built, 2)
    elsewhere = subprocess.run(  # run from another folder, the project named after the command
        [sys.executable, "-m", "medallion", "optimize", "-p", str(built.root), "--wait", "10"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert holder.poll() == 0  # it had finished before optimize could start


def test_a_holder_killed_with_sigkill_does_not_block(
    built: Project, hold: Callable[[Project, float], subprocess.Popen]
) -> None:
    holder = hold(built, 600)
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL

    proc = medallion(built, "run")

    assert proc.returncode == 0, proc.stderr
    assert built.query("select count(*) as n from silver.app").to_pylist() == [{"n": 3}]
    # the lock is free again afterwards, for this process too
    with built.writer("after"):
        pass
