"""The run and step lifecycle, written once: every command that changes or tests tables records
through a `RunLog` — run, test, publish, restore, optimize, vacuum, replay.

    with RunLog(state, trigger="manual", command="run", selection=None, reporter=r) as log:
        log.announce([("bronze.orders", "ingest"), ...])
        res = log.step("bronze.orders", "ingest", work)   # work(res) fills the result
        log.skip("silver.orders", "model", "upstream bronze.orders failed")
        result = log.finish()

What it guarantees, for every kind of run alike:
- a run is recorded when it starts (`running`) and ends `success` or `failed` with a one-line
  error; a run cut short by an error between steps ends `failed` with why; one stopped by
  Ctrl-C (KeyboardInterrupt, or another BaseException such as SystemExit) ends `interrupted`,
  with the step it was in `interrupted` too, and the reporter hears `run_finished` with that
  status (so it can say what was committed); one whose process dies (kill -9) is marked
  `aborted`, with its running step, by the next command that reads or starts runs;
- a step is recorded when it starts and when it ends, with its duration, rows, Delta version,
  details and check results; an error inside a step fails that step only: a MedallionError
  with its message, anything else as an "internal error" with its traceback in the details;
- the reporter hears each event as it happens (the CLI's progress; a server's event stream);
- with a `RunControl` (a pipeline's run): a failed step is run again per its retry policy (the
  attempts in the step's details), and a run past its timeout or stopped from outside skips
  the steps left (`cut_short`) and ends `failed` (timed out) or `interrupted` (stopped).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from types import TracebackType

from medallion.errors import MedallionError
from medallion.state.records import (
    INTERRUPTED,
    Reporter,
    RunControl,
    RunResult,
    SilentReporter,
    StepResult,
)
from medallion.state.store import StateStore, new_run_id


class RunLog:
    def __init__(
        self,
        state: StateStore,
        *,
        trigger: str,
        command: str,
        selection: str | None = None,
        reporter: Reporter | None = None,
        kind: str = "run",
        control: RunControl | None = None,
    ) -> None:
        """`kind` says what the run does (run, test, publish, replay, restore, optimize,
        vacuum): `status` shows the last build run and the last test run apart."""
        self.state = state
        self.reporter: Reporter = reporter or SilentReporter()
        self.control = control or RunControl()
        self.run_id = new_run_id()
        self.steps: list[StepResult] = []
        self.result: RunResult | None = None
        #: why the steps left were skipped (timed out, stopped), when they were
        self.cut_short: str | None = None
        self._started = time.perf_counter()
        c = self.control
        state.start_run(
            self.run_id,
            trigger=trigger,
            command=command,
            selection=selection,
            kind=kind,
            pipeline=c.pipeline,
            attempt=c.attempt if c.pipeline else None,
            scheduled_for=c.scheduled_for,
        )

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def stop_reason(self) -> str | None:
        """Why no further step may start (the run timed out, or was asked to stop), or None."""
        c = self.control
        if c.timed_out or (c.timeout is not None and self.elapsed >= c.timeout):
            c.timed_out = True
            return f"the run went past its timeout of {_seconds(c.timeout or 0)}"
        if c.stop is not None and c.stop.is_set():
            return "the run was stopped (the scheduler is shutting down)"
        return None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if error is None or self.result is not None:
            return
        if isinstance(error, Exception):
            why = (
                str(error)
                if isinstance(error, MedallionError)
                else f"internal error: {type(error).__name__}: {error}"
            )
            self.state.end_run(self.run_id, "failed", error=why)
            return
        # Ctrl-C (or an exit) between or inside steps: what ran so far stands
        cut = next((s for s in self.steps if s.status == INTERRUPTED), None)
        why = _interruption(error) + (f" during {cut.step} {cut.node}" if cut else "")
        self.state.end_run(self.run_id, INTERRUPTED, error=why)
        self.result = RunResult(
            self.run_id, INTERRUPTED, self.steps, time.perf_counter() - self._started, why
        )
        self.reporter.run_finished(self.result)

    def announce(self, plan: list[tuple[str, str]]) -> None:
        """The steps the run means to make: (node, step kind) pairs."""
        self.reporter.run_started(self.run_id, plan)

    @property
    def ok(self) -> bool:
        """No step failed so far."""
        return not any(s.status == "failed" for s in self.steps)

    def step(self, node: str, kind: str, work: Callable[[StepResult], None]) -> StepResult:
        """Run `work(result)` as the run's next step and record it. An exception inside fails
        the step, not the run (Ctrl-C and other BaseExceptions go up: the run ends there). A
        failed step is run again per the run's retry policy, each time on a fresh result."""
        step_no = len(self.steps) + 1
        layer, table = node.split(".", 1)
        self.reporter.step_started(step_no, node, kind)
        self.state.start_step(self.run_id, step_no, kind, layer, table)
        started = time.perf_counter()
        attempts: list[dict[str, object]] = []
        while True:
            res = StepResult(step_no, node, kind)
            error = self._attempt(work, res, started)
            if res.status != "failed":
                break
            if self.control.timed_out:
                res.error = f"{self.stop_reason()}; the step was stopped: {res.error}"
            if not self._retryable(res, error, len(attempts) + 1):
                break
            c = self.control
            delay = c.retry_delay * 2 ** len(attempts)
            attempts.append({"error": res.error, "retry_in_s": delay})
            if c.on_retry is not None:
                c.on_retry(res, len(attempts), delay, res.error or "")
            if c.timeout is not None:  # a wait never outlasts the run's timeout
                delay = min(delay, max(0.0, c.timeout - self.elapsed))
            if c.wait(delay) or self.stop_reason():
                if not c.timed_out:
                    # stopped from outside while waiting: the run is interrupted, not failed
                    # (the scheduler runs its tick again), the step's last error kept
                    res.status = INTERRUPTED
                    self.cut_short = self.stop_reason()
                break
        if attempts:
            res.details["attempts"] = [*attempts, {"error": res.error}]
        res.duration_s = time.perf_counter() - started
        self.state.record_checks(self.run_id, step_no, res.checks)
        self.state.end_step(
            self.run_id,
            step_no,
            status=res.status,
            rows_in=res.rows_in,
            rows_read=res.rows_read,
            rows_written=res.rows_written,
            rows_dropped=res.rows_dropped,
            rows_quarantined=res.rows_quarantined,
            delta_version=res.delta_version,
            duration_s=round(res.duration_s, 6),
            error=res.error,
            details=res.details or None,
            attempts=len(attempts) + 1,
        )
        self.steps.append(res)
        self.reporter.step_finished(res)
        return res

    def _attempt(
        self, work: Callable[[StepResult], None], res: StepResult, started: float
    ) -> BaseException | None:
        """One try of a step's work; the exception it failed with (None: it did not raise)."""
        try:
            work(res)
        except MedallionError as e:
            res.fail(str(e))
            return e
        except Exception as e:  # a bug or an unexpected library error: still recorded
            res.fail(f"internal error: {type(e).__name__}: {e}")
            res.details["traceback"] = traceback.format_exc()
            return e
        except BaseException as e:  # Ctrl-C: recorded as such, then the run ends (__exit__)
            res.status, res.error = INTERRUPTED, _interruption(e)
            res.duration_s = time.perf_counter() - started
            self.state.end_step(
                self.run_id,
                res.step_no,
                status=res.status,
                duration_s=round(res.duration_s, 6),
                error=res.error,
            )
            self.steps.append(res)
            self.reporter.step_finished(res)
            raise
        return None

    def _retryable(self, res: StepResult, error: BaseException | None, attempt: int) -> bool:
        """Whether the failed step's `attempt` may be followed by another."""
        c = self.control
        if attempt > c.retries or self.stop_reason():
            return False
        if res.delta_version is not None:
            return False  # it committed before failing (a check's input missing): not again
        if any(check.failed for check in res.checks) or getattr(error, "data_failure", False):
            return False  # the data failed: waiting does not change it
        if c.retry_on == "transient":
            return bool(getattr(error, "transient", False)) or (
                isinstance(error, OSError) and not isinstance(error, MedallionError)
            )
        return True

    def skip(self, node: str, kind: str, reason: str) -> StepResult:
        """Record the next step as skipped (an upstream step failed)."""
        step_no = len(self.steps) + 1
        layer, table = node.split(".", 1)
        res = StepResult(step_no, node, kind, status="skipped", error=reason)
        self.state.add_skipped_step(self.run_id, step_no, kind, layer, table, reason)
        self.steps.append(res)
        self.reporter.step_finished(res)
        return res

    def finish(self, failure: str = "{n} step(s) failed: {nodes}") -> RunResult:
        """End the run: failed if a step failed, the error saying so (`failure`, formatted with
        the number of failed steps and their names)."""
        failed = [s for s in self.steps if s.status == "failed"]
        status = "failed" if failed else "success"
        error = (
            failure.format(n=len(failed), nodes=", ".join(s.node for s in failed))
            if failed
            else None
        )
        # past the timeout with every step done (the last one finished outside the engine):
        # nothing was cut, the run stands
        cut = self.cut_short or (self.stop_reason() if self.control.timed_out and failed else None)
        if cut:
            timed_out = self.control.timed_out
            status = "failed" if timed_out or failed else INTERRUPTED
            error = "; ".join(filter(None, [cut, error]))
        self.state.end_run(self.run_id, status, error)
        self.result = RunResult(
            self.run_id, status, self.steps, time.perf_counter() - self._started, error
        )
        self.reporter.run_finished(self.result)
        return self.result


def _seconds(seconds: float) -> str:
    """600 -> '10 minutes', 45 -> '45 s'."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} hour(s)"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} minute(s)"
    return f"{seconds:g} s"


def _interruption(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return f"interrupted ({type(error).__name__})"
