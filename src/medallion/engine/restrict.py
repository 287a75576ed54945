"""Restricting a relation to the rows whose columns hold one of a set of values (a `Scope`):
how an incremental run recomputes only what new rows touch, and how a check reads only the
rows that share a key with new rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medallion import arrays
from medallion.engine.base import SRC
from medallion.errors import ExecutionError

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.engine.base import Relation, Session

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
