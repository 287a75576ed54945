"""A real `medallion scheduler` process: two pipelines on schedules in seconds (croniter's
six-field form), one following another, one failing — its failure delivered to a webhook sink
on 127.0.0.1 — a second scheduler refused, and SIGTERM stopping it cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import medallion, write_project
from tests.orchestrate.sinks import WebhookSink

CONFIG = """
name: clockwork
sources:
  orders: {path: landing/orders*.csv}
pipelines:
  ingest:
    select: [layer:bronze]
    schedule: "* * * * * */2"
    notify: [hook]
  build:
    select: [layer:silver]
    after: [ingest]
    notify: [hook]
  broken:
    select: [gold.broken]
    schedule: "* * * * * */3"
    retries: 1
    retry_delay: 1 second
    notify: [hook]
notifications:
  hook: {type: webhook, url: "${HOOK_URL}/medallion", on: [failure, success, retry]}
"""

# no input: its first tick may come before ingest's (every 3 s against every 2 s), and it
# must fail with its own error whichever runs first
BROKEN = '''"""---
description: a partner feed that is gone
"""


def model(ctx):
    raise RuntimeError("the partner feed is gone")
'''


def _state(root: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(root / ".medallion" / "state.db")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_scheduler_process_runs_notifies_and_stops_on_sigterm(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "clockwork",
        CONFIG,
        {"silver/orders.sql": "select * from bronze.orders", "gold/broken.py": BROKEN},
        {"landing/orders_1.csv": "order_id,amount\nA1,10\nA2,20\n"},
    )
    with WebhookSink() as hook:
        env = {**os.environ, "HOOK_URL": hook.url, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "medallion", "scheduler"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            events: set[tuple[str, str]] = set()
            while (
                time.monotonic() < deadline
                and not {
                    ("ingest", "success"),
                    ("build", "success"),
                    ("broken", "retry"),
                    ("broken", "failure"),
                }
                <= events
            ):
                assert proc.poll() is None, proc.communicate()
                events = {(r.body["pipeline"], r.body["event"]) for r in hook.requests}
                time.sleep(0.2)
            assert ("broken", "failure") in events, events
            failure = next(
                r.body
                for r in hook.requests
                if r.body["event"] == "failure" and r.body["pipeline"] == "broken"
            )
            assert failure["project"] == "clockwork"
            assert failure["trigger"] == "schedule"
            assert [s["node"] for s in failure["failed_steps"]] == ["gold.broken"]
            assert "the partner feed is gone" in failure["failed_steps"][0]["error"]
            assert failure["run_id"]

            # one scheduler per project
            second = medallion("scheduler", cwd=root, env=env, timeout=60)
            assert second.returncode != 0
            assert "already running" in second.stderr and f"pid {proc.pid}" in second.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0, err
    assert "scheduler stopped" in err
    # nothing left half-done: no run still running, every tick ended or back to pending
    assert _state(root, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
    assert _state(root, "SELECT count(*) FROM ticks WHERE status = 'running'") == [(0,)]
    runs = _state(root, "SELECT pipeline, trigger, status FROM runs WHERE pipeline IS NOT NULL")
    assert ("ingest", "schedule", "success") in runs
    assert ("build", "after", "success") in runs
    assert ("broken", "schedule", "failed") in runs
    # a tick is never run twice
    assert _state(
        root,
        "SELECT count(*) FROM (SELECT pipeline, scheduled_for FROM runs"
        " WHERE pipeline IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1)",
    ) == [(0,)]
