"""The `table` kind: the model rebuilt whole, one overwrite commit — unless its last build read
exactly these input versions with this same model file, so that it would write the same rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.build.record import FINGERPRINT_KEY, model_change, record
from medallion.build.route import QUARANTINE_UNWRITTEN, write_routed
from medallion.build.step import Build, refuse_unbound_checks
from medallion.engine.base import WriteTarget
from medallion.storage import changes, tables

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.build.step import StepContext


class TableBuild(Build):
    def build(self) -> None:
        ctx = self.ctx
        if not ctx.full_refresh and up_to_date(ctx):
            ctx.nothing_written("up to date: no new data upstream and the model is unchanged")
            return
        model = ctx.model
        if model.language == "sql":
            rel = ctx.relation()
        else:
            from medallion.build import python

            rel = python.relation(ctx)
            # its columns are known once it ran: its checks are bound before it is written
            refuse_unbound_checks(ctx.ws, ctx.engine, rel, ctx.model.fqn, ctx.added)
        target = WriteTarget(
            ctx.path,
            ctx.run_id,
            self.write,
            lambda rows: None,
            "",
            partition_by=list(model.config.partition_by or []),
            metadata=self.metadata(),
            description=model.config.description,
        )
        write_routed(ctx, rel, self.write, target=target)

    def metadata(self) -> dict[str, object]:
        ctx = self.ctx
        return {"medallion.model": ctx.model.fqn, changes.UPSTREAM_KEY: ctx.upstream, **record(ctx)}

    def write(self, reader: pa.RecordBatchReader) -> int:
        ctx = self.ctx
        model = ctx.model
        return tables.write(
            ctx.path,
            reader,
            mode="overwrite",
            run_id=ctx.run_id,
            partition_by=model.config.partition_by,
            metadata=self.metadata(),
            description=model.config.description,
        ).version


def up_to_date(ctx: StepContext) -> bool:
    """Whether a `table` model's last build read exactly these input versions with this same
    model and upstream models, so rebuilding would write the same rows again."""
    model = ctx.model
    commit = ctx.last_build
    if commit is None or commit.get(FINGERPRINT_KEY) is None:
        return False
    if model_change(commit, model, ctx.ws.models, ctx.ws.config.engine.type) is not None:
        return False
    if changes.consumed(commit) != ctx.upstream:
        return False
    # a build whose quarantine table could not be written after its commit: the rows it set
    # aside are lost unless the model is built again
    layer, table = model.fqn.split(".", 1)
    return not any(
        (step.get("details") or {}).get(QUARANTINE_UNWRITTEN)
        for step in ctx.ws.state.steps(str(commit.get(tables.RUN_ID_KEY)))
        if (step["layer"], step["table_name"]) == (layer, table)
    )
