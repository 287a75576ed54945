"""Which model rows an incremental run recomputes (restricting to them: engine/restrict.py).

New input rows touch some values of the model's output columns — its `unique_key` (merge, scd2),
its `time_column` (incremental_by_time), or the columns an input is mapped to in
`incremental_inputs`. Those values (a `Scope`) are found first; the model's SQL then runs on
whole inputs restricted to them, so joins and aggregates see complete data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from medallion import sqltree
from medallion.engine.base import SRC
from medallion.engine.restrict import Scope, restrict
from medallion.errors import ExecutionError

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.build.incremental.increment import Increment
    from medallion.build.step import StepContext
    from medallion.engine.base import Relation, Session

#: beyond this many touched keys/periods, filter by nothing (recompute all, still correct)
MAX_KEYS = 200_000


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


def replaces(scope: Scope | None) -> Callable[[Session, Relation], Relation]:
    """The earlier quarantined rows a run recomputing `scope` replaces (all of them when the
    whole model is recomputed)."""
    if scope is None:
        return lambda session, quarantined: quarantined
    return lambda session, quarantined: restrict(session, quarantined, scope)
