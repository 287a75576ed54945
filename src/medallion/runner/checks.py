"""Running checks: a table's checks right after its step, singular checks after the tables they
read, and `medallion test` (checks on the current tables, without rebuilding anything)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from medallion.engine import attach
from medallion.errors import MedallionError
from medallion.state.records import Reporter, StepResult

if TYPE_CHECKING:
    from medallion.engine.base import Engine
    from medallion.workspace import Workspace


def run_table_checks(
    ws: Workspace,
    engine: Engine,
    node: str,
    res: StepResult,
    changed: set[str] | None = None,
) -> None:
    """The table's checks, right after it was written (or ingested), or on its current data
    (`medallion test`). With `changed` (the tables this run wrote), a check that last passed is
    skipped when neither its table nor a table it compares with changed — its result still
    holds — except freshness, which depends on the clock. A check that last failed runs again."""
    from medallion.config.checks import Freshness
    from medallion.models.checks import check_refs
    from medallion.quality.checks import run_checks

    specs = ws.checks.tables[node]
    if changed is not None and node not in changed:
        seen = ws.state.checked(node)  # one never run, or that failed, runs now
        specs = [
            s
            for s in specs
            if s.check_name not in seen
            or isinstance(s, Freshness)
            or any(ref in changed for ref in check_refs(s))
        ]
        if not specs:
            return

    if not ws.catalog.exists(node) and node not in ws.models:
        from medallion.errors import ExecutionError

        raise ExecutionError(
            f"{node} has not been built yet", hint="medallion run --select +" + node
        )
    attach.readable(engine, ws.lakehouse, node, reader=node)
    for ref in ws.checks.refs(node):
        attach.readable(engine, ws.lakehouse, ref, reader=node)
    res.checks.extend(
        run_checks(
            engine.con,
            node,
            specs,
            history=ws.state.check_history,
            rows_written=res.rows_written,
        )
    )


def singular_step(
    ws: Workspace,
    engine: Engine,
    check: Any,
    run_id: str,
    step_no: int,
    broken: dict[str, str],
    reporter: Reporter,
) -> StepResult:
    """A singular check (checks/<name>.sql) as its own step, after the tables it reads."""
    from medallion.quality.checks import run_singular

    node = f"checks.{check.name}"
    blocked = [t for t in check.tables if t in broken]
    if blocked:
        reason = f"upstream {blocked[0]} {broken[blocked[0]]}"
        ws.state.add_skipped_step(run_id, step_no, "check", "checks", check.name, reason)
        res = StepResult(step_no, node, "check", status="skipped", error=reason)
        reporter.step_finished(res)
        return res
    reporter.step_started(step_no, node, "check")
    ws.state.start_step(run_id, step_no, "check", "checks", check.name)
    t0 = time.perf_counter()
    res = StepResult(step_no, node, "check")
    try:
        for table in check.tables:
            attach.readable(engine, ws.lakehouse, table, reader=node)
        result = run_singular(engine.con, check)
    except MedallionError as e:
        res.status, res.error = "failed", str(e)
    else:
        res.checks.append(result)
        if result.failed:
            res.status = "failed"
            res.error = f"{check.name}: {result.message}"
    res.duration_s = time.perf_counter() - t0
    ws.state.record_checks(run_id, step_no, res.checks)
    ws.state.end_step(
        run_id, step_no, status=res.status, duration_s=round(res.duration_s, 6), error=res.error
    )
    reporter.step_finished(res)
    return res


def execute_checks(
    ws: Workspace,
    *,
    select: list[str] | None = None,
    trigger: str = "cli",
    command: str | None = None,
    reporter: Reporter | None = None,
) -> Any:
    """`medallion test`: run the checks of the selected tables (default: all) on their current
    data, without building anything; logged as a run whose steps are `test` steps."""
    from medallion.state.records import RunResult, SilentReporter
    from medallion.state.store import new_run_id

    reporter = reporter or SilentReporter()
    graph = ws.graph
    plan = [n for n in graph.select(select) if ws.checks.tables.get(n)]
    singular = [c for c in ws.checks.singular if not select or all(t in plan for t in c.tables)]
    run_id = new_run_id()
    state = ws.state
    state.start_run(
        run_id, trigger=trigger, command=command or "test", selection=" ".join(select or []) or None
    )
    reporter.run_started(
        run_id, [(n, "test") for n in plan] + [(f"checks.{c.name}", "check") for c in singular]
    )
    started = time.perf_counter()
    results: list[StepResult] = []
    broken: dict[str, str] = {}
    engine = ws.new_engine()
    try:
        for step_no, node in enumerate(plan, start=1):
            layer, table = node.split(".", 1)
            reporter.step_started(step_no, node, "test")
            state.start_step(run_id, step_no, "test", layer, table)
            t0 = time.perf_counter()
            res = StepResult(step_no, node, "test")
            try:
                run_table_checks(ws, engine, node, res)
            except MedallionError as e:
                res.status, res.error = "failed", str(e)
            failed = [c for c in res.checks if c.failed]
            if failed:
                res.status = "failed"
                res.error = "check(s) failed: " + "; ".join(
                    f"{c.name}: {c.message}" for c in failed
                )
            if res.status == "failed":
                broken[node] = "failed its checks"
            res.duration_s = time.perf_counter() - t0
            state.record_checks(run_id, step_no, res.checks)
            state.end_step(
                run_id,
                step_no,
                status=res.status,
                duration_s=round(res.duration_s, 6),
                error=res.error,
            )
            results.append(res)
            reporter.step_finished(res)
        for check in singular:
            results.append(singular_step(ws, engine, check, run_id, len(results) + 1, {}, reporter))
    finally:
        engine.close()
    failed_steps = [r for r in results if r.status == "failed"]
    status = "failed" if failed_steps else "success"
    error = (
        f"{len(failed_steps)} check step(s) failed: " + ", ".join(r.node for r in failed_steps)
        if failed_steps
        else None
    )
    state.end_run(run_id, status, error)
    result = RunResult(run_id, status, results, time.perf_counter() - started, error)
    reporter.run_finished(result)
    return result
