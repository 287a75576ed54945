"""A run's checks on the rows it wrote, not on the whole table.

A row check that passed on version V of its table still holds for every row that was there at V
and is there now: removing rows cannot make `not_null`, `accepted_values`, `expression_is_true`,
`unique` or `relationships` fail. So when a table written by a run is at version W, each such check
whose latest result passed (recording the versions it read) needs only the rows added since V,
read from the Delta log (added data files, and a change feed's inserted and updated rows):

- `not_null`, `accepted_values`, `expression_is_true`: the added rows;
- `unique`: the rows of the whole table that share a key with an added row;
- `relationships`: the added rows, against the whole referenced table, as long as every value
  the referenced table held when the check passed is still there (its removed and pre-update
  rows are read from its log and looked up); otherwise the whole table.

Dropping 1% new order lines into 10M, the checks of `silver.fact_order_lines` then read the
new rows and the key column of the old ones instead of grouping all 10M keys (docs/benchmarks.md).
Everything else runs on the whole table as before: checks that have not passed yet (a failing
check is re-checked whole until it passes), checks over the table as a whole (row_count,
reconciliation, freshness, anomaly), views, and a log that no longer has the commits since V or
whose removed files were vacuumed. `medallion test` always checks whole tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.config.checks import (
    AcceptedValues,
    ExpressionIsTrue,
    NotNull,
    Relationships,
    Unique,
)
from medallion.quality.checks import HistoryLookup, run_checks

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.config.checks import CheckSpec
    from medallion.engine.base import Engine
    from medallion.state.records import CheckResult
    from medallion.storage import changes
    from medallion.storage.catalog import Catalog

#: checks that hold for a table when they hold for each of its rows (or keys)
ROW_CHECKS = (NotNull, AcceptedValues, ExpressionIsTrue, Unique, Relationships)
#: beyond this many new keys a `unique` check groups the whole table (as quick by then)
MAX_KEYS = 1_000_000


def run_table_checks(
    engine: Engine,
    catalog: Catalog,
    table: str,
    specs: list[CheckSpec],
    passed: dict[str, dict[str, int]],
    *,
    history: HistoryLookup | None = None,
    rows_written: int | None = None,
) -> list[CheckResult]:
    """`specs` of `table` (attached to `engine` with the tables they compare with), each on the
    rows written since it passed where that is enough (see the module docstring). `passed`:
    check name -> the table versions its latest (passing) result read."""
    now = engine.attached_versions().get(table)  # None: a view, or not stored yet
    results: dict[int, CheckResult] = {}
    since: dict[int, list[int]] = {}
    whole: list[int] = []
    for i, spec in enumerate(specs):
        v = _since(engine, catalog, table, now, spec, passed.get(spec.check_name))
        if v is None:
            whole.append(i)
        else:
            since.setdefault(v, []).append(i)
    for v, group in since.items():
        done = _on_new_rows(engine, catalog, table, v, [specs[i] for i in group], history)
        if done is None:
            whole.extend(group)
        else:
            results.update(zip(group, done, strict=True))
    if whole:
        found = run_checks(
            engine,
            table,
            [specs[i] for i in whole],
            history=history,
            rows_written=rows_written,
        )
        results.update(zip(whole, found, strict=True))
    return [results[i] for i in range(len(specs))]


def _since(
    engine: Engine,
    catalog: Catalog,
    table: str,
    now: int | None,
    spec: CheckSpec,
    read: dict[str, int] | None,
) -> int | None:
    """The version of `table` after which `spec` needs only the new rows; None: whole table."""
    if not isinstance(spec, ROW_CHECKS) or now is None or not read:
        return None
    since = read.get(table)
    if since is None or since > now:  # never recorded, or the table was created again
        return None
    if isinstance(spec, Relationships):
        assert spec.to is not None and spec.field is not None
        if spec.to == table:  # the new rows would be looked up among themselves only
            return None
        before, after = read.get(spec.to), engine.attached_versions().get(spec.to)
        if before is None or after is None or before > after:
            return None
        if after > before and not _keeps_values(engine, catalog, spec.to, spec.field, before):
            return None
    return since


def _changes_since(
    engine: Engine, catalog: Catalog, table: str, since: int
) -> changes.Changes | None:
    """What the commits after `since` up to the attached version did to `table`; None when the
    log cannot say (a commit no longer in it, a removed file vacuumed)."""
    from medallion.storage import changes

    now = engine.version_of(table)
    assert now is not None
    c = changes.changes(catalog.path(table), since, now)
    return None if not c.complete or c.removed_lost else c


def _keeps_values(engine: Engine, catalog: Catalog, table: str, column: str, since: int) -> bool:
    """Whether every value of `column` that `table` held at version `since` is still there."""
    import sqlglot.expressions as exp

    from medallion.sqltree import aliased, col
    from medallion.sqltree import table as table_ref
    from medallion.storage import changes

    c = _changes_since(engine, catalog, table, since)
    if c is None:
        return False
    old = changes.old_rows(catalog.path(table), c)
    if old is None:
        return True  # only rows added
    ref = table_ref(table)
    with engine.swapped(table, old):
        values = engine.fetch(engine.relation(exp.select(col(column)).distinct().from_(ref)))
    gone = (
        exp.select(exp.Count(this=exp.Star()))
        .from_(aliased(engine.register(values), "g"))
        .where(
            exp.and_(
                exp.Is(this=col(column, "g"), expression=exp.Null()).not_(),
                exp.not_(
                    exp.Exists(
                        this=exp.select(exp.Literal.number(1))
                        .from_(table_ref(table, "p"))
                        .where(exp.EQ(this=col(column, "p"), expression=col(column, "g")))
                    )
                ),
            )
        )
    )
    return int(engine.fetch(engine.relation(gone)).column(0)[0].as_py()) == 0


def _on_new_rows(
    engine: Engine,
    catalog: Catalog,
    table: str,
    since: int,
    specs: list[CheckSpec],
    history: HistoryLookup | None,
) -> list[CheckResult] | None:
    """`specs` run on the rows `table` gained since version `since`; None when the log cannot
    say which those are."""
    import sqlglot.expressions as exp

    from medallion.engine.restrict import Scope, restrict
    from medallion.sqltree import col, select_star
    from medallion.sqltree import table as table_ref
    from medallion.storage import changes

    c = _changes_since(engine, catalog, table, since)
    if c is None:
        return None
    path = catalog.path(table)
    ref = table_ref(table)
    rows_of: list[CheckSpec] = [s for s in specs if not isinstance(s, Unique)]
    keys_of: list[Unique] = [s for s in specs if isinstance(s, Unique)]
    done: dict[int, CheckResult] = {}
    keys: dict[int, pa.Table] = {}
    with engine.swapped(table, changes.new_rows(path, c)):
        added = engine.count(engine.relation(select_star(ref)))
        found = run_checks(engine, table, rows_of, history=history)
        done.update((id(spec), result) for spec, result in zip(rows_of, found, strict=True))
        for spec in keys_of:
            where = exp.condition(spec.where, dialect="duckdb") if spec.where else None
            query = exp.select(*[col(k) for k in spec.columns]).distinct().from_(ref)
            keys[id(spec)] = engine.fetch(engine.relation(query.where(where) if where else query))
    what = f"the {added:,} rows written since version {since}"
    for spec in rows_of:
        done[id(spec)].message += f" (checked on {what})"
    for spec in keys_of:
        new_keys = keys[id(spec)]
        if new_keys.num_rows > MAX_KEYS:
            (result,) = run_checks(engine, table, [spec], history=history)
        else:
            sharing = restrict(engine, engine.relation(select_star(ref)), Scope([new_keys]))
            (result,) = run_checks(
                engine, table, [spec], history=history, rows=engine.name(sharing)
            )
            result.message += f" (checked on the rows sharing a key with {what})"
        done[id(spec)] = result
    return [done[id(s)] for s in specs]
