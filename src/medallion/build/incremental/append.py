"""The `append` kind: the model's SQL runs with each incremental input showing only its new
rows, and the result is appended. Its incremental inputs must only grow: one rewritten since the
last run (overwritten or merged) is an error (use merge, or `--full-refresh`)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from medallion.build.incremental.base import IncrementalBuild
from medallion.build.route import write_routed
from medallion.errors import ExecutionError

if TYPE_CHECKING:
    from medallion.build.incremental.increment import Increment


class AppendBuild(IncrementalBuild):
    idempotent = False

    def build_increment(self, inc: Increment) -> None:
        ctx = self.ctx
        if inc.full:
            write = lambda reader: self.commit(reader, "overwrite")  # noqa: E731
            write_routed(ctx, self.model_rel(), write, target=self.write_target("overwrite", write))
            return
        rewritten = [t for t, c in inc.changes.items() if c.rewritten]
        if rewritten:
            raise ExecutionError(
                f"append model reads {rewritten[0]}, which was rewritten (overwritten or merged) "
                "since the last run, so its new rows are not only new",
                model=ctx.model.fqn,
                file=ctx.model.path,
                hint="an append model needs inputs that only grow; use kind merge, or rebuild: "
                f"medallion run --select {ctx.model.name} --full-refresh",
            )
        # every incremental input shows only its new rows while the model runs
        with ExitStack() as stack:
            for table in inc.changes:
                stack.enter_context(ctx.engine.swapped(table, inc.dataset(table)))
            write = lambda reader: self.commit(reader, "append")  # noqa: E731
            write_routed(ctx, self.model_rel(), write, target=self.write_target("append", write))
