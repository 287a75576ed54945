"""A tick whose process was killed (kill -9) in the middle of its run: `pipelines history` and
`pipelines list` show it `aborted`, with the run it started, not `running` with no run, until a
scheduler starts and settles it; that scheduler then runs it again, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import medallion, write_project

CONFIG = """
name: stale
sources:
  orders: {path: data/orders*.csv}
pipelines:
  nightly: {select: [layer:bronze]}
"""


def test_a_killed_ticks_run_is_shown_aborted_and_the_scheduler_runs_it_again(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "p", CONFIG, {}, {"data/orders1.csv": "id\n1\n2\n"})
    child = subprocess.Popen(
        [sys.executable, "-m", "medallion", "pipelines", "run", "nightly"],
        cwd=root,
        env={**os.environ, "MEDALLION_FAULT": "mid-write:bronze.orders@pause"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    assert "paused at" in child.stderr.readline()
    child.kill()  # kill -9 in the middle of the tick's run
    child.wait()

    [tick] = json.loads(medallion("pipelines", "history", "--json", cwd=root, check=True).stdout)
    assert tick["status"] == "aborted"
    assert tick["run_id"]  # the run it started, itself recorded aborted
    runs = json.loads(medallion("history", "--json", cwd=root, check=True).stdout)
    assert [(r["run_id"], r["status"]) for r in runs] == [(tick["run_id"], "aborted")]
    table = medallion(
        "pipelines", "history", cwd=root, env={**os.environ, "COLUMNS": "300"}, check=True
    ).stdout
    assert " aborted " in table and " running " not in table and tick["run_id"] in table
    listed = json.loads(medallion("pipelines", "list", "--json", cwd=root, check=True).stdout)
    assert listed[0]["last_status"] == "aborted"

    # a scheduler settles it: the tick runs again (attempt 2), and bronze holds each row once
    sched = subprocess.Popen(
        [sys.executable, "-m", "medallion", "scheduler"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            [tick] = json.loads(
                medallion("pipelines", "history", "--json", cwd=root, check=True).stdout
            )
            if tick["status"] == "success":
                break
            assert time.monotonic() < deadline, tick
            time.sleep(0.3)
    finally:
        sched.terminate()
        sched.wait(timeout=60)
    assert tick["attempt"] == 2
    rows = medallion(
        "query", "select count(*) as n from bronze.orders", "-f", "json", cwd=root, check=True
    ).stdout
    assert json.loads(rows) == [{"n": 2}]
