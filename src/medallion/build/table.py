"""The `table` kind: the model rebuilt whole, one overwrite commit — unless its last build read
exactly these input versions with this same model file, so that it would write the same rows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from medallion.build.route import QUARANTINE_UNWRITTEN, write_routed
from medallion.build.step import Build
from medallion.storage import changes, tables

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.build.step import StepContext
    from medallion.models.loader import Model

SOURCE_HASH_KEY = "medallion.source_hash"


def source_hash(model: Model) -> str:
    """A fingerprint of the model file: a table is rebuilt when it changes."""
    import hashlib

    return hashlib.sha256(model.text.encode()).hexdigest()[:16]


class TableBuild(Build):
    def build(self) -> None:
        ctx = self.ctx
        if not ctx.full_refresh and up_to_date(ctx):
            ctx.nothing_written("up to date: no new data upstream and the model file is unchanged")
            return
        if ctx.model.language == "sql":
            rel = ctx.relation()
        else:
            from medallion.build import python

            rel = python.relation(ctx)
        write_routed(ctx, rel, self.write)

    def write(self, reader: pa.RecordBatchReader) -> int:
        ctx = self.ctx
        model = ctx.model
        return tables.write(
            ctx.path,
            reader,
            mode="overwrite",
            run_id=ctx.run_id,
            partition_by=model.config.partition_by,
            metadata={
                "medallion.model": model.fqn,
                changes.UPSTREAM_KEY: ctx.upstream,
                SOURCE_HASH_KEY: source_hash(model),
            },
            description=model.config.description,
        ).version


def up_to_date(ctx: StepContext) -> bool:
    """Whether a `table` model's last build read exactly these input versions with this same
    model file, so rebuilding would write the same rows again."""
    model = ctx.model
    commit = changes.last_build(ctx.path)
    if commit is None or commit.get(SOURCE_HASH_KEY) != source_hash(model):
        return False
    raw = commit[changes.UPSTREAM_KEY]
    recorded = json.loads(raw) if isinstance(raw, str) else raw
    if {k: int(v) for k, v in recorded.items()} != ctx.upstream:
        return False
    # a build whose quarantine table could not be written after its commit: the rows it set
    # aside are lost unless the model is built again
    layer, table = model.fqn.split(".", 1)
    return not any(
        (step.get("details") or {}).get(QUARANTINE_UNWRITTEN)
        for step in ctx.ws.state.steps(str(commit.get(tables.RUN_ID_KEY)))
        if (step["layer"], step["table_name"]) == (layer, table)
    )
