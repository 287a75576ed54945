"""Building a model's table: one strategy class per model kind, chosen by `STRATEGIES`.

A new kind is a new module with a `Build` subclass and a line in the table, never a branch in
the runner. Each strategy receives a `StepContext` (the workspace, the engine, the model, the
run, the step's result) and builds through `medallion.build.route` (expectations and
quarantine around its own commit).
"""

from __future__ import annotations

from medallion.build.incremental.append import AppendBuild
from medallion.build.incremental.by_time import ByTimeBuild
from medallion.build.incremental.merge import MergeBuild
from medallion.build.incremental.scd2 import SCD2Build
from medallion.build.step import Build, StepContext
from medallion.build.table import TableBuild
from medallion.build.view import ViewBuild

STRATEGIES: dict[str, type[Build]] = {
    "table": TableBuild,
    "view": ViewBuild,
    "append": AppendBuild,
    "merge": MergeBuild,
    "scd2": SCD2Build,
    "incremental_by_time": ByTimeBuild,
}


def build(ctx: StepContext) -> None:
    """Build the model of `ctx` by its kind's strategy."""
    STRATEGIES[ctx.model.kind](ctx).run()


__all__ = ["STRATEGIES", "Build", "StepContext", "build"]
