"""What every incremental kind does: find what is new upstream, do nothing when nothing is,
and commit with the record of what it consumed.

- `append`: the model's SQL runs with each incremental input showing only its new rows; the
  result is appended. Its incremental inputs must only grow.
- `merge` (SCD type 1): upsert by `unique_key`, optionally deleting rows matching `delete_when`.
- `scd2`: history by `unique_key`: a changed row closes its current version and adds a new one.
- `incremental_by_time`: the periods touched by new rows (plus `lookback` earlier ones) are
  recomputed from whole inputs and replace exactly those periods of the table (one commit).

No new rows in any incremental input: nothing is written and the table keeps its version. The
first run, and `--full-refresh`, build the table from all input rows. Each commit records the
versions of the inputs it read (`medallion.upstream`) and an application transaction
(`medallion.model.<model>`), in the same commit as the data: a run killed at any instant and run
again reads exactly the same new rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from medallion.build.incremental.commit import TABLE_PROPERTIES
from medallion.build.incremental.increment import Increment
from medallion.build.record import (
    SCD2_HISTORY,
    column_types,
    not_rebuilt,
    output_change,
    record,
    schema_change,
)
from medallion.build.step import Build
from medallion.engine.base import WriteTarget
from medallion.errors import ExecutionError
from medallion.storage import changes, tables
from medallion.storage.catalog import app_id

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.engine.base import Relation, Session


class IncrementalBuild(Build):
    #: a kind that recomputes what it reads (merge, scd2, by time) can rebuild everything when
    #: the Delta log no longer tells what is new; append cannot tell new rows from old
    idempotent = True

    def build(self) -> None:
        ctx = self.ctx
        res = ctx.result
        if not ctx.full_refresh:
            self.check_inputs()
        inc = Increment(ctx)
        if not inc.full and not inc.nothing_new and self.check_output():
            inc = Increment(ctx)  # rebuilt: everything is read
        res.details["mode"] = "full" if inc.full else "incremental"
        if inc.nothing_new:
            ctx.nothing_written("no new data upstream")
            return
        if not inc.full and not inc.complete:
            if not self.idempotent:
                raise ExecutionError(
                    "the Delta log no longer holds every commit since the last run (log "
                    "cleanup), so the new rows cannot be told apart",
                    model=ctx.model.fqn,
                    hint=f"rebuild it: medallion run --select {ctx.model.name} --full-refresh",
                )
            inc.full = True  # idempotent kinds recompute everything: still correct
            res.details["mode"] = "full (Delta log incomplete)"
        res.details["new_files"] = {t: len(c.added) for t, c in inc.changes.items()}
        self.inc = inc
        #: what the commit records: the model, its kind, the versions of every input read now
        self.metadata: dict[str, Any] = {
            "medallion.model": ctx.model.fqn,
            "medallion.kind": ctx.model.config.kind,
            changes.UPSTREAM_KEY: dict(inc.current),
            **record(ctx),
        }
        txn_id = app_id("model", ctx.model.fqn)
        self.txn = (txn_id, (tables.transaction_version(ctx.path, txn_id) or 0) + 1)
        self.build_increment(inc)
        if res.delta_version is None and tables.is_delta_table(ctx.path):
            # the new rows changed nothing (a merge of equal rows): the record of what was read
            # is committed alone, so the next run does not merge them again
            tables.record_only(ctx.path, ctx.run_id, self.metadata, self.txn)

    def check_inputs(self) -> None:
        """An input that lost a column or changed a column's type since the last build (an
        upstream model rebuilt earlier in this run): rebuilt from all input, as merging new
        rows would leave the old ones built from the old columns. scd2 refuses instead: its
        history is not in its inputs."""
        ctx = self.ctx
        commit = ctx.last_build
        if commit is None:
            return
        now = {t: ctx.engine.schema_of(t) for t in ctx.upstream}
        why = schema_change(commit, {t: column_types(s) for t, s in now.items() if s is not None})
        if why is not None:
            self.rebuild_for(why)

    def check_output(self) -> bool:
        """Whether the model is to be rebuilt as a column it outputs has a type the table does
        not hold it as (an input column changed type, and the table's record could not tell:
        built before input schemas were recorded): the new rows would not merge into the old
        ones. Rebuilt as check_inputs does (scd2 refuses). Asked only when there are new rows
        to add: it binds the model once more."""
        ctx = self.ctx
        if not tables.is_delta_table(ctx.path):
            return False
        why = output_change(ctx.engine.schema(self.model_rel()), tables.schema(ctx.path))
        if why is not None:
            self.rebuild_for(why)
        return why is not None

    def rebuild_for(self, why: str) -> None:
        """Rebuild from all input, saying `why` in the step's log, or refuse (a non-empty scd2
        table: its history is not in its inputs)."""
        ctx = self.ctx
        rows = tables.info(ctx.path).rows
        if ctx.model.kind == "scd2" and rows:
            raise not_rebuilt(ctx.model, f"{why}; {SCD2_HISTORY}")
        ctx.full_refresh = True
        ctx.rows_before = rows
        ctx.result.details["rebuild"] = why

    def build_increment(self, inc: Increment) -> None:
        raise NotImplementedError

    def model_rel(self) -> Relation:
        """The model's relation, the columns Delta cannot store cast."""
        return self.ctx.delta_safe(self.ctx.relation())

    def write_target(
        self,
        mode: Literal["append", "overwrite"],
        write: Callable[[pa.RecordBatchReader], int],
        replace: exp.Expression | None = None,
    ) -> WriteTarget:
        """The model's table as an engine writes it from a relation (`write_routed`'s target):
        the increment's record and table properties, as `write_rows` commits them. An engine
        that writes the files itself adds them (`append`), replacing the rows `replace`
        selects; one that streams rows gives them to `write`."""
        ctx = self.ctx
        return WriteTarget(
            ctx.path,
            ctx.run_id,
            write,
            lambda rows: None,
            "",
            mode=mode,
            partition_by=list(ctx.model.config.partition_by or []),
            metadata=self.metadata,
            description=ctx.model.config.description,
            replace=replace,
            app_transaction=self.txn,
            configuration=dict(TABLE_PROPERTIES),
        )

    def routed_target(
        self,
        write: Callable[[pa.RecordBatchReader], int],
        write_rel: Callable[[Session, Relation], tuple[int, int]],
    ) -> WriteTarget:
        """The target `write_routed` writes a merge-like kind's rows to: streamed rows go to
        `write`; an engine writing the files itself calls `write_rel(session, relation)`, so
        the rows stay in the engine. Kept as `outer`: `put` checks and faults as it does."""
        target = self.write_target("overwrite", write)
        target.write_rel = write_rel
        self.outer = target
        return target

    def put(
        self,
        session: Session,
        rel: Relation,
        mode: Literal["append", "overwrite"],
        replace: exp.Expression | None = None,
    ) -> tuple[int, int]:
        """`rel`'s rows committed to the table by the engine (streamed into the Delta writer,
        or written as files by an engine that writes them, replacing the rows `replace`
        selects): (version, rows written)."""

        def stream(reader: pa.RecordBatchReader) -> int:
            if replace is not None:  # an engine adding files cannot add these (see Spark's)
                raise ExecutionError(
                    "the new rows have other columns than the table, which an engine writing "
                    "the files itself cannot add to it",
                    model=self.ctx.model.fqn,
                    file=self.ctx.model.path,
                    hint=f"rebuild it: medallion run --select {self.ctx.model.name} --full-refresh",
                )
            return self.commit(reader, mode)

        target = self.write_target(mode, stream, replace)
        target.check, target.fault = self.outer.check, self.outer.fault
        return session.write_table(rel, target)

    def commit(
        self,
        reader: pa.RecordBatchReader,
        mode: Literal["append", "overwrite"],
        predicate: exp.Expression | None = None,
    ) -> int:
        """One commit of the model's rows with the increment's record; returns the version."""
        return self.write_rows(reader, mode, predicate).version

    def write_rows(
        self,
        reader: pa.RecordBatchReader,
        mode: Literal["append", "overwrite"],
        predicate: exp.Expression | None = None,
    ) -> tables.WriteResult:
        """One commit of the model's rows with the increment's record."""
        ctx = self.ctx
        return tables.write(
            ctx.path,
            reader,
            mode=mode,
            run_id=ctx.run_id,
            partition_by=ctx.model.config.partition_by,
            metadata=self.metadata,
            app_transaction=self.txn,
            description=ctx.model.config.description,
            # row-level changes (merge, replacing periods) write a change feed, so that
            # downstream incremental models read the changed rows, not every row of the
            # rewritten files
            configuration=dict(TABLE_PROPERTIES),
            predicate=predicate,
            crash_point=False,  # the routed stream has the model's (build/route.py)
        )

    def merge(
        self,
        source: pa.RecordBatchReader,
        on: exp.Expression,
        clauses: list[tables.MergeClause],
        *,
        what: str = "merge",
        merge_schema: bool = False,
    ) -> tuple[int | None, dict[str, Any]]:
        """A Delta merge of `source` (alias `s`) into the model's table (alias `t`), committed
        with the increment's record: (the new version or None if nothing changed, metrics)."""
        ctx = self.ctx
        tables.ensure_properties(ctx.path, TABLE_PROPERTIES)
        try:
            return tables.merge(
                ctx.path,
                source,
                on,
                clauses,
                run_id=ctx.run_id,
                metadata=self.metadata,
                app_transaction=self.txn,
                merge_schema=merge_schema,
            )
        except Exception as e:
            raise ExecutionError(
                f"{what} failed: {e}", model=ctx.model.fqn, file=ctx.model.path
            ) from None
