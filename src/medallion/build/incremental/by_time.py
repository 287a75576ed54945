"""The `incremental_by_time` kind: the time periods (`time_column` truncated to `grain`)
touched by new rows, plus `lookback` earlier periods, are recomputed from whole inputs and replace
exactly those periods of the table (one commit). A daily summary costs in proportion to new data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from medallion import arrays, sqltree
from medallion.build.incremental.base import IncrementalBuild
from medallion.build.incremental.commit import TABLE_PROPERTIES
from medallion.build.incremental.scope import Scope, distinct, find_scope, replaces, restrict
from medallion.build.route import write_routed
from medallion.engine.base import SRC
from medallion.storage import tables

if TYPE_CHECKING:
    from medallion.build.incremental.increment import Increment
    from medallion.models.kinds import ByTimeKind

_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def periods(values: list[Any], grain: str, lookback: int) -> list[Any]:
    """Each value's period and the `lookback` periods before it, sorted."""
    out = set()
    for v in values:
        if v is None:
            continue
        for i in range(lookback + 1):
            if grain == "month":
                y, m = v.year, v.month - i
                while m < 1:
                    y, m = y - 1, m + 12
                out.add(v.replace(year=y, month=m))
            else:
                out.add(v - _STEP[grain] * i)
    return sorted(out)


def truncate(v: Any, grain: str) -> Any:
    """A time value to the start of its period (inputs may hold finer times than the output)."""
    if v is None or not isinstance(v, date):
        return v
    if not isinstance(v, datetime):
        if grain == "month":
            return v.replace(day=1)
        if grain == "week":
            return v - timedelta(days=v.weekday())
        return v
    if grain == "hour":
        return v.replace(minute=0, second=0, microsecond=0)
    day = v.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


class ByTimeBuild(IncrementalBuild):
    def build_increment(self, inc: Increment) -> None:
        import pyarrow as pa
        import sqlglot.expressions as exp

        ctx = self.ctx
        kind: ByTimeKind = ctx.model.config.kind_config  # type: ignore[assignment]
        engine = ctx.engine
        column = kind.time_column
        scope = find_scope(ctx, inc, [column], self.model_rel)
        rel = self.model_rel()
        columns = engine.columns(rel)
        ctx.require_columns([column], columns, "time_column")
        if scope is None:
            write = lambda reader: self.commit(reader, "overwrite")  # noqa: E731
            target = self.write_target("overwrite", write)
            write_routed(ctx, rel, write, replaces(None), target=target)
            return
        values: list[Any] = []
        others = []
        for g in scope.groups:
            if g.column_names == [column]:
                values.extend(arrays.values(g.column(0)))
            else:
                others.append(g)
        if others:
            # inputs mapped to other columns: find their periods by running the SQL on them
            touched = engine.over(restrict(engine, rel, Scope(others)), distinct([column]))
            values.extend(arrays.values(engine.fetch(touched).column(0)))
        chosen = periods([truncate(v, kind.grain) for v in values], kind.grain, kind.lookback)
        details = ctx.result.details
        details["periods"] = [str(p) for p in chosen[:50]] + (["…"] if len(chosen) > 50 else [])
        if not chosen:
            ctx.result.note = "new rows touch no period"
            return
        # the output's periods may be DATE while the input held timestamps: match the output type
        out_type = engine.schema(rel).field(column).type
        if pa.types.is_date(out_type):
            chosen = [p.date() if isinstance(p, datetime) else p for p in chosen]
        # the periods as an Arrow table made by the engine: `pa.array` of Python dates would
        # make pyarrow import pandas (where installed) to check their types
        listed = exp.Unnest(expressions=[exp.Array(expressions=[sqltree.lit(p) for p in chosen])])
        period_table = engine.fetch(engine.relation(exp.select(exp.alias_(listed, column))))
        period_table = period_table.cast(pa.schema([pa.field(column, out_type)]))
        rel = restrict(engine, rel, Scope([period_table]))
        # the table's rows of those periods are replaced: the Delta writer's predicate, and the
        # same periods of the quarantine in the engine's SQL
        replaced = exp.In(
            this=sqltree.col(column),
            expressions=[tables.writer_literal(p, out_type) for p in chosen],
        )
        in_periods = sqltree.is_in(sqltree.col(column), chosen)
        if tables.is_delta_table(ctx.path):
            tables.ensure_properties(ctx.path, TABLE_PROPERTIES)
        write = lambda reader: self.commit(reader, "overwrite", predicate=replaced)  # noqa: E731
        write_routed(
            ctx,
            rel,
            write,
            lambda session, quarantined: session.over(
                quarantined, sqltree.select_star(SRC).where(in_periods.copy())
            ),
            # an engine writing the files itself rewrites only the files of those periods
            target=self.write_target("append", write, replace=in_periods),
        )
