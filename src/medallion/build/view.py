"""The `view` kind: not materialized; a view of the model's SQL, resolved when read."""

from __future__ import annotations

from medallion.build.step import Build
from medallion.engine import attach
from medallion.errors import ExecutionError


class ViewBuild(Build):
    def run(self) -> None:
        ctx = self.ctx
        model = ctx.model
        for dep in model.depends_on:
            attach.readable(ctx.engine, ctx.lakehouse, dep, reader=model.fqn)
        try:
            attach.view(ctx.engine, ctx.lakehouse, model.fqn, model.text)
        except ExecutionError as e:
            raise ctx.engine.model_error(e.message, model) from None
        ctx.result.note = "view (resolved at query time)"
