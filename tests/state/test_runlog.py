"""The one run/step lifecycle: what it records in the state database and the events it emits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medallion.errors import ExecutionError
from medallion.state.records import EventReporter, RunEvent, RunResult, StepResult
from medallion.state.runlog import RunLog
from medallion.state.store import StateStore


def test_steps_are_recorded_and_streamed_as_events(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    events: list[RunEvent] = []
    log = RunLog(store, trigger="test", command="run", reporter=EventReporter(events.append))
    log.announce([("bronze.a", "ingest"), ("silver.b", "model"), ("gold.c", "model")])

    def ingest(res: StepResult) -> None:
        res.rows_in = res.rows_written = 3

    def build(res: StepResult) -> None:
        raise ExecutionError("Binder Error: column x not found", model="silver.b")

    log.step("bronze.a", "ingest", ingest)
    log.step("silver.b", "model", build)
    log.skip("gold.c", "model", "upstream silver.b failed")
    result = log.finish()

    assert (result.status, result.error) == ("failed", "1 step(s) failed: silver.b")
    kinds = [(e.kind, e.node) for e in events]
    assert kinds == [
        ("run_started", None),
        ("step_started", "bronze.a"),
        ("step_finished", "bronze.a"),
        ("step_started", "silver.b"),
        ("step_finished", "silver.b"),
        ("step_finished", "gold.c"),
        ("run_finished", None),
    ]
    # a server streams them as JSON
    streamed = [json.loads(json.dumps(e.to_dict(), default=str)) for e in events]
    assert streamed[0]["plan"][1] == {"node": "silver.b", "step": "model"}
    assert streamed[4]["result"]["status"] == "failed"
    assert "column x not found" in streamed[4]["result"]["error"]
    assert streamed[-1]["result"]["steps"][2]["status"] == "skipped"
    # the state database says the same
    run = store.run(log.run_id)
    assert run is not None and (run["status"], run["trigger"]) == ("failed", "test")
    steps = {s["table_name"]: s for s in store.steps(log.run_id)}
    assert (steps["a"]["status"], steps["a"]["rows_written"]) == ("success", 3)
    assert steps["b"]["status"] == "failed" and "column x" in steps["b"]["error"]
    assert (steps["c"]["status"], steps["c"]["error"]) == ("skipped", "upstream silver.b failed")


def test_an_unexpected_error_fails_its_step_with_the_traceback(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    log = RunLog(store, trigger="test", command="run")
    res = log.step("silver.b", "model", lambda res: 1 / 0)
    assert res.status == "failed"
    assert res.error == "internal error: ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in res.details["traceback"]
    assert log.finish().status == "failed"


def test_a_run_cut_short_is_recorded_as_interrupted(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    heard: list[RunEvent] = []

    def interrupted(res: StepResult) -> None:
        raise KeyboardInterrupt

    with (
        pytest.raises(KeyboardInterrupt),
        RunLog(store, trigger="test", command="run", reporter=EventReporter(heard.append)) as log,
    ):
        log.step("silver.a", "model", lambda res: None)
        log.step("silver.b", "model", interrupted)
    run = store.run(log.run_id)
    assert run is not None
    assert (run["status"], run["error"]) == (
        "interrupted",
        "interrupted (Ctrl-C) during model silver.b",
    )
    steps = store.steps(log.run_id)
    assert [(s["table_name"], s["status"]) for s in steps] == [
        ("a", "success"),
        ("b", "interrupted"),  # not left "running"
    ]
    assert steps[1]["duration_s"] is not None
    # the reporter hears the run end, with what it did, so it can say what was committed
    last = heard[-1]
    assert last.kind == "run_finished" and isinstance(last.result, RunResult)
    assert last.result.status == "interrupted"
    assert [s.status for s in last.result.steps] == ["success", "interrupted"]
