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

import json
import re
from typing import TYPE_CHECKING, Any

from medallion.config.names import QUARANTINE_SUFFIX
from medallion.engine import attach
from medallion.errors import ExecutionError, MedallionError
from medallion.faults import fault_point
from medallion.runner.python_models import run_python
from medallion.state.records import StepResult

if TYPE_CHECKING:
    from medallion.engine.base import Engine
    from medallion.models.checks import SingularCheck
    from medallion.models.loader import Model
    from medallion.runner.plan import Plan, Step
    from medallion.state.runlog import RunLog
    from medallion.workspace import Workspace


def execute(ws: Workspace, plan: Plan, log: RunLog) -> None:
    """Walk the plan: each step through the run's lifecycle, in order; a step whose upstream
    failed or was skipped is skipped; a table's checks right after its step; the singular
    checks last."""
    log.announce(plan.announced())
    broken: dict[str, str] = {}  # node -> why it is unusable (failed or skipped) in this run
    written: set[str] = set()  # tables this run changed (their checks run; the others' hold)
    engine = ws.new_engine()
    try:
        for step in plan.steps:
            blocked = [dep for dep in ws.graph.up.get(step.node, []) if dep in broken]
            if blocked:
                log.skip(step.node, step.kind, f"upstream {blocked[0]} {broken[blocked[0]]}")
                broken[step.node] = "was skipped"
                continue
            res = log.step(
                step.node,
                step.kind,
                lambda res, step=step: _run_step(ws, engine, step, log.run_id, res, written),
            )
            if res.status == "failed":
                checks_failed = any(c.failed for c in res.checks)
                broken[step.node] = "failed its checks" if checks_failed else "failed"
        for check in plan.singular:
            singular_step(ws, engine, check, log, broken)
    finally:
        engine.close()


def _run_step(
    ws: Workspace, engine: Engine, step: Step, run_id: str, res: StepResult, written: set[str]
) -> None:
    """One ingest, view or model step, then its table's checks (a failed check fails it)."""
    node = step.node
    if step.full_refresh:
        res.details["full_refresh"] = True
    if step.kind == "ingest":
        _ingest(ws, engine, node, run_id, step.full_refresh, res)
    elif step.kind == "view":
        _view(ws, engine, ws.models[node], res)
    else:
        _build(ws, engine, ws.models[node], run_id, res, step.full_refresh)
    fault_point(f"after-commit:{node}")
    _checkpoint(ws, node, step.kind, run_id, res)
    if step.reset:
        ws.state.clear_reset(node)
    if res.delta_version is not None or step.kind == "view":
        written.add(node)
    if ws.checks.tables.get(node):
        run_table_checks(ws, engine, node, res, written)
        res.fail_on_checks()


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
        result = run_singular(engine.con, check)
        res.checks.append(result)
        if result.failed:
            res.fail(f"{check.name}: {result.message}")

    return log.step(node, "check", work)


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
    ws: Workspace, engine: Engine, node: str, run_id: str, full_refresh: bool, res: StepResult
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
            con=engine.con,
            run_id=run_id,
            full_refresh=full_refresh,
        )
    else:
        out = ingest_cursor_source(
            name=name,
            source=source,
            root=ws.root,
            catalog=ws.catalog,
            layer=ws.config.landing_layer,
            con=engine.con,
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
    if out.version is not None:
        engine.attach_table(node)


def _view(ws: Workspace, engine: Engine, model: Model, res: StepResult) -> None:
    for dep in model.depends_on:
        attach.readable(engine, ws.lakehouse, dep, reader=model.fqn)
    try:
        engine.attach_view(model.fqn, model.text)
    except ExecutionError as e:
        raise sql_error(e.message, model) from None
    res.note = "view (resolved at query time)"


def _build(
    ws: Workspace,
    engine: Engine,
    model: Model,
    run_id: str,
    res: StepResult,
    full_refresh: bool = False,
) -> None:
    from medallion.runner import incremental
    from medallion.storage import changes, tables

    upstream: dict[str, int] = {}
    rows_read = 0
    for dep in model.depends_on:
        attach.readable(engine, ws.lakehouse, dep, reader=model.fqn)
    for base in attach.base_tables(ws.lakehouse, model.depends_on):
        attach.readable(engine, ws.lakehouse, base, reader=model.fqn)
        _, version = engine.attached[base]
        upstream[base] = version if version is not None else -1
        rows_read += engine.rows.get(base, 0)
    res.rows_read = rows_read
    res.details["upstream_versions"] = upstream

    def finish(rel: Any, write: Any, replaces: Any = None) -> None:
        _route_and_write(ws, engine, model, run_id, res, rel, write, replaces)

    if model.config.incremental:
        incremental.build(ws, engine, model, run_id, res, full_refresh=full_refresh, finish=finish)
    elif not full_refresh and _up_to_date(ws, model, upstream):
        res.note = "up to date: no new data upstream and the model file is unchanged"
        res.rows_in = res.rows_written = res.rows_dropped = res.rows_quarantined = 0
    else:
        if model.language == "sql":
            rel = model_relation(engine, model)
        else:
            rel = _to_relation(engine, run_python(engine, model, run_id), model)

        def write(reader: Any) -> int:
            return tables.write(
                ws.catalog.path(model.fqn),
                reader,
                mode="overwrite",
                run_id=run_id,
                partition_by=model.config.partition_by,
                metadata={
                    "medallion.model": model.fqn,
                    changes.UPSTREAM_KEY: upstream,
                    SOURCE_HASH_KEY: _source_hash(model),
                },
                description=model.config.description,
            ).version

        finish(rel, write)
    if ws.catalog.exists(model.fqn):
        engine.attach_table(model.fqn)


SOURCE_HASH_KEY = "medallion.source_hash"
#: step detail: the model was committed, its quarantined rows were not
QUARANTINE_UNWRITTEN = "quarantine_unwritten"


def _source_hash(model: Model) -> str:
    """A fingerprint of the model file: a table is rebuilt when it changes."""
    import hashlib

    return hashlib.sha256(model.text.encode()).hexdigest()[:16]


def _up_to_date(ws: Workspace, model: Model, upstream: dict[str, int]) -> bool:
    """Whether a `table` model's last build read exactly these input versions with this same
    model file, so rebuilding would write the same rows again."""
    from medallion.storage import changes, tables

    commit = changes.last_build(ws.catalog.path(model.fqn))
    if commit is None or commit.get(SOURCE_HASH_KEY) != _source_hash(model):
        return False
    raw = commit[changes.UPSTREAM_KEY]
    recorded = json.loads(raw) if isinstance(raw, str) else raw
    if {k: int(v) for k, v in recorded.items()} != upstream:
        return False
    # a build whose quarantine table could not be written after its commit: the rows it set
    # aside are lost unless the model is built again
    layer, table = model.fqn.split(".", 1)
    return not any(
        (step.get("details") or {}).get(QUARANTINE_UNWRITTEN)
        for step in ws.state.steps(str(commit.get(tables.RUN_ID_KEY)))
        if (step["layer"], step["table_name"]) == (layer, table)
    )


def _route_and_write(
    ws: Workspace,
    engine: Engine,
    model: Model,
    run_id: str,
    res: StepResult,
    rel: Any,
    write: Any,
    replaces: Any = None,
) -> None:
    """Stream the model's rows through its expectations into `write(reader) -> version` (which
    returns -1 when it committed nothing), then land the quarantined rows and fill the step's
    counters. Any error before the commit leaves every table as it was.

    `replaces(con, quarantine)` selects the quarantined rows of earlier runs that this run
    recomputed (kinds that recompute a scope of keys or periods): they are replaced by this
    run's, so a row re-read is quarantined once, as a rebuild would."""
    from medallion.quality import expectations as ex
    from medallion.storage.tables import RowCounter

    try:
        rel = engine.delta_safe(rel)
    except Exception as e:
        raise sql_error(str(e), model) from None
    missing = [c for c in model.config.partition_by if c not in rel.columns]
    if missing:
        raise ExecutionError(
            f"partition_by column {missing[0]!r} is not in the model's output",
            file=model.path,
            model=model.fqn,
            hint=f"output columns: {', '.join(rel.columns)}",
        )
    router: ex.Router | None = None
    counter = RowCounter()
    try:
        # inside the try: DuckDB may run a small query whole when its reader is made
        if model.config.expectations:
            rel = ex.wrap(rel, model.config.expectations, model=model.fqn, file=model.path)
            router = ex.Router(
                engine.reader(rel, ex.ROUTED_BATCH_ROWS),
                model.config.expectations,
                model=model.fqn,
                file=model.path,
                spill_dir=ws.state_dir / "tmp",
                run_id=run_id,
            )
            stream = router.kept()
            output_schema = stream.schema  # the model's columns, for its quarantine table
        else:
            stream = engine.reader(rel)
        version = write(counter.wrap(stream, lambda: fault_point(f"mid-write:{model.fqn}")))
    except BaseException as e:  # Ctrl-C too: the routing thread stops before the engine closes
        if router is not None:
            router.discard()
        if isinstance(e, MedallionError) or not isinstance(e, Exception):
            raise
        if router is not None and router.error is not None:
            raise router.error from None
        # errors raised while DuckDB streams the result (a failed cast, division by zero ...)
        # surface here, wrapped by the Delta writer; nothing was committed
        raise sql_error(_unwrap_stream_error(e), model) from None
    res.rows_written = counter.rows
    res.rows_in = counter.rows
    res.rows_dropped = 0
    res.rows_quarantined = 0
    res.delta_version = version if version is not None and version >= 0 else None
    if router is not None:
        _land_quarantine(ws, engine, model, run_id, res, router, output_schema, replaces)


def _land_quarantine(
    ws: Workspace,
    engine: Engine,
    model: Model,
    run_id: str,
    res: StepResult,
    router: Any,
    output_schema: Any,
    replaces: Any,
) -> None:
    """After the model's commit: its quarantined rows to their table, the step's counters. A
    failed model sets no row aside."""
    from medallion.errors import first_line
    from medallion.quality import expectations as ex
    from medallion.storage import tables

    try:
        o = router.outcome
        res.rows_in = o.rows_in
        res.rows_dropped = o.rows_dropped
        res.rows_quarantined = o.rows_quarantined
        res.details["expectations"] = o.violations
        q_path = ws.catalog.path(f"{model.fqn}{QUARANTINE_SUFFIX}")
        # a table model is rebuilt whole, so its quarantine is too; incremental ones add
        rebuild = not model.config.incremental or res.details.get("mode", "").startswith("full")
        if replaces is not None and not rebuild and tables.is_delta_table(q_path):
            written = _replace_quarantine(
                ws, engine, model, q_path, o.spill, output_schema, run_id, replaces
            )
            if written is not None:
                res.details["quarantine_version"] = written.version
                # the commit holds the whole quarantine, not only this run's rows
                res.details["quarantine_delta_rows"] = written.rows
        elif o.spill is not None or (rebuild and tables.is_delta_table(q_path)):
            q = tables.write(
                q_path,
                ex.quarantine_reader(o.spill, output_schema),
                mode="overwrite" if rebuild else "append",
                run_id=run_id,
                metadata={"medallion.model": model.fqn, "medallion.quarantine_of": model.fqn},
                description=f"rows of {model.fqn} that failed a quarantine expectation",
            )
            res.details["quarantine_version"] = q.version
    except Exception as e:
        res.details[QUARANTINE_UNWRITTEN] = True  # the next run builds the model again
        if isinstance(e, MedallionError):
            raise
        raise ExecutionError(
            f"{model.fqn} was committed (version {res.delta_version}), but its quarantined rows "
            f"could not be written to {model.fqn}{QUARANTINE_SUFFIX}: {first_line(e)}",
            file=model.path,
            model=model.fqn,
            hint="fix the cause; the next run builds the model again and sets its rows aside"
            if not model.config.incremental
            else f"fix the cause, then `medallion run --full-refresh {model.fqn}` sets them aside"
            " (an incremental run reads only new rows)",
        ) from None
    finally:  # Ctrl-C too: the spill file is removed
        router.discard()
    res.checks.extend(_expectation_results(model, o))


def _replace_quarantine(
    ws: Workspace,
    engine: Engine,
    model: Model,
    q_path: Any,
    spill: Any,
    output_schema: Any,
    run_id: str,
    replaces: Any,
) -> Any:
    """Overwrite the quarantine table with its rows outside this run's scope plus this run's
    quarantined rows; None when neither changes anything."""
    from medallion.quality import expectations as ex
    from medallion.storage import tables

    q_fqn = f"{model.fqn}{QUARANTINE_SUFFIX}"
    attach.table(engine, ws.lakehouse, q_fqn)
    layer, name = q_fqn.split(".", 1)
    old = engine.con.table(f'"{layer}"."{name}"')
    ids = f"__medallion_replaced_{run_id.replace('-', '_')}"
    replaces(engine.con, old).project("_quarantine_id").create(ids)
    new = f"__medallion_new_quarantine_{run_id.replace('-', '_')}"
    try:
        replaced = int(engine.con.sql(f"SELECT count(*) FROM {ids}").fetchall()[0][0])
        if spill is None and not replaced:
            return None
        engine.con.register(new, ex.quarantine_reader(spill, output_schema))
        rel = engine.con.sql(
            f'SELECT * FROM "{layer}"."{name}" WHERE _quarantine_id NOT IN '
            f"(SELECT _quarantine_id FROM {ids}) UNION ALL BY NAME SELECT * FROM {new}"
        )
        return tables.write(
            q_path,
            engine.reader(rel),
            mode="overwrite",
            run_id=run_id,
            metadata={
                "medallion.model": model.fqn,
                "medallion.quarantine_of": model.fqn,
                "medallion.replaced": replaced,
            },
        )
    finally:
        engine.con.execute(f"DROP TABLE IF EXISTS {ids}")
        engine.con.unregister(new)


def _expectation_results(model: Model, outcome: Any) -> list[Any]:
    from medallion.state.records import CheckResult

    results = []
    for name, spec in model.config.expectations.items():
        n = outcome.violations.get(name, 0)
        status = "pass" if not n else ("warn" if spec.action == "warn" else spec.action)
        verb = {"warn": "kept", "drop": "dropped", "quarantine": "quarantined", "fail": "failed"}
        results.append(
            CheckResult(
                name=name,
                kind="expectation",
                table=model.fqn,
                severity=spec.action,
                status=status if status in ("pass", "warn") else "warn",
                failing_rows=n,
                message=f"{n:,} of {outcome.rows_in:,} rows violate it ({verb[spec.action]})"
                if n
                else f"all {outcome.rows_in:,} rows pass",
            )
        )
    return results


def _to_relation(engine: Engine, value: Any, model: Model) -> Any:
    """A Python model's return value as a DuckDB relation (so expectations apply uniformly)."""
    if hasattr(value, "types") and hasattr(value, "arrow") and hasattr(value, "query"):
        return value
    from medallion.engine.duckdb_engine import as_reader

    try:
        reader = as_reader(value)
    except TypeError as e:
        raise ExecutionError(
            f"model() returned {e}; return a pyarrow Table/RecordBatchReader or a DuckDB relation",
            file=model.path,
            model=model.fqn,
        ) from None
    # A separate cursor: the reader may itself be a pending result of engine.con (a model that
    # returns `ctx.sql(...).arrow()`), which the same connection cannot scan while it is open.
    return engine.side_connection().from_arrow(reader)


_LINE_RE = re.compile(r"LINE (\d+):(.*)")
_QUOTED_RE = re.compile(r'"([^"]+)"')


def model_relation(engine: Engine, model: Model) -> Any:
    """The SQL model's query as a DuckDB relation: bound against its inputs, not run. A binder
    or parser error is an ExecutionError pointing at the model file and line."""
    try:
        return engine.relation(model.text)
    except Exception as e:
        raise sql_error(str(e), model) from None


def sql_error(message: str, model: Model) -> ExecutionError:
    """A DuckDB error of a model as an ExecutionError pointing at the model file and line.

    DuckDB gives a position for parser and conversion errors ("LINE 3:"), not for binder errors
    ("Referenced column "amont" not found"); for those the line is where the quoted name first
    appears in the model as a whole word, which is where a typo usually is."""
    text = _unwrap_stream_error(message)
    lines = text.strip().splitlines() or ["error"]
    first = lines[0]
    line: int | None = None
    m = _LINE_RE.search(text)
    if m:
        line = int(m.group(1))
        if not first.startswith("Parser Error"):
            # DuckDB counts a parser error's line from the start of the text, a later error's
            # from the statement's first token (after the header comment) or, in a query
            # wrapped around the model's (expectations), from elsewhere: the line it quotes says
            line = _quoted_line(model.text, m.group(2), line + _lines_before_statement(model.text))
    else:
        q = _QUOTED_RE.search(first)
        if q:
            line = _word_line(model.text, q.group(1))
    candidates = next((ln for ln in lines if ln.startswith("Candidate bindings")), None)
    hint = "fix the SQL and run again; the table was not changed"
    if candidates:
        hint = f"{candidates.rstrip('.')}; {hint}"
    return ExecutionError(first, file=model.path, line=line, model=model.fqn, hint=hint)


def _quoted_line(text: str, quoted: str, guess: int) -> int:
    """The line of `text` holding what DuckDB quoted after "LINE n:" (a window of the line,
    "..." where cut), the one nearest `guess` if several do; `guess` if none does."""
    snippet = quoted.strip().removeprefix("...").removesuffix("...").strip()
    if len(snippet) < 3:
        return guess
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if snippet in line]
    return min(hits, key=lambda n: abs(n - guess)) if hits else guess


def _lines_before_statement(text: str) -> int:
    """Lines before the SQL's first token (whitespace, `--` and `/* */` comments: the header)."""
    at = 0
    while True:
        rest = text[at:]
        stripped = rest.lstrip()
        at += len(rest) - len(stripped)
        if stripped.startswith("--"):
            end = text.find("\n", at)
            at = len(text) if end < 0 else end + 1
        elif stripped.startswith("/*"):
            end = text.find("*/", at + 2)
            at = len(text) if end < 0 else end + 2
        else:
            return text.count("\n", 0, at)


def _word_line(text: str, word: str) -> int | None:
    """1-based line of the first whole-word occurrence of `word` outside comments."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(word)}(?!\w)", re.IGNORECASE)
    in_block = False
    for n, raw in enumerate(text.splitlines(), start=1):
        code = raw
        if in_block:
            if "*/" not in code:
                continue
            code = code.split("*/", 1)[1]
            in_block = False
        if "/*" in code:
            before, after = code.split("/*", 1)
            in_block = "*/" not in after
            code = before + (after.split("*/", 1)[1] if not in_block else "")
        code = code.split("--", 1)[0]
        if pattern.search(code):
            return n
    return None


def _unwrap_stream_error(e: BaseException | str) -> str:
    """delta-rs wraps errors raised inside the Arrow stream; keep DuckDB's own message."""
    text = str(e)
    for marker in ("Python exception: ", "Unknown error: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    m = re.search(r"(\w+ Error: .*)", text, re.DOTALL)
    if m:
        text = m.group(1)
    return text.strip()
