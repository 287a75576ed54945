"""Execute a run's plan: ingest sources, build models, in dependency order, logging every step.

Semantics users rely on:
- each table write is one Delta commit; a failed step commits nothing, so its table stays at the
  previous version;
- a failed step's dependents are skipped (recorded as `skipped` with the reason); independent
  branches still run, as `dbt build` does; the run ends `failed`;
- every step records rows read / written / quarantined, the Delta version written and its
  duration in the state database, and the commit carries the run id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from medallion.build import StepContext, build
from medallion.build.record import not_rebuilt, not_undone
from medallion.engine import attach
from medallion.errors import ExecutionError
from medallion.faults import fault_point, raise_if_interrupted
from medallion.state.records import StepResult

if TYPE_CHECKING:
    from medallion.engine.base import Engine
    from medallion.models.checks import SingularCheck
    from medallion.runner.plan import Plan, Step
    from medallion.state.runlog import RunLog
    from medallion.workspace import Workspace


def execute(
    ws: Workspace,
    plan: Plan,
    log: RunLog,
    *,
    confirmed: bool | Collection[str] = False,
    allow_missing_files: bool = False,
) -> None:
    """Walk the plan: each step through the run's lifecycle, in order; a step whose upstream
    failed or was skipped is skipped; a table's checks right after its step; the singular
    checks last. Unless `confirmed` (True: every table; else the tables the user was asked
    about), a rebuild that would leave fewer than half of a table's rows, drop an scd2
    table's closed versions, or undo another Delta writer's change, fails its step instead of
    committing: a table that turns into a
    rebuild only during the run was not in the question. `allow_missing_files`: a full refresh
    of a file source may drop the rows of files gone from its landing folder."""
    require_env(ws, plan)
    log.announce(plan.announced())
    broken: dict[str, str] = {}  # node -> why it is unusable (failed or skipped) in this run
    written: set[str] = set()  # tables this run changed (their checks run; the others' hold)
    engine = ws.new_engine()
    timer = _timeout_timer(log, engine)
    try:
        for step in plan.steps:
            raise_if_interrupted()  # a Ctrl-C a library swallowed: no further step starts
            if why := log.stop_reason():
                log.cut_short = why
                log.skip(step.node, step.kind, why)
                broken[step.node] = "was skipped"
                continue
            blocked = [dep for dep in _blocking(ws, step.node) if dep in broken]
            if blocked:
                log.skip(step.node, step.kind, f"upstream {blocked[0]} {broken[blocked[0]]}")
                broken[step.node] = "was skipped"
                continue
            res = log.step(
                step.node,
                step.kind,
                _interruptible(
                    lambda res, step=step: _run_step(
                        ws,
                        engine,
                        step,
                        log.run_id,
                        res,
                        written,
                        confirmed is True
                        or (not isinstance(confirmed, bool) and step.node in confirmed),
                        allow_missing_files,
                        broken,
                    )
                ),
            )
            if res.status == "failed":
                checks_failed = any(c.failed for c in res.checks)
                broken[step.node] = "failed its checks" if checks_failed else "failed"
        for check in plan.singular:
            raise_if_interrupted()
            if why := log.stop_reason():
                log.cut_short = why
                log.skip(f"checks.{check.name}", "check", why)
                continue
            singular_step(ws, engine, check, log, broken)
    finally:
        if timer is not None:
            timer()
        engine.close()


def _blocking(ws: Workspace, node: str) -> list[str]:
    """The tables whose failure skips `node`: those it reads, and those an error-severity
    check of it compares with (the check cannot pass). A table only a warn check reads is not
    among them: `node` is built, and that check reads the table's latest version
    (`run_table_checks`)."""
    reads = ws.lineage_graph.up.get(node, [])
    return [*reads, *(r for r in ws.checks.blocking_refs(node) if r not in reads)]


def _interruptible(work: Callable[[StepResult], None]) -> Callable[[StepResult], None]:
    """`work`, with a Ctrl-C that a library turned into its own error raised as Ctrl-C again:
    DuckDB reports a KeyboardInterrupt raised inside a Python callback it called (the Arrow
    stream of a table it reads) as a query error whose text is that traceback, and the
    connection is then left with an open result. The step and the run are `interrupted`, not
    failed, and no later step runs on that connection."""

    def run(res: StepResult) -> None:
        try:
            work(res)
        except Exception:
            raise_if_interrupted()
            raise

    return run


def _timeout_timer(log: RunLog, engine: Engine) -> Callable[[], None] | None:
    """A run with a timeout: when it passes, the statement running in the engine is
    interrupted (its step fails, committing nothing) and no further step starts. Work outside
    the engine (a Delta commit, a database read) is not cut: the run stops after it. Returns
    what ends the timer when the run is over."""
    control = log.control
    if control.timeout is None:
        return None
    done = threading.Event()

    def expire() -> None:
        if done.wait(max(0.0, (control.timeout or 0.0) - log.elapsed)):
            return
        control.timed_out = True
        # an engine forgets a press that lands between two statements: press until the run
        # ends (no step starts after the timeout, so only the running one is cut)
        while not done.is_set():
            engine.interrupt()
            done.wait(0.1)

    threading.Thread(target=expire, name="medallion-run-timeout", daemon=True).start()
    return done.set


def require_env(ws: Workspace, plan: Plan) -> None:
    """The `${VAR}`s of the sources the plan ingests and of the targets the run then publishes
    to (after_run, a table of the plan) must be set: one message naming them all before any
    step runs. Commands that only read the lakehouse never ask."""
    from fnmatch import fnmatchcase

    places = [("sources", ws.source_tables[s.node]) for s in plan.steps if s.kind == "ingest"]
    places += [
        ("publish", name)
        for name, target in ws.config.publish.items()
        if target.after_run
        and any(fnmatchcase(n, e.table) for e in target.entries() for n in plan.nodes)
    ]
    ws.config.require_env(places)


def _run_step(
    ws: Workspace,
    engine: Engine,
    step: Step,
    run_id: str,
    res: StepResult,
    written: set[str],
    confirmed: bool,
    allow_missing_files: bool,
    broken: dict[str, str] | None = None,
) -> None:
    """One ingest, view or model step, then its table's checks (a failed check fails it).
    `broken`: the tables unusable in this run and why (for the checks that read them)."""
    node = step.node
    if step.full_refresh:
        res.details["full_refresh"] = True
    if step.why:
        res.details["rebuild"] = step.why
    if step.refused:
        raise not_rebuilt(ws.models[node], step.why or "")
    if step.confirm and not confirmed:
        raise not_undone(ws.models[node], step.why or "")
    if step.kind == "ingest":
        _ingest(ws, engine, node, run_id, step.full_refresh, res, allow_missing_files, confirmed)
    else:
        model = ws.models[node]
        ctx = StepContext(ws, engine, model, run_id, res, step.full_refresh, confirmed=confirmed)
        ctx.rows_before = step.rows
        build(ctx)
        if res.details.get("rebuild"):
            res.note = "; ".join(filter(None, [f"rebuilt: {res.details['rebuild']}", res.note]))
    fault_point(f"after-commit:{node}")
    _checkpoint(ws, node, step.kind, run_id, res)
    if step.reset:
        ws.state.clear_reset(node)
    if res.delta_version is not None or step.kind == "view":
        written.add(node)
    if ws.checks.tables.get(node):
        run_table_checks(ws, engine, node, res, written, broken)
        res.fail_on_checks()


def run_table_checks(
    ws: Workspace,
    engine: Engine,
    node: str,
    res: StepResult,
    changed: set[str] | None = None,
    broken: dict[str, str] | None = None,
) -> None:
    """The table's checks, right after it was written (or ingested), or on its current data
    (`medallion test`). With `changed` (the tables this run wrote), a check that last passed is
    skipped when neither its table nor a table it compares with changed — its result still
    holds — except freshness, which depends on the clock. A check that last failed runs again.

    `broken`: tables whose step failed or was skipped in this run (and why). Only a warn check
    can read one (an error check's table is skipped instead: `_blocking`): it runs against that
    table's latest version, the last one committed, and its message says so; when the table has
    no version at all, the check is not run and reported as an error of the check (status
    `error`, which a warn check's severity keeps from failing the step)."""
    from medallion.config.checks import Freshness
    from medallion.models.checks import check_refs
    from medallion.quality.scoped import run_table_checks as run_table_checks_scoped
    from medallion.state.records import CheckResult

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
        raise ExecutionError(
            f"{node} has not been built yet", hint="medallion run --select +" + node
        )
    stale = {r: why for r, why in (broken or {}).items() if r in ws.checks.refs(node)}
    missing = {r for r in stale if not ws.catalog.exists(r)}
    unrun = [s for s in specs if missing & set(check_refs(s))]
    for spec in unrun:
        ref = next(r for r in check_refs(spec) if r in missing)
        res.checks.append(
            CheckResult(
                spec.check_name,
                spec.type,
                node,
                spec.severity,
                "error",
                message=f"not run: {ref}, which it compares with, has no version yet (its step "
                f"{stale[ref]} in this run)",
            )
        )
    specs = [s for s in specs if s not in unrun]
    if not specs:
        return
    attach.readable(engine, ws.lakehouse, node, reader=node)
    refs = [r for r in ws.checks.refs(node) if r not in missing]
    for ref in refs:
        attach.readable(engine, ws.lakehouse, ref, reader=node)
    # a table this run wrote: each check that passed before needs only the rows written since
    passed = ws.state.passed_at(node) if changed is not None and node in changed else {}
    results = run_table_checks_scoped(
        engine,
        ws.catalog,
        node,
        specs,
        passed,
        history=ws.state.check_history,
        rows_written=res.rows_written,
    )
    # the versions the results hold for (what the next run checks the changes since)
    attached = engine.attached_versions()  # tables; a view has no version
    read = {t: v for t in (node, *refs) if (v := attached.get(t)) is not None}
    for spec, result in zip(specs, results, strict=True):
        result.versions = read
        for ref in check_refs(spec):
            if ref in stale and ref in read:
                result.message += (
                    f" (against {ref} v{read[ref]}, its latest version: its step {stale[ref]} "
                    "in this run)"
                )
    res.checks.extend(results)


def singular_step(
    ws: Workspace,
    engine: Engine,
    check: SingularCheck,
    log: RunLog,
    broken: dict[str, str],
) -> StepResult:
    """A singular check (checks/<name>.sql) as its own step, after the tables it reads."""
    from medallion.quality.checks import run_singular

    node = f"checks.{check.name}"
    blocked = [t for t in check.tables if t in broken]
    if blocked:
        return log.skip(node, "check", f"upstream {blocked[0]} {broken[blocked[0]]}")

    def work(res: StepResult) -> None:
        for table in check.tables:
            attach.readable(engine, ws.lakehouse, table, reader=node)
        result = run_singular(engine, check)
        res.checks.append(result)
        if result.failed:
            res.fail(f"{check.name}: {result.message}")

    return log.step(node, "check", _interruptible(work))


def _checkpoint(ws: Workspace, node: str, kind: str, run_id: str, res: StepResult) -> None:
    """Mirror in the state database what the step's commit recorded (the Delta commit is the
    truth; this is for `medallion status`)."""
    if kind == "view" or res.status != "success":
        return
    if kind == "ingest":
        if res.delta_version is None and not res.details.get("full_refresh"):
            return
        if "watermark" in res.details:
            values = {"watermark": res.details["watermark"] or "(no cursor)"}
        else:
            files = res.details.get("files", [])
            total = len(files) + int(res.details.get("already_ingested", 0))
            values = {"files": f"{total} files ingested"}
    else:
        if res.delta_version is None:
            return
        values = {k: f"v{v}" for k, v in res.details.get("upstream_versions", {}).items()}
    ws.state.set_checkpoints(node, values, res.delta_version, run_id)


# -- steps ------------------------------------------------------------------------------------


def _ingest(
    ws: Workspace,
    engine: Engine,
    node: str,
    run_id: str,
    full_refresh: bool,
    res: StepResult,
    allow_missing_files: bool = False,
    confirmed: bool = False,
) -> None:
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import ingest_cursor_source, ingest_source

    name = node.split(".", 1)[1]
    source = ws.config.sources[name]
    if isinstance(source, FileSource):
        out = ingest_source(
            name=name,
            source=source,
            root=ws.root,
            catalog=ws.catalog,
            layer=ws.config.landing_layer,
            state=ws.state,
            con=engine.files_connection(),
            landing=engine.file_landing(),
            run_id=run_id,
            full_refresh=full_refresh,
            allow_missing_files=allow_missing_files,
            confirmed=confirmed,
        )
    else:
        out = ingest_cursor_source(
            name=name,
            source=source,
            root=ws.root,
            catalog=ws.catalog,
            layer=ws.config.landing_layer,
            session=engine,
            run_id=run_id,
            full_refresh=full_refresh,
        )
    res.rows_read = out.rows_read
    res.rows_in = out.rows_read
    res.rows_written = out.rows_written
    res.rows_quarantined = out.rows_quarantined
    res.rows_dropped = 0
    res.delta_version = out.version
    res.note = out.note
    res.details = (
        {"files": out.files, "already_ingested": out.skipped_files}
        if isinstance(source, FileSource)
        else {"watermark": out.watermark}
    )
    if out.quarantine_version is not None:
        res.details["quarantine_version"] = out.quarantine_version
    res.details.update(out.details)
    res.checks.extend(out.checks)
    if out.version is not None:
        attach.table(engine, ws.lakehouse, node)
