"""What a run records: its steps' results, the checks they ran, and the events a run emits.

Every command that changes or tests tables (run, test, publish, restore, optimize, vacuum,
replay) is a run of steps, recorded through one lifecycle (`medallion.state.runlog`). These
are its records, shared by everything above the state database: the runner fills them, the CLI
renders them, a server serialises them (`to_dict`). A `Reporter` listens to a run's events as
they happen; `EventReporter` turns them into `RunEvent` values for a listener that streams them
(server-sent events, notifications).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass
class CheckResult:
    """The outcome of one expectation or check. `status`: pass | warn (failed, severity warn) |
    fail (failed, severity error) | error (the check itself could not run)."""

    name: str
    kind: str
    table: str
    severity: str
    status: str
    failing_rows: int | None = None
    observed: float | None = None
    message: str = ""
    sample: list[dict[str, Any]] = field(default_factory=list)
    #: the Delta version of each table the check read ({} for a view or a singular check)
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error") and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "table": self.table,
            "severity": self.severity,
            "status": self.status,
            "failing_rows": self.failing_rows,
            "observed": self.observed,
            "message": self.message,
            "sample": self.sample,
        }


#: the status of a run or step stopped by Ctrl-C (a process killed is `aborted`)
INTERRUPTED = "interrupted"


@dataclass
class StepResult:
    step_no: int
    node: str
    step: str  # ingest | model | view | check | test | publish | restore | optimize | vacuum
    status: str = "success"  # success | failed | skipped | interrupted
    rows_read: int | None = None
    rows_written: int | None = None
    rows_dropped: int | None = None
    rows_quarantined: int | None = None
    delta_version: int | None = None
    duration_s: float = 0.0
    error: str | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    rows_in: int | None = None
    #: results of expectations and checks
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def layer(self) -> str:
        return self.node.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.node.split(".", 1)[1]

    def fail(self, error: str) -> None:
        self.status = "failed"
        self.error = error

    def fail_on_checks(self) -> bool:
        """Mark the step failed if one of its checks failed; whether it did."""
        failed = [c for c in self.checks if c.failed]
        if failed:
            self.fail("check(s) failed: " + "; ".join(f"{c.name}: {c.message}" for c in failed))
        return bool(failed)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [c.to_dict() for c in self.checks]
        return out


@dataclass
class RunResult:
    run_id: str
    status: str  # success | failed | interrupted
    steps: list[StepResult]
    duration_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def step(self, node: str) -> StepResult:
        for s in self.steps:
            if s.node == node:
                return s
        raise KeyError(node)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "duration_s": self.duration_s,
            "error": self.error,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass
class RunControl:
    """How a run is driven from outside (a pipeline's policy, the scheduler): what the run log
    records about its origin, when a failed step is run again, when the run must stop.

    - `retries`: a failed step is run again up to this many times, `retry_delay` seconds after
      the first failure, doubled each attempt; `retry_on` `transient` retries only failures
      that may pass (a connection refused or dropped, I/O, a timeout), `any` every failure —
      except an expectation with `action: fail` and a failing check: data does not change by
      waiting. A failed step commits nothing, so running it again is safe.
    - `timeout`: seconds the run may take; past it the statement running in the engine is
      interrupted, the step fails, the steps left are skipped and the run ends `failed`.
    - `stop`: set from another thread (SIGTERM to the scheduler): the step running finishes,
      the steps left are skipped and the run ends `interrupted`; a retry wait ends at once.
    - `on_retry(step, attempt, delay, error)`: told before each wait (notifications).
    """

    pipeline: str | None = None
    attempt: int = 1
    scheduled_for: str | None = None  # ISO UTC
    retries: int = 0
    retry_delay: float = 0.0
    retry_on: str = "any"  # any | transient
    timeout: float | None = None
    stop: Any = None  # threading.Event
    on_retry: Callable[[StepResult, int, float, str], None] | None = None
    #: waits `seconds` or until `stop` is set; returns whether it was set (tests inject a clock)
    sleep: Callable[[float], bool] | None = None
    #: set by the run: the run went past `timeout`
    timed_out: bool = False

    def wait(self, seconds: float) -> bool:
        if self.sleep is not None:
            return self.sleep(seconds)
        if self.stop is not None:
            return bool(self.stop.wait(seconds))
        import time

        time.sleep(seconds)
        return False

    @property
    def stopping(self) -> bool:
        return self.timed_out or bool(self.stop is not None and self.stop.is_set())


@dataclass
class PlanEntry:
    """One step of `medallion plan`: what the run would do to a table, and why."""

    node: str
    #: ingest | model | view
    kind: str
    #: sources: new input | up to date | may have new rows | full refresh | refused | fails
    #: (no file matches its path); models: build | rebuild | incremental | up to date | refused;
    #: any step reading one that fails: skipped
    action: str
    why: str | None = None
    #: the model's definition as built and as it is now, a unified diff (a changed model)
    diff: str | None = None
    #: a file source's new files
    new_files: int | None = None
    #: rows an incremental model's inputs gained (as the Delta log counts them)
    new_rows: int | None = None
    #: rows in the table now
    rows: int | None = None
    #: changes to the table come from these upstream steps of the same run
    after: list[str] = field(default_factory=list)
    #: the rebuild undoes another Delta writer's change: the run asks (on a terminal) or fails
    #: the step unless run with --yes (or --full-refresh of the table)
    confirm: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunPlan:
    """What `medallion run` would do now (`medallion plan`), step by step in run order."""

    entries: list[PlanEntry]
    select: list[str] | None = None

    @property
    def changes(self) -> list[PlanEntry]:
        """The steps that would write something (or are refused)."""
        return [
            e for e in self.entries if e.action not in ("up to date", "view", "fails", "skipped")
        ]

    @property
    def failing(self) -> list[PlanEntry]:
        """The steps a run would fail (and so skip what reads them)."""
        return [e for e in self.entries if e.action == "fails"]

    def to_dict(self) -> dict[str, Any]:
        return {"select": self.select, "steps": [e.to_dict() for e in self.entries]}


class Reporter(Protocol):
    """Listens to a run as it happens (the CLI's live progress, an event stream)."""

    def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None: ...
    def step_started(self, step_no: int, node: str, step: str) -> None: ...
    def step_finished(self, result: StepResult) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...


class SilentReporter:
    def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None:
        pass

    def step_started(self, step_no: int, node: str, step: str) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass

    def run_finished(self, result: RunResult) -> None:
        pass


@dataclass(frozen=True)
class RunEvent:
    """One thing a run did: `run_started` (with the plan: (node, step kind) pairs),
    `step_started`, `step_finished` (with the step's result), `run_finished` (with the run's)."""

    kind: str
    run_id: str
    step_no: int | None = None
    node: str | None = None
    step: str | None = None
    plan: list[tuple[str, str]] | None = None
    result: StepResult | RunResult | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind, "run_id": self.run_id}
        for key in ("step_no", "node", "step"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.plan is not None:
            out["plan"] = [{"node": n, "step": s} for n, s in self.plan]
        if self.result is not None:
            out["result"] = self.result.to_dict()
        return out


class EventReporter:
    """A Reporter handing each event, as a RunEvent, to `listener`."""

    def __init__(self, listener: Callable[[RunEvent], None]) -> None:
        self.listener = listener
        self.run_id = ""

    def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None:
        self.run_id = run_id
        self.listener(RunEvent("run_started", run_id, plan=list(plan)))

    def step_started(self, step_no: int, node: str, step: str) -> None:
        self.listener(RunEvent("step_started", self.run_id, step_no, node, step))

    def step_finished(self, result: StepResult) -> None:
        self.listener(
            RunEvent(
                "step_finished", self.run_id, result.step_no, result.node, result.step, None, result
            )
        )

    def run_finished(self, result: RunResult) -> None:
        self.listener(RunEvent("run_finished", result.run_id, result=result))
