"""Ctrl-C in the middle of a run, for real: a `medallion run` subprocess paused at an exact
point (MEDALLION_FAULT=<point>@pause) is sent SIGINT. It stops at once without committing the
step it was in, says what it had committed and that the next run carries on, and records the
run and the step as `interrupted` (nothing left "running"); the next run finishes the work.
A process killed there (kill -9) is recorded `aborted` by the next command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.conftest import medallion

CONFIG = "name: p\nsources:\n  sales:\n    path: data/sales.csv\n"
MODELS = {
    "silver/s.sql": "select id, amount from bronze.sales where amount > 0\n",
    "gold/g.sql": "select count(*) as n, sum(amount) as total from silver.s\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "medallion.yml").write_text(CONFIG)
    (tmp_path / "data").mkdir()
    rows = "".join(f"{i},{i % 7 - 1}\n" for i in range(1, 2001))
    (tmp_path / "data" / "sales.csv").write_text("id,amount\n" + rows)
    for rel, text in MODELS.items():
        path = tmp_path / "models" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def paused_run(root: Path, point: str) -> subprocess.Popen[str]:
    """`medallion run` stopped at `point`, waiting for a signal."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "run"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MEDALLION_FAULT": f"{point}@pause"},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            proc.kill()
            raise AssertionError("the run ended before the pause:\n" + "".join(seen))
        seen.append(line)
        if f"medallion fault: paused at {point}" in line:
            return proc
    proc.kill()
    raise AssertionError("no pause")


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def status(root: Path) -> dict:
    return json.loads(medallion("status", "--json", cwd=root).stdout)


def test_ctrl_c_while_a_table_is_written_commits_nothing_and_says_so(project: Path) -> None:
    code, out, err = interrupt(paused_run(project, "mid-write:silver.s"))
    assert code == 130
    assert "aborted" not in out + err
    assert "run " in out and "interrupted (Ctrl-C)" in out
    assert "stopped in step 2 of 3, model silver.s: nothing of it was committed" in out
    assert "committed before that: bronze.sales v0" in out
    assert "`medallion run` carries on from there" in out
    assert "! model  silver.s" in err and "interrupted" in err  # the progress line

    state = status(project)
    assert state["run"]["status"] == "interrupted"
    assert state["run"]["error"] == "interrupted (Ctrl-C) during model silver.s"
    assert [(s["table_name"], s["status"]) for s in state["steps"]] == [
        ("sales", "success"),
        ("s", "interrupted"),
    ]
    assert not (project / "lakehouse" / "silver" / "s" / "_delta_log").exists()

    again = medallion("run", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = json.loads(medallion("query", "select * from gold.g", "-f", "json", cwd=project).stdout)
    # ids 1..2000, amount i % 7 - 1: kept where positive
    kept = [i % 7 - 1 for i in range(1, 2001) if i % 7 - 1 > 0]
    assert rows == [{"n": len(kept), "total": sum(kept)}]
    history = json.loads(medallion("history", "--json", cwd=project).stdout)
    assert [r["status"] for r in history] == ["success", "interrupted"]


def test_ctrl_c_after_a_commit_says_that_step_committed(project: Path) -> None:
    code, out, _ = interrupt(paused_run(project, "after-commit:silver.s"))
    assert code == 130
    assert "model silver.s: its commit v0 was made, its checks did not run" in out
    assert "committed before that: bronze.sales v0" in out
    assert status(project)["steps"][-1]["status"] == "interrupted"
    assert medallion("run", cwd=project).returncode == 0


def test_a_killed_run_is_recorded_aborted_by_the_next_command(project: Path) -> None:
    proc = paused_run(project, "mid-write:silver.s")
    proc.kill()  # kill -9: nothing can be recorded by the process itself
    proc.communicate(timeout=60)
    state = status(project)
    assert state["run"]["status"] == "aborted"
    assert state["steps"][-1]["status"] == "aborted"
