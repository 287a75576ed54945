"""Incremental model kinds: process only what is new upstream since the model's last run.

What "new" means
----------------
A model's Delta commit records the version of every table it read (`medallion.upstream`). On the
next run, for each *incremental input* the new rows are those of the data files added by the
commits since that version (read from the Delta log; compaction is not a change). Because the
record is in the same commit as the data it produced, a run killed at any instant and run again
reads exactly the same new rows: the checkpoint cannot disagree with the table. The state
database only mirrors it for `medallion status`.

The kinds
---------
- `append`: the model's SQL runs with each incremental input showing only its new rows; the
  result is appended. Its incremental inputs must only grow (an input rewritten since the last
  run is an error: use merge, or `--full-refresh`).
- `merge` (SCD type 1): upsert by `unique_key`, optionally deleting rows matching `delete_when`.
  The keys touched by new input rows are found first (the SQL run on the new rows of one input,
  the others whole), then the SQL runs on whole inputs restricted to those keys, so joins and
  aggregates see complete data. The result is merged; a key appearing twice keeps the row with
  the highest `order_by` (default `_ingested_at`), the others count as dropped.
- `scd2`: history by `unique_key`: a changed row (any `track` column differs) closes the
  current version (`valid_to`, `is_current = false`) and adds a new one (`valid_from`); an
  unchanged row adds nothing, so re-running the same input creates no new versions.
- `incremental_by_time`: the time periods (`time_column` truncated to `grain`) touched by new
  rows, plus `lookback` earlier periods, are recomputed from whole inputs and replace exactly
  those periods of the table (one commit). A daily summary costs in proportion to new data.

No new rows in any incremental input: nothing is written and the table keeps its version.
The first run, and `--full-refresh`, build the table from all input rows.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from medallion import arrays
from medallion.engine.duckdb_engine import scan_sql, scratch
from medallion.errors import ExecutionError
from medallion.storage import changes, parquet, snapshot, tables
from medallion.storage.catalog import app_id

if TYPE_CHECKING:
    from collections.abc import Iterator

    import duckdb
    import pyarrow as pa

    from medallion.engine.base import Engine
    from medallion.models.loader import Model
    from medallion.state.records import StepResult
    from medallion.workspace import Workspace

#: beyond this many touched keys/periods, filter by nothing (recompute all, still correct)
MAX_KEYS = 200_000
SCD_COLUMNS = ("valid_from", "valid_to", "is_current")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Increment:
    """The new rows of each incremental input since the model's last build."""

    def __init__(self, ws: Workspace, engine: Engine, model: Model, full: bool) -> None:
        self.ws = ws
        self.engine = engine
        self.model = model
        self.path = ws.catalog.path(model.fqn)
        record = None if full else changes.consumed_upstream(self.path)
        self.consumed: dict[str, int] | None = record[0] if record else None
        #: versions of every base input now (recorded with the new commit)
        self.current = {t: v for t, v in engine.attached_versions().items() if t != model.fqn}
        self.changes: dict[str, changes.Changes] = {}
        self.full = self.consumed is None
        if self.full:
            return
        assert self.consumed is not None
        for table in model.incremental_inputs:
            now = engine.version_of(table)
            before = self.consumed.get(table)
            if before is None or before > now:
                # an input the last build did not read (or a table re-created since): all of it
                self.changes[table] = changes.changes(ws.catalog.path(table), -1, now)
            elif now > before:
                self.changes[table] = changes.changes(ws.catalog.path(table), before, now)

    @property
    def nothing_new(self) -> bool:
        return not self.full and all(c.empty for c in self.changes.values())

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.changes.values())

    @property
    def removals_known(self) -> bool:
        return not any(c.removed_lost for c in self.changes.values())

    def dataset(self, table: str) -> list[tuple[Any, str | None]]:
        """The input's new rows: added data files, and inserted/updated change-feed rows."""
        return self._rows(table, self.changes[table].added, changes.CDF_NEW)

    def removed_dataset(self, table: str) -> list[tuple[Any, str | None]] | None:
        """The rows the input lost or changed since (removed files still on disk, deleted and
        pre-update change-feed rows), so the periods/keys they fed are recomputed too."""
        c = self.changes[table]
        if not (c.removed or c.cdc):
            return None
        return self._rows(table, c.removed, changes.CDF_OLD)

    def _rows(
        self, table: str, files: list[Any], change_types: tuple[str, ...]
    ) -> list[tuple[Any, str | None]]:
        c = self.changes[table]
        path = self.ws.catalog.path(table)
        sources: list[tuple[Any, str | None]] = []
        if files:
            sources.append((snapshot.file_set(path, files, c.until), None))
        if c.cdc:
            kinds = ", ".join(f"'{t}'" for t in change_types)
            sources.append(
                (
                    snapshot.file_set(path, c.cdc, c.until, change_feed=True),
                    f"_change_type IN ({kinds})",
                )
            )
        return sources

    def rows(self) -> int:
        return sum(len(c.added) for c in self.changes.values())


def build(
    ws: Workspace,
    engine: Engine,
    model: Model,
    run_id: str,
    res: StepResult,
    *,
    full_refresh: bool,
    finish: Any,
) -> None:
    """Build an incremental model. `finish(rel, write, replaces)` routes the model's rows
    through its expectations and calls `write(reader)` with the kept rows; it fills the step's
    counters. Kinds that recompute a scope pass `replaces`: the earlier quarantined rows that
    scope replaces."""
    inc = Increment(ws, engine, model, full_refresh)
    kind = model.config.kind
    res.details["mode"] = "full" if inc.full else "incremental"
    if inc.nothing_new:
        res.note = "no new data upstream"
        res.rows_in = res.rows_written = res.rows_dropped = res.rows_quarantined = 0
        return
    if not inc.full and not inc.complete:
        if kind == "append":
            raise ExecutionError(
                "the Delta log no longer holds every commit since the last run (log cleanup), "
                "so the new rows cannot be told apart",
                model=model.fqn,
                hint=f"rebuild it: medallion run --select {model.name} --full-refresh",
            )
        inc.full = True  # idempotent kinds recompute everything: still correct
        res.details["mode"] = "full (Delta log incomplete)"
    res.details["new_files"] = {t: len(c.added) for t, c in inc.changes.items()}

    props = _metadata(model, inc)
    txn = (
        app_id("model", model.fqn),
        (tables.transaction_version(inc.path, app_id("model", model.fqn)) or 0) + 1,
    )

    if kind == "append":
        _append(ws, engine, model, inc, run_id, res, props, txn, finish)
    elif kind == "merge":
        _merge(ws, engine, model, inc, run_id, res, props, txn, finish)
    elif kind == "scd2":
        _scd2(ws, engine, model, inc, run_id, res, props, txn, finish)
    else:
        _by_time(ws, engine, model, inc, run_id, res, props, txn, finish)


def _metadata(model: Model, inc: Increment) -> dict[str, Any]:
    return {
        "medallion.model": model.fqn,
        "medallion.kind": model.config.kind,
        changes.UPSTREAM_KEY: dict(inc.current),
    }


def _relation(engine: Engine, model: Model) -> duckdb.DuckDBPyRelation:
    from medallion.runner.execute import model_relation, sql_error

    rel = model_relation(engine, model)
    try:
        return engine.delta_safe(rel)
    except Exception as e:
        raise sql_error(str(e), model) from None


# -- append ---------------------------------------------------------------------------------------


def _append(ws, engine, model, inc, run_id, res, props, txn, finish) -> None:
    if inc.full:
        rel = _relation(engine, model)
        finish(rel, lambda reader: _write(ws, model, reader, "overwrite", run_id, props, txn))
        return
    rewritten = [t for t, c in inc.changes.items() if c.rewritten]
    if rewritten:
        raise ExecutionError(
            f"append model reads {rewritten[0]}, which was rewritten (overwritten or merged) "
            "since the last run, so its new rows are not only new",
            model=model.fqn,
            file=model.path,
            hint="an append model needs inputs that only grow; use kind merge, or rebuild: "
            f"medallion run --select {model.name} --full-refresh",
        )
    with _swapped(engine, inc, list(inc.changes)):
        rel = _relation(engine, model)
        finish(rel, lambda reader: _write(ws, model, reader, "append", run_id, props, txn))


def _write(ws, model, reader, mode, run_id, props, txn, predicate=None):
    from deltalake import CommitProperties, Transaction

    path = ws.catalog.path(model.fqn)
    custom = {tables.RUN_ID_KEY: run_id, **{k: tables.jsonable(v) for k, v in props.items()}}
    return tables.commit(
        path,
        reader,
        mode=mode,
        partition_by=model.config.partition_by,
        commit_properties=CommitProperties(
            custom_metadata=custom, app_transactions=[Transaction(*txn)]
        ),
        description=model.config.description,
        # row-level changes (merge, replacing periods) write a change feed, so that downstream
        # incremental models read the changed rows, not every row of the rewritten files
        configuration=dict(TABLE_PROPERTIES),
        predicate=predicate,
    )


CDF = "delta.enableChangeDataFeed"
#: table properties of incremental models: a change feed, and moderate files (honoured by
#: writes and merges alike), so that a merge rewrites only the files holding changed rows
TABLE_PROPERTIES = {CDF: "true", "delta.targetFileSize": str(16 * 1024 * 1024)}


def _ensure_change_feed(path: Any) -> None:
    """Set the incremental table properties on a table created before medallion set them."""
    dt = tables.open_table(path)
    current = dt.metadata().configuration
    missing = {k: v for k, v in TABLE_PROPERTIES.items() if current.get(k) != v}
    if missing:
        dt.alter.set_table_properties(missing)


class _swapped:
    """Point several inputs at their new rows at once (nested Engine.swapped)."""

    def __init__(self, engine: Engine, inc: Increment, tables: list[str]) -> None:
        from contextlib import ExitStack

        self.stack = ExitStack()
        self.engine, self.inc, self.tables = engine, inc, tables

    def __enter__(self) -> None:
        for t in self.tables:
            self.stack.enter_context(self.engine.swapped(t, self.inc.dataset(t)))

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


# -- finding what to recompute --------------------------------------------------------------------


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


def _input_columns(engine: Engine, table: str) -> list[str]:
    layer, name = table.split(".", 1)
    return engine.con.sql(f"SELECT * FROM {_q(layer)}.{_q(name)} LIMIT 0").columns


def _scope(engine: Engine, model: Model, inc: Increment, default: list[str]) -> Scope | None:
    """What new input rows touch, as values of model output columns. For each changed input:
    its declared columns (incremental_inputs as a mapping), else `default` (the unique_key or
    time_column) when the input has those columns, else the `default` columns of the model's
    output computed over the input's new rows (the other inputs whole). None when everything
    must be (or is cheaper to be) recomputed."""
    import pyarrow as pa

    if inc.full or not inc.removals_known:
        return None
    found: dict[tuple[str, ...], list[pa.Table]] = {}
    removals: set[tuple[str, ...]] = set()
    for table in inc.changes:
        columns = model.incremental_inputs.get(table)
        if columns is None and all(c in _input_columns(engine, table) for c in default):
            columns = default
        for removed, sources in ((False, inc.dataset(table)), (True, inc.removed_dataset(table))):
            if not sources:
                continue
            with engine.swapped(table, sources):
                if columns is not None:
                    layer, name = table.split(".", 1)
                    cols = ", ".join(_q(c) for c in columns)
                    values = (
                        engine.con.sql(f"SELECT DISTINCT {cols} FROM {_q(layer)}.{_q(name)}")
                        .arrow()
                        .read_all()
                    )
                    found.setdefault(tuple(columns), []).append(values)
                    if removed and values.num_rows:
                        removals.add(tuple(columns))
                else:
                    rel = _relation(engine, model)
                    missing = [c for c in default if c not in rel.columns]
                    if missing:
                        raise ExecutionError(
                            f"column {missing[0]!r} (unique_key/time_column) is not in the "
                            "model's output",
                            model=model.fqn,
                            file=model.path,
                            hint=f"output columns: {', '.join(rel.columns)}",
                        )
                    cols = ", ".join(_q(c) for c in default)
                    values = rel.project(cols).distinct().arrow().read_all()
                    found.setdefault(tuple(default), []).append(values)
                    if removed and values.num_rows:
                        removals.add(tuple(default))
    groups = []
    for columns, values_found in found.items():
        if len(values_found) == 1:
            groups.append(values_found[0])  # already distinct
            continue
        merged = pa.concat_tables(
            [t.select(list(columns)) for t in values_found], promote_options="permissive"
        )
        # distinct in DuckDB: Arrow's group_by loads pyarrow.dataset, which imports pandas
        groups.append(engine.con.from_arrow(merged).distinct().arrow().read_all())
    scope = Scope(groups, removals)
    return None if scope.rows > MAX_KEYS else scope


#: up to this many values a restriction is an IN list, which DuckDB pushes down into the scans
#: (and row-group statistics); beyond, a semi join with the values as a table is faster to plan
INLIST_MAX = 2000
_registered = itertools.count()


def _bounds(column: Any) -> tuple[Any, Any]:
    """(min, max) of a column of orderable values (numbers, dates, text), else (None, None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_temporal(t) or pa.types.is_decimal(t)):
        return None, None
    mm = pc.min_max(column)
    return mm["min"].as_py(), mm["max"].as_py()


def sql_literal(value: Any) -> str:
    """A DuckDB literal for a key value. Written directly rather than through SQLGlot trees:
    restrictions can hold thousands of values, and building a tree per value dominated the
    planning time."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, int | float) else str(value)
    if isinstance(value, datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return f"{kind} '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _restrict(con: Any, rel: duckdb.DuckDBPyRelation, scope: Scope) -> Any:
    """`rel` limited to the scope: per group an IN list (small) or a semi join with the values
    registered as a table (large, or several columns); several groups are unioned without
    duplicates."""
    parts = []
    for keys in scope.groups:
        columns = keys.column_names
        missing = [c for c in columns if c not in rel.columns]
        if missing:
            raise ExecutionError(
                f"incremental input column {missing[0]!r} is not in the model's output",
                hint=f"output columns: {', '.join(rel.columns)}",
            )
        if len(columns) == 1 and keys.num_rows <= INLIST_MAX:
            values = [v for v in arrays.values(keys.column(0)) if v is not None]
            cond = f"{_q(columns[0])} IN ({', '.join(sql_literal(v) for v in values)})"
            parts.append(rel.filter(cond if values else "false"))
        else:
            name = f"__medallion_keys_{next(_registered)}"
            con.register(name, keys)
            # a range over each ordered key column first: DuckDB pushes it into the scans, so
            # files and row groups outside it are skipped before the semi join
            narrowed = rel
            for c in columns:
                lo, hi = _bounds(keys.column(c))
                if lo is not None:
                    narrowed = narrowed.filter(
                        f"{_q(c)} BETWEEN {sql_literal(lo)} AND {sql_literal(hi)}"
                    )
            on = " AND ".join(f"l.{_q(c)} IS NOT DISTINCT FROM r.{_q(c)}" for c in columns)
            parts.append(
                narrowed.set_alias("l").join(con.table(name).set_alias("r"), on, how="semi")
            )
    if not parts:
        return rel.filter("false")
    if len(parts) == 1:
        return parts[0]
    if all(g.num_columns == 1 for g in scope.groups):
        # one pass: a row is in scope when any of its columns holds a value of its group (an
        # OR of IN-subqueries, which DuckDB evaluates as mark joins) — no duplicates to remove
        terms = []
        for keys in scope.groups:
            name = f"__medallion_keys_{next(_registered)}"
            con.register(name, keys)
            col = _q(keys.column_names[0])
            terms.append(f"{col} IN (SELECT {col} FROM {name})")
        return rel.filter(" OR ".join(terms))
    union = parts[0]
    for p in parts[1:]:
        union = union.union(p)
    return union.distinct()


def _dedupe(rel: duckdb.DuckDBPyRelation, keys: list[str], order_by: str | list[str] | None) -> Any:
    """One row per key: the highest `order_by` wins (default `_ingested_at` if present)."""
    import sqlglot
    import sqlglot.expressions as exp

    if order_by is None:
        order_by = ["_ingested_at"] if "_ingested_at" in rel.columns else []
    orders = [order_by] if isinstance(order_by, str) else list(order_by)
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column(k, quoted=True) for k in keys],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=sqlglot.parse_one(o, dialect="duckdb"), desc=True) for o in orders
            ]
        )
        if orders
        else None,
    )
    query = (
        exp.select(exp.Star())
        .from_("__src")
        .qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))
    )
    return rel.query("__src", query.sql(dialect="duckdb"))


class _RepeatedKeys(ExecutionError):
    """A guarded first build's rows repeat a key: it is built again, de-duplicating."""


class _KeyGuard:
    """Passes a stream through, keeping only its key columns; at the end of the stream a
    repeated key raises _RepeatedKeys (see _first_build)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.repeated = False

    def wrap(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        import pyarrow as pa

        key_schema = pa.schema([reader.schema.field(k) for k in self.keys])
        chunks: list[pa.RecordBatch] = []

        def batches() -> Iterator[pa.RecordBatch]:
            import duckdb

            for batch in reader:
                chunks.append(batch.select(self.keys))
                yield batch
            table = pa.Table.from_batches(chunks, key_schema)
            chunks.clear()
            # counted by DuckDB: Arrow's group_by loads pyarrow.dataset, which imports pandas
            # where installed (0.25 s); and not on the engine's connection, which streams this
            cols = ", ".join(_q(k) for k in self.keys)
            try:
                with scratch() as con:
                    rel = con.from_arrow(table)
                    distinct = rel.query(
                        "__keys", f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM __keys)"
                    ).fetchall()[0][0]
            except duckdb.Error:
                distinct = -1  # keys DuckDB cannot compare: de-duplicate to be sure
            if distinct != table.num_rows:
                self.repeated = True
                raise _RepeatedKeys("repeated keys in a first build")

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


# -- merge ----------------------------------------------------------------------------------------


class _Staged:
    """The routed model rows in a DuckDB temp table (spills to disk when large), so they can be
    counted, de-duplicated and compared with the target in several queries."""

    _n = 0

    def __init__(self, engine: Engine, reader: pa.RecordBatchReader) -> None:
        _Staged._n += 1
        self.con = engine.side_connection()
        self.name = f"__medallion_staged_{_Staged._n}"
        self.con.from_arrow(reader).create(self.name)
        self.rel = self.con.table(self.name)
        self.rows = _count(self.rel)

    def drop(self) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {self.name}")


def _merge(ws, engine, model, inc, run_id, res, props, txn, finish) -> None:
    import sqlglot
    from deltalake import CommitProperties, Transaction

    keys = model.config.unique_key
    scope = _scope(engine, model, inc, keys)
    rel = _relation(engine, model)
    path = ws.catalog.path(model.fqn)
    deletes = (
        sqlglot.parse_one(model.config.delete_when, dialect="duckdb")
        if model.config.delete_when
        else None
    )
    # the table as this merge finds it (nothing commits to it before the merge does): its
    # files are read once for every decision below
    target = None if inc.full or not tables.is_delta_table(path) else snapshot.snapshot(path)
    rebuild = None
    if scope is not None:
        res.details["touched"] = scope.rows
        if deletes is None and target is not None:
            rebuild = _rebuild_instead(ws, engine, model, target, scope, res.rows_read)
        if rebuild is None:
            rel = _restrict(engine.con, rel, scope)
        else:
            res.details["merge_path"] = rebuild
            scope = None  # the whole model, and its whole quarantine, are recomputed

    first = _FirstBuild(
        model,
        deletes is None and (target is None or rebuild is not None),
    )

    def write(reader: pa.RecordBatchReader) -> int:
        if first.mode is not None:
            version, n_written = first.build(
                engine,
                path,
                model,
                reader,
                lambda rows: _write(ws, model, rows, "overwrite", run_id, props, txn),
                res,
            )
            if rebuild is None:
                res.details["merge"] = {"inserted": n_written, "deleted": 0}
            return version
        staged = _Staged(engine, reader)
        try:
            deduped = _dedupe(staged.rel, keys, model.config.order_by)
            n_deduped = _count(deduped)
            res.details["duplicates_dropped"] = staged.rows - n_deduped
            if target is None:
                kept = deduped
                if deletes is not None:
                    kept = deduped.filter(f"NOT coalesce(({deletes.sql(dialect='duckdb')}), false)")
                n_kept = _count(kept)
                res.details["merge"] = {"inserted": n_kept, "deleted": n_deduped - n_kept}
                res.details["delta_rows"] = n_kept
                return _write(ws, model, kept.arrow(), "overwrite", run_id, props, txn)
            gone = _gone(staged, target, scope, deduped, keys) if scope is not None else None
            if n_deduped == 0 and not gone:
                res.details["merge"] = {"inserted": 0, "updated": 0, "deleted": 0}
                res.details["delta_rows"] = 0
                res.note = "nothing to merge"
                return -1
            kept = deduped
            if deletes is not None:
                kept = deduped.filter(f"NOT coalesce(({deletes.sql(dialect='duckdb')}), false)")
            matched, touched, files = _overlap(staged, deduped, target, keys)
            if matched == 0 and not gone:
                # only new keys: an append, without delta-rs scanning the whole target
                n_kept = _count(kept)
                res.details["merge"] = {"inserted": n_kept, "updated": 0, "deleted": 0}
                res.details["merge_path"] = "append (no key exists yet)"
                res.details["delta_rows"] = n_kept
                return _write(ws, model, kept.arrow(), "append", run_id, props, txn)
            if (
                target.rows >= REWRITE_MIN_ROWS
                and touched * 2 >= files
                and not _read_incrementally(ws, model.fqn)
            ):
                # most files hold a changed key, so a merge would rewrite them all anyway, and
                # delta-rs's MERGE is slow and memory-hungry on large tables: a streamed
                # rewrite is cheaper. Only for tables nobody reads incrementally: an overwrite
                # carries no change feed.
                res.details["merge_path"] = f"rewrite ({touched} of {files} files touched)"
                kept_matched = _overlap(staged, kept, target, keys)[0] if deletes else matched
                n_kept = _count(kept)
                res.details["merge"] = {
                    "inserted": n_kept - kept_matched,
                    "updated": kept_matched,  # rewritten with the new values, changed or not
                    "deleted": matched - kept_matched + _count_gone(staged, target, gone),
                }
                counter = tables.RowCounter()
                version = _rewrite(
                    ws, model, staged, kept, gone, target, keys, run_id, props, txn, counter
                )
                res.details["delta_rows"] = counter.rows  # the commit holds the whole table
                return version
            on = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in keys)
            custom = {
                tables.RUN_ID_KEY: run_id,
                **{k: tables.jsonable(v) for k, v in props.items()},
            }
            _ensure_change_feed(path)
            merger = tables.open_table(path).merge(
                deduped.arrow(),
                predicate=on,
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                commit_properties=CommitProperties(
                    custom_metadata=custom, app_transactions=[Transaction(*txn)]
                ),
                writer_properties=parquet.writer_properties(),
            )
            # a matched row is rewritten only if a value changed: unchanged rows keep their
            # files, and the change feed (what downstream models read) lists real changes only
            changed = _changed_predicate(path, deduped.columns, keys)
            if deletes is not None:
                qualified = _qualify(deletes, "s")
                not_deleted = f"NOT coalesce(({qualified}), false)"
                update_when = f"({not_deleted}) AND ({changed})" if changed else not_deleted
                merger = (
                    merger.when_matched_delete(predicate=qualified)
                    .when_matched_update_all(predicate=update_when)
                    .when_not_matched_insert_all(predicate=not_deleted)
                )
            else:
                merger = merger.when_matched_update_all(
                    predicate=changed or None
                ).when_not_matched_insert_all()
            # rows of the recomputed scope that the model no longer produces (their input rows
            # were deleted) are deleted too
            if gone:
                merger = merger.when_not_matched_by_source_delete(predicate=gone)
            before = tables.open_table(path).version()
            try:
                metrics = merger.execute()
            except Exception as e:
                raise ExecutionError(
                    f"merge failed: {e}", model=model.fqn, file=model.path
                ) from None
            res.details["merge"] = {
                "inserted": metrics.get("num_target_rows_inserted"),
                "updated": metrics.get("num_target_rows_updated"),
                "deleted": metrics.get("num_target_rows_deleted"),
            }
            version = tables.open_table(path).version()
            if version == before:
                # every recomputed row equals the table's: delta-rs commits nothing, and the
                # rows count as unchanged (dropped), not written
                res.details["unchanged_rows"] = n_deduped
                res.note = "recomputed rows unchanged"
                return -1
            res.details["delta_rows"] = metrics.get("num_source_rows", n_deduped)
            return version
        finally:
            staged.drop()

    first.run(finish, rel, write, _replaces(scope))
    _count_duplicates_as_dropped(res)


class _FirstBuild:
    """How a merge or scd2 model's build starts: `mode` is "guarded" or "deduped" for a first
    build (see _first_build), None when there is a table to compare with."""

    def __init__(self, model: Model, first: bool) -> None:
        self.mode: str | None = None
        if first:
            self.mode = "guarded" if model.config.order_by is None else "deduped"

    def build(
        self,
        engine: Engine,
        path: Any,
        model: Model,
        reader: pa.RecordBatchReader,
        write: Any,
        res: StepResult,
        select: str | None = None,
    ) -> tuple[int, int]:
        """The first build (see _first_build), its duplicates dropped and rows written recorded
        in `res`; returns (version, rows written)."""
        version, n_read, n_written = _first_build(
            engine, path, model, reader, self.mode == "guarded", write, select
        )
        res.details["duplicates_dropped"] = n_read - n_written
        res.details["delta_rows"] = n_written
        return version, n_written

    def run(self, finish: Any, rel: Any, write: Any, replaces: Any) -> None:
        """finish(); once more de-duplicating if a guarded build found a repeated key."""
        try:
            finish(rel, write, replaces=replaces)
        except _RepeatedKeys:
            self.mode = "deduped"
            finish(rel, write, replaces=replaces)


def _first_build(
    engine: Engine,
    path: Any,
    model: Model,
    reader: pa.RecordBatchReader,
    guarded: bool,
    write: Any,
    select: str | None = None,
) -> tuple[int, int, int]:
    """A merge or scd2 model's first build (no table to compare with): its rows stream once
    into `write(reader) -> version`; returns (version, rows read, rows written).

    Guarded (the model has no `order_by`, so repeated keys are not expected): the rows go
    straight to the writer with only their key columns kept aside; a key found repeated at the
    end of the stream fails the write before its commit, the files it left are removed and
    _RepeatedKeys is raised, for the caller to build again unguarded. Unguarded: de-duplicated
    by one DuckDB window query over the stream (the highest `order_by` wins).

    Why guard: most models' SQL already yields one row per key (it ranks versions itself), and
    de-duplicating costs a sort of every row and column (0.5 s of a 2 s first build of a
    1M-row, 27-column table) for nothing. A model that declares `order_by` expects copies, so it
    is de-duplicated at once rather than built twice.

    `select`: a SELECT over `__s`, the de-duplicated rows (scd2 adds its columns)."""
    import shutil

    keys = model.config.unique_key
    read, written = tables.RowCounter(), tables.RowCounter()
    guard = _KeyGuard(keys) if guarded else None
    stream = read.wrap(reader)
    if guard is not None:
        stream = guard.wrap(stream)
    existed = tables.is_delta_table(path)
    try:
        if guard is None or select:
            # the side connection: the engine's own is streaming the model's rows into `reader`
            rel = engine.side_connection().from_arrow(stream)
            if guard is None:
                rel = _dedupe(rel, keys, model.config.order_by)
            if select:
                rel = rel.query("__s", select)
            # DuckDB may read the whole (small) stream here already, repeated keys included
            stream = rel.arrow()
        version = write(written.wrap(stream))
    except Exception:
        if guard is None or not guard.repeated:
            raise
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise _RepeatedKeys(f"repeated keys in the first build of {model.fqn}") from None
    return version, read.rows, written.rows


def _file_scan(target: snapshot.Snapshot, columns: list[str]) -> str | None:
    """SELECT of `columns` and the data file of each row (`filename`) over the target's files;
    None when the files cannot tell (no file, a table only deltalake reads, a partition column
    among `columns`, which the files do not store)."""
    paths = target.files.paths
    if (
        not paths
        or target.files.fallback is not None
        or set(columns) & set(target.files.partition_columns)
    ):
        return None
    file_list = ", ".join(sql_literal(p) for p in paths)
    cols = ", ".join(_q(c) for c in columns)
    options = "filename = true, hive_partitioning = false"
    return f"SELECT {cols}, filename FROM read_parquet([{file_list}], {options})"


def _overlap(
    staged: _Staged, source: Any, target: snapshot.Snapshot, keys: list[str]
) -> tuple[int, int, int]:
    """(keys of `source` already in the target, target files holding one, target files): one
    scan of the target's key columns, which decides how to merge."""
    scan = _file_scan(target, keys)
    if scan is None:
        return 1, 0, 0  # no file-level answer: let delta-rs merge
    cols = ", ".join(_q(k) for k in keys)
    name = f"{staged.name}_source_keys"
    source.project(cols).create(name)  # a table: the connection allows one open result
    try:
        matched, touched = staged.con.sql(
            f"SELECT count(*), count(DISTINCT t.filename) FROM ({scan}) t "
            f"JOIN {name} s USING ({cols})"
        ).fetchall()[0]
    finally:
        staged.con.execute(f"DROP TABLE IF EXISTS {name}")
    return int(matched), int(touched), len(target.files.paths)


#: a merge into a table this large, whose changed keys are in most of its files, is done as a
#: streamed rewrite or a rebuild (see _merge); smaller tables always use delta-rs's MERGE
REWRITE_MIN_ROWS = 250_000


def _rebuild_instead(
    ws: Workspace,
    engine: Engine,
    model: Model,
    target: snapshot.Snapshot,
    scope: Scope,
    rows_read: int,
) -> str | None:
    """Why the model is better rebuilt whole than merged (None: merge it). A merge whose scope
    holds rows in most of a large table's files rewrites the table anyway (see _merge): reading
    the target, dropping the recomputed rows and streaming the rest back. When the model's
    inputs are not much larger than the table (a wide join, not an aggregation), computing the
    whole model costs about what reading the table does, and the restricted query is saved:
    the 1M-line one-big-table of the retail template after a 1% drop, 2.3 s merged as a rewrite,
    1.6 s rebuilt. Only for models without `order_by`: their rows stream straight into the table
    (see _first_build), where a model with `order_by` would be de-duplicated by a sort of every
    row (10M rows: seconds and gigabytes) that the rewrite does on the changed rows alone.

    The result is the same: with a scope, every run recomputes exactly the rows its changes
    touch (and deletes those it no longer produces), so the table always equals the model over
    its current inputs. Not for tables a model reads incrementally (an overwrite carries no
    change feed)."""
    columns = list(dict.fromkeys(c for g in scope.groups for c in g.column_names))
    if (
        model.config.order_by is not None
        or _read_incrementally(ws, model.fqn)
        or target.rows < REWRITE_MIN_ROWS
        or rows_read > 2 * target.rows
        or not set(columns) <= set(target.schema.names)
    ):
        return None
    scan = _file_scan(target, columns)
    if scan is None:
        return None
    in_scope = _restrict(engine.con, engine.con.sql(scan), scope)
    touched = int(in_scope.aggregate("count(DISTINCT filename)").fetchall()[0][0])
    files = len(target.files.paths)
    if touched * 2 < files:
        return None
    return f"rebuild ({touched} of {files} files hold a recomputed row)"


def _count_gone(staged: _Staged, target: snapshot.Snapshot, gone: str | None) -> int:
    if not gone:
        return 0
    body, names = scan_sql(staged.con, target.files, f"{staged.name}_gone_count")
    try:
        return int(staged.con.sql(f"SELECT count(*) FROM ({body}) t WHERE {gone}").fetchall()[0][0])
    finally:
        for n in names:
            staged.con.unregister(n)


def _read_incrementally(ws: Workspace, fqn: str) -> bool:
    """Whether a model reads `fqn`'s changes (its change feed) rather than the whole table."""
    return any(fqn in m.incremental_inputs for m in ws.models.values())


def _rewrite(ws, model, staged, kept, gone, target, keys, run_id, props, txn, counter) -> int:
    """The merge as one overwrite: the target's rows whose key is not among the new rows (nor
    gone), then the new rows, streamed from DuckDB into the Delta writer."""
    body, names = scan_sql(staged.con, target.files, f"{staged.name}_target")
    keys_tbl = f"{staged.name}_keys_all"
    cols = ", ".join(_q(k) for k in keys)
    staged.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {keys_tbl} AS SELECT {cols} FROM {staged.name}"
    )
    kept_tbl = f"{staged.name}_kept"
    kept.create(kept_tbl)
    try:
        join = " AND ".join(f"k.{_q(k)} = t.{_q(k)}" for k in keys)
        where = f"NOT EXISTS (SELECT 1 FROM {keys_tbl} k WHERE {join})"
        if gone:
            where += f" AND NOT ({gone})"
        rel = staged.con.sql(
            f"SELECT * FROM ({body}) t WHERE {where} UNION ALL BY NAME SELECT * FROM {kept_tbl}"
        )
        reader = counter.wrap(rel.arrow())
        return _write(ws, model, reader, "overwrite", run_id, props, txn)
    finally:
        staged.con.execute(f"DROP TABLE IF EXISTS {keys_tbl}")
        staged.con.execute(f"DROP TABLE IF EXISTS {kept_tbl}")
        for n in names:
            staged.con.unregister(n)


def _gone(
    staged: _Staged, target: snapshot.Snapshot, scope: Scope, source: Any, keys: list[str]
) -> str | None:
    """A merge predicate deleting the target rows the recomputation no longer produces: rows of
    the recomputed scope whose key is not in the new rows (their input rows were deleted).
    Found in DuckDB, so the predicate lists only those keys (usually none)."""
    con = staged.con
    cols = ", ".join(_q(k) for k in keys)
    rows: list[Any] = []
    # only groups fed by upstream rows that changed or went away can lose model rows; a group on
    # the unique key itself needs no scan: its keys missing from the new rows are gone
    for g in scope.groups:
        if g.column_names == keys and tuple(keys) in scope.removals:
            name = f"{staged.name}_keys"
            con.register(name, g)
            rows += con.table(name).project(cols).except_(source.project(cols)).fetchall()
            con.unregister(name)
    # other groups whose upstream rows changed or went away: find their target rows
    others = [
        g
        for g in scope.groups
        if g.column_names != keys and tuple(g.column_names) in scope.removals
    ]
    if others:
        body, names = scan_sql(con, target.files, f"{staged.name}_gone")
        in_scope = _restrict(con, con.sql(body), Scope(others)).project(cols)
        rows += in_scope.except_(source.project(cols)).fetchall()
        for n in names:
            con.unregister(n)
    rows = sorted(set(rows), key=lambda r: tuple(str(v) for v in r))
    if not rows:
        return None
    if len(keys) == 1:
        return f"t.{_q(keys[0])} IN ({', '.join(sql_literal(r[0]) for r in rows)})"
    return " OR ".join(
        "("
        + " AND ".join(f"t.{_q(k)} = {sql_literal(v)}" for k, v in zip(keys, r, strict=True))
        + ")"
        for r in rows
    )


def _changed_predicate(path: Any, columns: list[str], keys: list[str]) -> str:
    """`(s.a IS DISTINCT FROM t.a) OR ...` over the non-key columns both sides have."""
    target = set(tables.open_table(path).schema().to_arrow().names)  # type: ignore[attr-defined]
    compared = [c for c in columns if c not in keys and c in target]
    return " OR ".join(f"(s.{_q(c)} IS DISTINCT FROM t.{_q(c)})" for c in compared)


def _replaces(scope: Scope | None) -> Any:
    """The earlier quarantined rows a run recomputing `scope` replaces (all of them when the
    whole model is recomputed)."""
    if scope is None:
        return lambda con, quarantined: quarantined
    return lambda con, quarantined: _restrict(con, quarantined, scope)


def _count_unchanged_as_dropped(res: StepResult) -> None:
    """scd2: rows equal to their current version add nothing: not written, counted dropped."""
    unchanged = (res.details.get("scd2") or {}).get("unchanged", 0)
    if unchanged:
        res.rows_written = (res.rows_written or 0) - unchanged
        res.rows_dropped = (res.rows_dropped or 0) + unchanged


def _count_duplicates_as_dropped(res: StepResult) -> None:
    """Rows a later row with the same key replaced, and rows equal to what the table holds
    when nothing was committed: dropped (and counted), not written."""
    dupes = res.details.get("duplicates_dropped", 0) + res.details.get("unchanged_rows", 0)
    if dupes:
        res.rows_written = (res.rows_written or 0) - dupes
        res.rows_dropped = (res.rows_dropped or 0) + dupes


def _count(rel: Any) -> int:
    return int(rel.aggregate("count(*)").fetchall()[0][0])


def _qualify(tree: Any, alias: str) -> str:
    """A predicate over the model's columns, with every column qualified by `alias` (for the
    Delta merge's SQL dialect, where source and target have the same column names)."""
    import sqlglot.expressions as exp

    t = tree.copy()
    for col in t.find_all(exp.Column):
        col.set("table", exp.to_identifier(alias))
        col.this.set("quoted", True)
    return t.sql(dialect="postgres")


# -- scd2 -----------------------------------------------------------------------------------------


def _scd2(ws, engine, model, inc, run_id, res, props, txn, finish) -> None:
    from deltalake import CommitProperties, Transaction

    keys = model.config.unique_key
    path = ws.catalog.path(model.fqn)
    scope = _scope(engine, model, inc, keys)
    rel = _relation(engine, model)
    clash = [c for c in SCD_COLUMNS if c in rel.columns]
    if clash:
        raise ExecutionError(
            f"the output has a column {clash[0]!r}, which scd2 adds itself",
            model=model.fqn,
            file=model.path,
            hint="rename it; scd2 adds valid_from, valid_to and is_current",
        )
    tracked = model.config.track or [c for c in rel.columns if c not in keys]
    missing = [c for c in [*tracked, *keys] if c not in rel.columns]
    if missing:
        raise ExecutionError(
            f"scd2 column {missing[0]!r} is not in the model's output",
            model=model.fqn,
            file=model.path,
            hint=f"output columns: {', '.join(rel.columns)}",
        )
    if scope is not None:
        rel = _restrict(engine.con, rel, scope)
        res.details["touched"] = scope.rows
    valid_from = (
        f"CAST(({model.config.valid_from}) AS TIMESTAMPTZ)"
        if model.config.valid_from
        else f"TIMESTAMPTZ '{datetime.now(UTC).isoformat()}'"
    )

    first = _FirstBuild(model, inc.full or not tables.is_delta_table(path))

    def write(reader: pa.RecordBatchReader) -> int:
        if first.mode is not None:  # every key opens its first version
            version, n_written = first.build(
                engine,
                path,
                model,
                reader,
                lambda rows: _write(ws, model, rows, "overwrite", run_id, props, txn),
                res,
                select=f"SELECT *, {valid_from} AS valid_from, NULL::TIMESTAMPTZ AS valid_to, "
                "true AS is_current FROM __s",
            )
            res.details["scd2"] = {"new_keys": n_written, "changed": 0, "unchanged": 0}
            return version
        staged = _Staged(engine, reader)
        try:
            deduped = _dedupe(staged.rel, keys, model.config.order_by)
            src = deduped.query("__s", f"SELECT *, {valid_from} AS __valid_from FROM __s")
            n_src = _count(src)
            res.details["duplicates_dropped"] = staged.rows - n_src
            # the target's current versions, visible to the staging connection
            union, _ = scan_sql(staged.con, snapshot.snapshot(path).files, f"{staged.name}_target")
            target = f"(SELECT * FROM ({union}) WHERE is_current)"
            join = " AND ".join(f"s.{_q(k)} = c.{_q(k)}" for k in keys)
            diff = " OR ".join(f"s.{_q(c)} IS DISTINCT FROM c.{_q(c)}" for c in tracked)
            # the same connection as the target view: compare there, then merge
            src_tbl = f"{staged.name}_src"
            src.create(src_tbl)
            try:
                con = staged.con
                changed = con.sql(
                    f"SELECT s.* FROM {src_tbl} s JOIN {target} c ON {join} WHERE {diff or 'false'}"
                )
                new = con.sql(f"SELECT s.* FROM {src_tbl} s ANTI JOIN {target} c ON {join}")
                n_changed, n_new = _count(changed), _count(new)
                res.details["scd2"] = {
                    "new_keys": n_new,
                    "changed": n_changed,
                    "unchanged": n_src - n_new - n_changed,
                }
                if not n_changed and not n_new:
                    res.details["delta_rows"] = 0
                    res.note = "no changes"
                    return -1
                # one merge: rows flagged __insert add a version; the others close one
                key_list = ", ".join(_q(k) for k in keys)
                source = con.sql(
                    f"SELECT *, true AS __insert FROM ({changed.sql_query()}) "
                    f"UNION ALL SELECT *, true FROM ({new.sql_query()}) "
                    f"UNION ALL BY NAME SELECT {key_list}, __valid_from, false AS __insert "
                    f"FROM ({changed.sql_query()})"
                )
                n_source = _count(source)
                cols = [c for c in src.columns if c != "__valid_from"]
                on = (
                    " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in keys)
                    + " AND t.is_current AND NOT s.__insert"
                )
                custom = {
                    tables.RUN_ID_KEY: run_id,
                    **{k: tables.jsonable(v) for k, v in props.items()},
                }
                inserts = {_q(c): f"s.{_q(c)}" for c in cols}
                inserts.update(
                    {"valid_from": "s.__valid_from", "valid_to": "NULL", "is_current": "true"}
                )
                _ensure_change_feed(path)
                merger = (
                    tables.open_table(path)
                    .merge(
                        source.arrow(),
                        predicate=on,
                        source_alias="s",
                        target_alias="t",
                        commit_properties=CommitProperties(
                            custom_metadata=custom, app_transactions=[Transaction(*txn)]
                        ),
                        writer_properties=parquet.writer_properties(),
                    )
                    .when_matched_update({"valid_to": "s.__valid_from", "is_current": "false"})
                    .when_not_matched_insert(inserts, predicate="s.__insert")
                )
                try:
                    merger.execute()
                except Exception as e:
                    raise ExecutionError(
                        f"scd2 merge failed: {e}", model=model.fqn, file=model.path
                    ) from None
                res.details["delta_rows"] = n_source
                return tables.open_table(path).version()
            finally:
                staged.con.execute(f"DROP TABLE IF EXISTS {src_tbl}")
        finally:
            staged.drop()

    first.run(finish, rel, write, _replaces(scope))
    _count_duplicates_as_dropped(res)
    _count_unchanged_as_dropped(res)


# -- incremental_by_time --------------------------------------------------------------------------

_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def _periods(values: list[Any], grain: str, lookback: int) -> list[Any]:
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


def _truncate(v: Any, grain: str) -> Any:
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


def _literal(v: Any, arrow_type: Any = None) -> str:
    """A period as a literal of the Delta writer's SQL (DataFusion). Timestamps are cast to the
    column's own unit: a plain TIMESTAMP literal is in nanoseconds and does not compare."""
    if isinstance(v, datetime):
        text = v.replace(tzinfo=None).isoformat(sep=" ")
        tz = getattr(arrow_type, "tz", None)
        zone = f'Some("{tz}")' if tz else "None"
        return f"arrow_cast('{text}', 'Timestamp(Microsecond, {zone})')"
    if isinstance(v, date):
        return f"'{v.isoformat()}'"
    return repr(v)


def _by_time(ws, engine, model, inc, run_id, res, props, txn, finish) -> None:
    import pyarrow as pa

    column = model.config.time_column
    assert column is not None
    scope = _scope(engine, model, inc, [column])
    rel = _relation(engine, model)
    if column not in rel.columns:
        raise ExecutionError(
            f"time_column {column!r} is not in the model's output",
            model=model.fqn,
            file=model.path,
            hint=f"output columns: {', '.join(rel.columns)}",
        )
    if scope is None:
        finish(
            rel,
            lambda reader: _write(ws, model, reader, "overwrite", run_id, props, txn),
            replaces=_replaces(None),
        )
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
        sub = _restrict(engine.con, rel, Scope(others)).project(_q(column)).distinct()
        values.extend(arrays.values(sub.arrow().read_all().column(0)))
    periods = _periods(
        [_truncate(v, model.config.grain) for v in values],
        model.config.grain,
        model.config.lookback,
    )
    res.details["periods"] = [str(p) for p in periods[:50]] + (["…"] if len(periods) > 50 else [])
    if not periods:
        res.note = "new rows touch no period"
        return
    # the output's periods may be DATE while the input held timestamps: match the output type
    out_type = rel.limit(0).arrow().schema.field(column).type
    if pa.types.is_date(out_type):
        periods = [p.date() if isinstance(p, datetime) else p for p in periods]
    # the periods as an Arrow table made by DuckDB: `pa.array` of Python dates would make pyarrow
    # import pandas (where installed) to check their types
    listed = ", ".join(sql_literal(p) for p in periods)
    chosen = engine.con.sql(f"SELECT unnest([{listed}]) AS {_q(column)}").arrow().read_all()
    chosen = chosen.cast(pa.schema([pa.field(column, out_type)]))
    rel = _restrict(engine.con, rel, Scope([chosen]))
    predicate = f"{_q(column)} IN ({', '.join(_literal(p, out_type) for p in periods)})"
    if tables.is_delta_table(ws.catalog.path(model.fqn)):
        _ensure_change_feed(ws.catalog.path(model.fqn))
    finish(
        rel,
        lambda reader: _write(
            ws, model, reader, "overwrite", run_id, props, txn, predicate=predicate
        ),
        replaces=lambda con, quarantined: quarantined.filter(predicate),
    )
