"""A model's rows on their way into its table: through its expectations, then its quarantine.

`write_routed(ctx, rel, write)` streams the model's rows (its relation, with the columns Delta
cannot store cast) through its expectations into `write(reader) -> version`, the kind's own
commit (which returns -1 when it committed nothing); rows set aside by `action: quarantine` land
in `<model>__quarantine` after the model's own commit, so a model that fails sets no row aside;
the step's counters (in, written, dropped, quarantined) and expectation results are filled in.
Any error before the commit leaves every table as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Literal

from medallion.config.names import quarantine_of
from medallion.engine import attach
from medallion.engine.base import SRC
from medallion.errors import ExecutionError, MedallionError, first_line
from medallion.faults import fault_point
from medallion.state.records import CheckResult

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.build.step import StepContext
    from medallion.engine.base import Relation, Session, WriteTarget
    from medallion.quality.expectations import Outcome, QuarantineBuffer, Router

#: a kind's commit of the kept rows: the new version, or -1 when it committed nothing
Write = Callable[["pa.RecordBatchReader"], int]
#: the quarantined rows of earlier runs that a run recomputing a scope replaces
Replaces = Callable[["Session", "Relation"], "Relation"]

#: step detail: the model was committed, its quarantined rows were not
QUARANTINE_UNWRITTEN = "quarantine_unwritten"


def write_routed(
    ctx: StepContext,
    rel: Relation,
    write: Write,
    replaces: Replaces | None = None,
    target: WriteTarget | None = None,
) -> None:
    """Stream the model's rows through its expectations into `write`, then land the rows it
    quarantined and fill the step's counters.

    `replaces(session, quarantine)` selects the quarantined rows of earlier runs that this run
    recomputed (kinds that recompute a scope of keys or periods): they are replaced by this
    run's, so a row re-read is quarantined once, as a rebuild would."""
    from medallion.quality import expectations as ex
    from medallion.storage.tables import RowCounter

    model, engine, res = ctx.model, ctx.engine, ctx.result
    rel = ctx.delta_safe(rel)
    columns = engine.columns(rel)
    ctx.require_columns(model.config.partition_by, columns, "partition_by")
    router: Router | None = None
    counter = RowCounter()
    output_schema = None
    refused: list[ExecutionError] = []

    def at_end(kept: int | None = None) -> None:
        # a rebuild the user did not confirm keeps at least half of the table: refused here,
        # after the last row and before the writer commits, so nothing is written
        kept, before = counter.rows if kept is None else kept, ctx.rows_before
        if ctx.full_refresh and not ctx.confirmed and before and kept * 2 < before:
            refused.append(
                ExecutionError(
                    f"not rebuilt: the rebuild would leave {kept} of the table's {before} rows"
                    f" ({res.details.get('rebuild') or 'full refresh'}); nothing was written",
                    model=model.fqn,
                    file=model.path,
                    hint="if that is what you want, run it again with --yes (-y)",
                )
            )
            raise refused[0]

    if model.config.expectations and target is not None and engine.writes_files:
        _routed_by_engine(ctx, rel, write, target, replaces, at_end, refused)
        return
    try:
        # inside the try: the engine may run a small query whole when its reader is made
        if model.config.expectations:
            rel = ex.wrap(engine, rel, model.config.expectations, model=model.fqn, file=model.path)
            router = ex.Router(
                engine.reader(rel, ex.ROUTED_BATCH_ROWS),
                model.config.expectations,
                model=model.fqn,
                file=model.path,
                spill_dir=ctx.ws.tmp_dir,
                run_id=ctx.run_id,
            )
            stream = router.kept()
            output_schema = stream.schema  # the model's columns, for its quarantine table
        elif target is not None:
            stream = None
            target.stream, target.check, target.fault = write, at_end, f"mid-write:{model.fqn}"
            version, counter.rows = engine.write_table(rel, target)
        else:
            stream = engine.reader(rel)
        if stream is not None:
            version = write(
                counter.wrap(stream, lambda: fault_point(f"mid-write:{model.fqn}"), at_end)
            )
    except BaseException as e:  # Ctrl-C too: the routing thread stops before the engine closes
        if router is not None:
            router.discard()
        if refused:
            raise refused[0] from None
        if isinstance(e, MedallionError) or not isinstance(e, Exception):
            raise
        if router is not None and router.error is not None:
            raise router.error from None
        # errors raised while the engine streams the result (a failed cast, division by
        # zero ...) surface here, wrapped by the Delta writer; nothing was committed
        raise engine.model_error(e, model) from None
    res.rows_written = counter.rows
    res.rows_in = counter.rows
    res.rows_dropped = 0
    res.rows_quarantined = 0
    res.delta_version = version if version is not None and version >= 0 else None
    if router is not None:
        _land_quarantine(ctx, router, output_schema, replaces)


def _routed_by_engine(
    ctx: StepContext,
    rel: Relation,
    write: Write,
    target: WriteTarget,
    replaces: Replaces | None,
    at_end: Callable[[int], None],
    refused: list[ExecutionError],
) -> None:
    """`write_routed` on an engine that writes the data files itself: the expectations routed
    by the engine over the model's rows computed once (quality.expectations.RelationRouter),
    the kept rows written by the engine, then the quarantined ones: no row comes to the driver."""
    from medallion.quality import expectations as ex

    model, engine, res = ctx.model, ctx.engine, ctx.result
    with ExitStack() as stack:
        try:
            wrapped = ex.wrap(
                engine, rel, model.config.expectations, model=model.fqn, file=model.path
            )
            staged = stack.enter_context(engine.staged(wrapped))
            router = ex.RelationRouter(
                engine,
                staged,
                model.config.expectations,
                model=model.fqn,
                file=model.path,
                run_id=ctx.run_id,
            )
            router.count()
            router.set_aside(stack)
            target.stream, target.check, target.fault = write, at_end, f"mid-write:{model.fqn}"
            version, _ = engine.write_table(router.kept(), target)
        except BaseException as e:
            if refused:
                raise refused[0] from None
            if isinstance(e, MedallionError) or not isinstance(e, Exception):
                raise
            raise engine.model_error(e, model) from None
        o = router.outcome
        res.rows_in = o.rows_in
        res.rows_dropped = o.rows_dropped
        res.rows_quarantined = o.rows_quarantined
        res.rows_written = o.rows_in - o.rows_dropped - o.rows_quarantined
        res.delta_version = version if version is not None and version >= 0 else None
        res.details["expectations"] = o.violations
        try:
            _write_quarantined(ctx, router, replaces)
        except Exception as e:
            res.details[QUARANTINE_UNWRITTEN] = True  # the next run builds the model again
            if isinstance(e, MedallionError):
                raise
            raise _unwritten(ctx, e) from None
    res.checks.extend(_expectation_results(ctx, o))


def _write_quarantined(ctx: StepContext, router: Any, replaces: Replaces | None) -> None:
    """The rows `router` (a RelationRouter) set aside, written by the engine to the quarantine
    table: added, replacing the quarantined rows of earlier runs this run recomputed (see
    `write_routed`), or the whole quarantine of a rebuild."""
    import sqlglot.expressions as exp

    from medallion.engine.base import WriteTarget
    from medallion.sqltree import aliased, col, select_star, table
    from medallion.storage import tables

    model, engine, res = ctx.model, ctx.engine, ctx.result
    q_fqn = quarantine_of(model.fqn)
    q_path = ctx.ws.catalog.path(q_fqn)
    o = router.outcome
    exists = tables.is_delta_table(q_path)
    rebuild = not model.config.incremental or res.details.get("mode", "").startswith("full")
    metadata: dict[str, Any] = {"medallion.model": model.fqn, "medallion.quarantine_of": model.fqn}
    replace = None
    if replaces is not None and not rebuild and exists:
        attach.table(engine, ctx.lakehouse, q_fqn)
        old = engine.relation(select_star(table(q_fqn)))
        ids = engine.over(replaces(engine, old), exp.select(col("_quarantine_id")).from_(SRC))
        replaced = engine.count(ids)
        if replaced:
            metadata["medallion.replaced"] = replaced
            # the files holding a replaced row rewritten without it (the table is `t`)
            same = exp.EQ(this=col("_quarantine_id", "k"), expression=col("_quarantine_id", "t"))
            replace = exp.Exists(
                this=exp.select(exp.Literal.number(1))
                .from_(aliased(engine.name(ids), "k"))
                .where(same)
            )
    if not o.rows_quarantined and replace is None and not (rebuild and exists):
        return
    mode: Literal["append", "overwrite"] = "overwrite" if rebuild or not exists else "append"

    def stream(reader: pa.RecordBatchReader) -> int:
        if replace is not None:  # an engine adding files cannot add these (see Spark's)
            raise ExecutionError(
                f"the quarantined rows have other columns than {q_fqn}",
                model=model.fqn,
                file=model.path,
            )
        return tables.write(q_path, reader, mode=mode, run_id=ctx.run_id, metadata=metadata).version

    written = engine.write_table(
        router.quarantined(engine.schema(router.kept())),
        WriteTarget(
            q_path,
            ctx.run_id,
            stream,
            lambda n: None,
            "",
            mode=mode,
            metadata=metadata,
            description=f"rows of {model.fqn} that failed a quarantine expectation",
            replace=replace,
        ),
    )
    res.details["quarantine_version"] = written[0]


def _unwritten(ctx: StepContext, e: BaseException) -> ExecutionError:
    """The error of a model committed whose quarantined rows could not be written."""
    model, res = ctx.model, ctx.result
    return ExecutionError(
        f"{model.fqn} was committed (version {res.delta_version}), but its quarantined rows "
        f"could not be written to {quarantine_of(model.fqn)}: {first_line(e)}",
        file=model.path,
        model=model.fqn,
        hint="fix the cause; the next run builds the model again and sets its rows aside"
        if not model.config.incremental
        else f"fix the cause, then `medallion run --full-refresh {model.fqn}` sets them aside"
        " (an incremental run reads only new rows)",
    )


def _land_quarantine(
    ctx: StepContext, router: Router, output_schema: pa.Schema, replaces: Replaces | None
) -> None:
    """After the model's commit: its quarantined rows to their table, the step's counters. A
    failed model sets no row aside."""
    from medallion.quality import expectations as ex
    from medallion.storage import tables

    model, res = ctx.model, ctx.result
    try:
        o = router.outcome
        res.rows_in = o.rows_in
        res.rows_dropped = o.rows_dropped
        res.rows_quarantined = o.rows_quarantined
        res.details["expectations"] = o.violations
        q_path = ctx.ws.catalog.path(quarantine_of(model.fqn))
        # a table model is rebuilt whole, so its quarantine is too; incremental ones add
        rebuild = not model.config.incremental or res.details.get("mode", "").startswith("full")
        if replaces is not None and not rebuild and tables.is_delta_table(q_path):
            written = _replace_quarantine(ctx, o.spill, output_schema, replaces)
            if written is not None:
                res.details["quarantine_version"] = written.version
                # the commit holds the whole quarantine, not only this run's rows
                res.details["quarantine_delta_rows"] = written.rows
        elif o.spill is not None or (rebuild and tables.is_delta_table(q_path)):
            q = tables.write(
                q_path,
                ex.quarantine_reader(o.spill, output_schema),
                mode="overwrite" if rebuild else "append",
                run_id=ctx.run_id,
                metadata={"medallion.model": model.fqn, "medallion.quarantine_of": model.fqn},
                description=f"rows of {model.fqn} that failed a quarantine expectation",
            )
            res.details["quarantine_version"] = q.version
    except Exception as e:
        res.details[QUARANTINE_UNWRITTEN] = True  # the next run builds the model again
        if isinstance(e, MedallionError):
            raise
        raise _unwritten(ctx, e) from None
    finally:  # Ctrl-C too: the spill file is removed
        router.discard()
    res.checks.extend(_expectation_results(ctx, o))


def _replace_quarantine(
    ctx: StepContext,
    spill: QuarantineBuffer | None,
    output_schema: pa.Schema,
    replaces: Replaces,
) -> Any:
    """Overwrite the quarantine table with its rows outside this run's scope plus this run's
    quarantined rows; None when neither changes anything."""
    import sqlglot.expressions as exp

    from medallion.quality import expectations as ex
    from medallion.sqltree import col, select_star, table
    from medallion.storage import tables

    engine, model = ctx.engine, ctx.model
    q_fqn = quarantine_of(model.fqn)
    attach.table(engine, ctx.lakehouse, q_fqn)
    old = engine.relation(select_star(table(q_fqn)))
    replaced_ids = engine.over(replaces(engine, old), exp.select(col("_quarantine_id")).from_(SRC))
    with engine.staged(replaced_ids) as ids:
        replaced = engine.count(ids)
        if spill is None and not replaced:
            return None
        new = engine.register(ex.quarantine_reader(spill, output_schema))
        kept = select_star(table(q_fqn)).where(
            exp.not_(
                exp.In(
                    this=col("_quarantine_id"),
                    query=exp.select(col("_quarantine_id")).from_(SRC).subquery(),
                )
            )
        )
        merged = exp.union(kept, select_star(new), distinct=False)
        merged.set("by_name", True)
        return tables.write(
            ctx.ws.catalog.path(q_fqn),
            engine.reader(engine.over(ids, merged)),
            mode="overwrite",
            run_id=ctx.run_id,
            metadata={
                "medallion.model": model.fqn,
                "medallion.quarantine_of": model.fqn,
                "medallion.replaced": replaced,
            },
        )


def _expectation_results(ctx: StepContext, outcome: Outcome) -> list[CheckResult]:
    from medallion.quality.expectations import explained

    model = ctx.model
    return [
        explained(name, model.fqn, spec.action, outcome.violations.get(name, 0), outcome.rows_in)
        for name, spec in model.config.expectations.items()
    ]
