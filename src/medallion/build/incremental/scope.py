"""Which model rows an incremental run recomputes, and restricting a relation to them.

New input rows touch some values of the model's output columns — its `unique_key` (merge, scd2),
its `time_column` (incremental_by_time), or the columns an input is mapped to in
`incremental_inputs`. Those values (a `Scope`) are found first; the model's SQL then runs on
whole inputs restricted to them, so joins and aggregates see complete data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from medallion import arrays, sqltree
from medallion.engine.base import SRC
from medallion.errors import ExecutionError

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.build.incremental.increment import Increment
    from medallion.build.step import StepContext
    from medallion.engine.base import Relation, Session

#: beyond this many touched keys/periods, filter by nothing (recompute all, still correct)
MAX_KEYS = 200_000
#: up to this many values a restriction is an IN list, which DuckDB pushes down into the scans
#: (and row-group statistics); beyond, a semi join with the values as a table is faster to plan
INLIST_MAX = 2000


class Scope:
    """The model rows to recompute: those whose `columns` hold one of the value rows of a group
    (several groups: their union)."""

    def __init__(
        self, groups: list[pa.Table], removals: set[tuple[str, ...]] | None = None
    ) -> None:
        self.groups = [g for g in groups if g.num_rows]
        #: groups (by columns) fed by rows that changed or went away upstream: the only ones
        #: whose recomputation can make a model row disappear
        self.removals = removals or set()

    @property
    def rows(self) -> int:
        return sum(g.num_rows for g in self.groups)


def distinct(columns: list[str], source: str | exp.Table = SRC) -> exp.Select:
    """SELECT DISTINCT `columns` FROM `source` (default: __src, the relation queried over)."""
    import sqlglot.expressions as exp

    return exp.select(*[sqltree.col(c) for c in columns]).distinct().from_(source)


def find_scope(
    ctx: StepContext, inc: Increment, default: list[str], model_rel: Callable[[], Relation]
) -> Scope | None:
    """What new input rows touch, as values of model output columns. For each changed input:
    its declared columns (incremental_inputs as a mapping), else `default` (the unique_key or
    time_column) when the input has those columns, else the `default` columns of the model's
    output computed over the input's new rows (the other inputs whole). None when everything
    must be (or is cheaper to be) recomputed."""
    import pyarrow as pa

    if inc.full or not inc.removals_known:
        return None
    engine, model = ctx.engine, ctx.model
    found: dict[tuple[str, ...], list[pa.Table]] = {}
    removals: set[tuple[str, ...]] = set()
    for fqn in inc.changes:
        columns = model.incremental_inputs.get(fqn)
        if columns is None:
            input_columns = engine.columns(engine.relation(sqltree.select_star(sqltree.table(fqn))))
            if all(c in input_columns for c in default):
                columns = default
        for removed, sources in ((False, inc.dataset(fqn)), (True, inc.removed_dataset(fqn))):
            if not sources:
                continue
            with engine.swapped(fqn, sources):
                if columns is not None:
                    values = engine.fetch(engine.relation(distinct(columns, sqltree.table(fqn))))
                    key = tuple(columns)
                else:
                    rel = model_rel()
                    output = engine.columns(rel)
                    missing = [c for c in default if c not in output]
                    if missing:
                        raise ExecutionError(
                            f"column {missing[0]!r} (unique_key/time_column) is not in the "
                            "model's output",
                            model=model.fqn,
                            file=model.path,
                            hint=f"output columns: {', '.join(output)}",
                        )
                    values = engine.fetch(engine.over(rel, distinct(default)))
                    key = tuple(default)
                found.setdefault(key, []).append(values)
                if removed and values.num_rows:
                    removals.add(key)
    groups = []
    for columns_of, values_found in found.items():
        if len(values_found) == 1:
            groups.append(values_found[0])  # already distinct
            continue
        merged = pa.concat_tables(
            [t.select(list(columns_of)) for t in values_found], promote_options="permissive"
        )
        # distinct in the engine: Arrow's group_by loads pyarrow.dataset, which imports pandas
        groups.append(engine.fetch(engine.over(engine.arrow(merged), distinct(list(columns_of)))))
    scope = Scope(groups, removals)
    return None if scope.rows > MAX_KEYS else scope


def _bounds(column: Any) -> tuple[Any, Any]:
    """(min, max) of a column of orderable values (numbers, dates, text), else (None, None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if not (pa.types.is_integer(t) or pa.types.is_temporal(t) or pa.types.is_decimal(t) or text):
        return None, None
    mm = pc.min_max(column)
    return mm["min"].as_py(), mm["max"].as_py()


def restriction(session: Session, columns: list[str], scope: Scope) -> exp.Select:
    """A query over `__src` (whose columns are `columns`) keeping the rows in scope: per group
    an IN list (small) or a semi join with the values registered as a table (large, or several
    columns); several groups are combined without duplicates."""
    import sqlglot.expressions as exp

    from medallion.sqltree import aliased, and_, col, is_in, lit, or_, select_star, table

    parts = []
    for keys in scope.groups:
        names = keys.column_names
        missing = [c for c in names if c not in columns]
        if missing:
            raise ExecutionError(
                f"incremental input column {missing[0]!r} is not in the model's output",
                hint=f"output columns: {', '.join(columns)}",
            )
        if len(names) == 1 and keys.num_rows <= INLIST_MAX:
            values = [v for v in arrays.values(keys.column(0)) if v is not None]
            parts.append(select_star(SRC).where(is_in(col(names[0]), values)))
            continue
        registered = session.register(keys)
        # a range over each ordered key column first: DuckDB pushes it into the scans, so
        # files and row groups outside it are skipped before the semi join
        ranges = []
        for c in names:
            lo, hi = _bounds(keys.column(c))
            if lo is not None:
                ranges.append(exp.Between(this=col(c, "l"), low=lit(lo), high=lit(hi)))
        on = and_(*[exp.NullSafeEQ(this=col(c, "l"), expression=col(c, "r")) for c in names])
        semi = (
            exp.select(exp.Star())
            .from_(table(SRC, "l"))
            .join(aliased(registered, "r"), on=on, join_type="semi")
        )
        parts.append(semi.where(and_(*ranges)) if ranges else semi)
    if not parts:
        return select_star(SRC).where(exp.false())
    if len(parts) == 1:
        return parts[0]
    if all(g.num_columns == 1 for g in scope.groups):
        # one pass: a row is in scope when any of its columns holds a value of its group (an
        # OR of IN-subqueries, which DuckDB evaluates as mark joins) — no duplicates to remove
        terms = []
        for keys in scope.groups:
            name = keys.column_names[0]
            terms.append(
                exp.In(
                    this=col(name),
                    query=exp.select(col(name)).from_(session.register(keys)).subquery(),
                )
            )
        return select_star(SRC).where(or_(*terms))
    union = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=True)
    return union


def restrict(session: Session, rel: Relation, scope: Scope) -> Relation:
    """`rel` limited to the rows in scope (see `restriction`)."""
    return session.over(rel, restriction(session, session.columns(rel), scope))


def replaces(scope: Scope | None) -> Callable[[Session, Relation], Relation]:
    """The earlier quarantined rows a run recomputing `scope` replaces (all of them when the
    whole model is recomputed)."""
    if scope is None:
        return lambda session, quarantined: quarantined
    return lambda session, quarantined: restrict(session, quarantined, scope)
