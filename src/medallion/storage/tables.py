"""Delta Lake tables through `deltalake` (delta-rs): write, commit, describe, history.

Every write is exactly one Delta commit whose commit info carries `medallion.run_id` (and whatever
else the caller adds), so `DESCRIBE HISTORY` in any Delta reader joins with medallion's run log.
Data arrives as an Arrow RecordBatchReader and is streamed into the writer: the whole table is
never held in memory. If the stream raises half-way, delta-rs does not commit, so the table stays
at its previous version, and `commit` deletes the data files it had written (a process killed
mid-write leaves them to `vacuum`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from medallion.errors import StorageError, permission_problem, unwritable, without_backtrace
from medallion.storage.location import Location, delta_options, is_remote, store_error
from medallion.storage.parquet import writer_properties

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp
    from deltalake import DeltaTable

RUN_ID_KEY = "medallion.run_id"


@dataclass
class WriteResult:
    version: int
    rows: int


@dataclass
class TableInfo:
    version: int
    rows: int
    size_bytes: int
    files: int
    last_written: datetime | None
    last_run_id: str | None
    partition_by: list[str]


class RowCounter:
    """Counts rows of a RecordBatchReader as the writer pulls them (no extra pass over data)."""

    def __init__(self) -> None:
        self.rows = 0

    def wrap(
        self, reader: pa.RecordBatchReader, after_first: Any = None, at_end: Any = None
    ) -> pa.RecordBatchReader:
        """Count rows as they pass; `after_first()` is called once the first batch is handed
        over (a fault-injection point for crash tests), `at_end()` once the last one was, before
        the writer commits (it may raise to stop the commit)."""
        import pyarrow as pa

        from medallion.faults import raise_if_interrupted

        def batches() -> Iterator[pa.RecordBatch]:
            hook = after_first
            for batch in reader:
                # Ctrl-C stops the write here, on the writer's thread: nothing is committed
                raise_if_interrupted()
                self.rows += batch.num_rows
                yield batch
                if hook is not None:
                    hook()
                    hook = None
            if at_end is not None:
                at_end()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


def jsonable(value: Any) -> Any:
    """A commit-info value: scalars as they are, nested values as JSON text (portable to every
    Delta reader, which may expect flat commit info)."""
    return value if isinstance(value, str | int | float | bool) else json.dumps(value)


def is_delta_table(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def open_table(path: Path, version: int | None = None):
    from deltalake import DeltaTable

    try:
        # the version in the constructor: loading the latest first reads the log twice
        return DeltaTable(str(path), version=version, storage_options=delta_options(path))
    except Exception as e:  # deltalake raises TableNotFoundError, DeltaError, OSError, ...
        raise table_error(e, path) from None


def table_error(error: BaseException, path: Path) -> StorageError:
    """What went wrong opening the table at `path`, as one message: a folder this user may not
    read, a damaged log (which file, which line, what to do), or delta-rs's first line without
    its Rust backtrace."""
    fqn = f"{path.parent.name}.{path.name}"
    if isinstance(path, Location):
        return store_error(error, path, f"table {fqn}")
    why = permission_problem(error)
    if why is not None:
        found = unwritable(StorageError, f"table {fqn}", path, "storage", why, verb="read")
        assert isinstance(found, StorageError)
        return found
    damaged = damaged_log(path)
    if damaged is not None:
        return damaged
    text = without_backtrace(str(error)) or type(error).__name__
    return StorageError(f"cannot open Delta table: {text.splitlines()[0]}", file=path)


def damaged_log(path: Path) -> StorageError | None:
    """The first commit file of the table's `_delta_log` that is not JSON lines, as an error
    saying what to do; None if every one reads (a damaged checkpoint is not looked for)."""
    from medallion.errors import display_path

    log = path / "_delta_log"
    commits = sorted(log.glob("*.json")) if log.is_dir() else []
    for file in commits:
        at = 0  # the line being read
        try:
            text = file.read_text(encoding="utf-8")
            if not text.strip():
                raise ValueError("the file is empty")
            for number, line in enumerate(text.splitlines()):
                at = number + 1
                if line.strip():
                    json.loads(line)
        except (OSError, ValueError) as e:
            fqn = f"{path.parent.name}.{path.name}"
            detail = f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else e
            folder = display_path(str(path))
            undo = ""
            if file == commits[-1] and file.stem.isdigit():
                undo = (
                    f"if it is a commit cut short, move {file.name} out of {folder}/_delta_log: "
                    f"the table goes back to version {int(file.stem) - 1} and the next run "
                    "writes what that commit held again; otherwise "
                )
            return StorageError(
                f"the Delta log of table {fqn} is damaged: this commit cannot be read "
                f"({str(detail).splitlines()[0]})",
                file=file,
                line=at or None,
                hint=f"{undo}restore {folder} from a backup, or move the folder away and "
                "run: the table is rebuilt from its inputs (a source's from the files still "
                "in its landing folder)",
            )
    return None


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Within the block, a write refused by the file system (permissions, a read-only mount)
    under the table's folder is one clear StorageError; any other error goes through as is (an
    error of the stream being written, such as a source file DuckDB may not read, is not the
    table's)."""
    if isinstance(path, Location):
        from medallion.storage.storelock import ensure_held_for

        ensure_held_for(path)  # a writer that lost the lakehouse's lock commits nothing
    try:
        yield
    except Exception as e:
        if isinstance(path, Location) and not isinstance(e, StorageError):
            from medallion.errors import MedallionError

            if isinstance(e, MedallionError) or not _from_store(e):
                raise
            raise store_error(e, path, f"table {path.parent.name}.{path.name}") from None
        why = permission_problem(e)
        said = f"{e} {getattr(e, 'filename', None) or ''}"
        if why is None or not any(str(p) in said for p in (path, path.parent, path.resolve())):
            raise
        fqn = f"{path.parent.name}.{path.name}"
        raise unwritable(StorageError, f"table {fqn}", path, "storage", why) from None


def _from_store(error: BaseException) -> bool:
    """Whether `error` came from the object store (deltalake's or pyarrow's client), not from
    the data being written."""
    mod = type(error).__module__ or ""
    return isinstance(error, OSError) or mod.startswith(("deltalake", "pyarrow", "obstore"))


def version_at(path: Path, when: datetime) -> int:
    """The table's version current at `when`: the last commit made at or before it. A time
    before the table's first commit is a StorageError (delta-rs would answer version 0)."""
    dt = open_table(path)
    first_ms = min(c["timestamp"] for c in dt.history())
    if when.timestamp() * 1000 < first_ms:
        first = datetime.fromtimestamp(first_ms / 1000, tz=UTC)
        raise StorageError(
            f"the table did not exist at {when.isoformat()}: its first version was written at "
            f"{first.isoformat(timespec='seconds')}",
            file=path,
            hint="`medallion history TABLE` shows when each version was written",
        )
    dt.load_as_version(when)
    return dt.version()


def write(
    path: Path,
    data: pa.RecordBatchReader,
    *,
    mode: Literal["append", "overwrite"],
    run_id: str,
    partition_by: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    app_transaction: tuple[str, int] | None = None,
    description: str | None = None,
    configuration: dict[str, str] | None = None,
    predicate: exp.Expression | None = None,
    crash_point: bool = True,
) -> WriteResult:
    """Stream `data` into the Delta table at `path` as one commit; returns the new version.

    `overwrite` replaces data, schema and partitioning (a full rebuild) — or, with `predicate`
    (a tree, see `writer_sql`), only the rows matching it; `append` adds rows and merges new
    columns into the schema. `app_transaction` (app id, version) is recorded in the same commit,
    which is how exactly-once ingestion knows what a commit contains. `description` and
    `configuration` (table properties) apply to a new table. `crash_point`: the crash tests'
    `mid-write:<table>` fault point fires after the first batch (False where the caller's
    stream has its own)."""
    counter = RowCounter()
    props = commit_properties(run_id, metadata, app_transaction)
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    from medallion.faults import fault_point

    table = f"{path.parent.name}.{path.name}"
    version = commit(
        path,
        counter.wrap(data, (lambda: fault_point(f"mid-write:{table}")) if crash_point else None),
        mode=mode,
        partition_by=partition_by,
        commit_properties=props,
        description=description,
        configuration=configuration,
        predicate=None if predicate is None else writer_sql(predicate),
    )
    return WriteResult(version=version, rows=counter.rows)


def commit_properties(
    run_id: str,
    metadata: dict[str, Any] | None = None,
    app_transaction: tuple[str, int] | None = None,
) -> Any:
    """A commit's info: the run id and `metadata` (nested values as JSON text), and the
    application transaction (app id, version) it records."""
    from deltalake import CommitProperties, Transaction

    custom: dict[str, Any] = {RUN_ID_KEY: run_id}
    for key, value in (metadata or {}).items():
        custom[key] = jsonable(value)
    return CommitProperties(
        custom_metadata=custom,
        app_transactions=[Transaction(*app_transaction)] if app_transaction else None,
    )


def record_only(
    path: Path,
    run_id: str,
    metadata: dict[str, Any],
    app_transaction: tuple[str, int] | None = None,
) -> int:
    """A commit that changes no row and records `metadata` (what a build read and which model
    built it) — for a build whose recomputed rows all equal the table's. Returns the version."""
    dt = open_table(path)
    dt.create_write_transaction(
        [],
        mode="append",
        schema=dt.schema(),
        partition_by=dt.metadata().partition_columns or None,
        commit_properties=commit_properties(run_id, metadata, app_transaction),
    )
    return dt.version() + 1


def writer_sql(tree: exp.Expression) -> str:
    """A predicate or expression as the Delta writer's SQL (DataFusion, which reads PostgreSQL's
    syntax; see `writer_literal` for times)."""
    from medallion.sqltree import render

    return render(tree, "postgres")


def writer_literal(value: Any, arrow_type: pa.DataType | None = None) -> exp.Expression:
    """A value as a literal of the Delta writer's SQL. Timestamps are cast to the column's own
    unit and zone: a plain TIMESTAMP literal is in nanoseconds and does not compare."""
    import sqlglot.expressions as exp

    from medallion.sqltree import lit

    if isinstance(value, datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ")
        tz = getattr(arrow_type, "tz", None)
        zone = f'Some("{tz}")' if tz else "None"
        return exp.Anonymous(
            this="arrow_cast",
            expressions=[lit(text), lit(f"Timestamp(Microsecond, {zone})")],
        )
    if isinstance(value, date):
        return lit(value.isoformat())
    return lit(value)


@dataclass
class MergeClause:
    """One WHEN clause of a merge (source alias `s`, target alias `t`): `update_all`,
    `insert_all`, `update` / `insert` (column -> value), `delete` (matched rows) or
    `delete_unmatched` (target rows no source row matches), each under an optional predicate."""

    action: Literal["update_all", "insert_all", "update", "insert", "delete", "delete_unmatched"]
    predicate: exp.Expression | None = None
    values: dict[str, exp.Expression] | None = None


def merge(
    path: Path,
    source: pa.RecordBatchReader,
    on: exp.Expression,
    clauses: list[MergeClause],
    *,
    run_id: str,
    metadata: dict[str, Any] | None = None,
    app_transaction: tuple[str, int] | None = None,
    merge_schema: bool = False,
) -> tuple[int | None, dict[str, Any]]:
    """Merge `source` (alias `s`) into the table (alias `t`) on `on`, as one commit carrying the
    run id, `metadata` and the application transaction. Returns (the new version, or None when
    nothing changed and delta-rs committed nothing; the merge's metrics)."""
    from medallion.sqltree import ident, render

    def sql(tree: exp.Expression | None) -> str | None:
        return None if tree is None else writer_sql(tree)

    def columns(values: dict[str, exp.Expression] | None) -> dict[str, str]:
        return {render(ident(k), "postgres"): writer_sql(v) for k, v in (values or {}).items()}

    dt = open_table(path)
    before = dt.version()
    merger = dt.merge(
        source,
        predicate=writer_sql(on),
        source_alias="s",
        target_alias="t",
        merge_schema=merge_schema,
        commit_properties=commit_properties(run_id, metadata, app_transaction),
        writer_properties=writer_properties(),
    )
    for c in clauses:
        if c.action == "update_all":
            merger = merger.when_matched_update_all(predicate=sql(c.predicate))
        elif c.action == "insert_all":
            merger = merger.when_not_matched_insert_all(predicate=sql(c.predicate))
        elif c.action == "update":
            merger = merger.when_matched_update(columns(c.values), predicate=sql(c.predicate))
        elif c.action == "insert":
            merger = merger.when_not_matched_insert(columns(c.values), predicate=sql(c.predicate))
        elif c.action == "delete":
            merger = merger.when_matched_delete(predicate=sql(c.predicate))
        else:
            merger = merger.when_not_matched_by_source_delete(predicate=sql(c.predicate))
    with _writing(path):
        metrics = merger.execute()
    after = open_table(path).version()
    return (after if after != before else None), metrics


def delete(path: Path, predicate: exp.Expression, *, run_id: str) -> None:
    """Delete the rows matching `predicate` (a tree), as one commit carrying the run id."""
    with _writing(path):
        open_table(path).delete(
            writer_sql(predicate),
            commit_properties=commit_properties(run_id),
            writer_properties=writer_properties(),
        )


def ensure_properties(path: Path, properties: dict[str, str]) -> None:
    """Set table properties the table lacks (a table created before they were set)."""
    dt = open_table(path)
    current = dt.metadata().configuration
    missing = {k: v for k, v in properties.items() if current.get(k) != v}
    if missing:
        dt.alter.set_table_properties(missing)


def commit(
    path: Path,
    stream: pa.RecordBatchReader,
    *,
    mode: Literal["append", "overwrite"],
    partition_by: list[str] | None,
    commit_properties: Any,
    description: str | None = None,
    configuration: dict[str, str] | None = None,
    predicate: str | None = None,
) -> int:
    """One commit of `stream`; returns the table's new version. Partitioned tables go through
    `partitioned.write` (bounded memory) when it takes them, everything else through delta-rs.
    `description` and `configuration` apply to a new table; `predicate` overwrites only the rows
    matching it. The table's log is read once (opening a table costs 2-20 ms), and its object
    then knows the version the commit made."""
    with _writing(path), _removing_uncommitted_on_failure(path):
        from deltalake import write_deltalake

        from medallion.storage import partitioned

        table = existing_table(path)
        # the bounded-memory partitioned writer writes local files; on a store delta-rs writes
        local = not is_remote(path)
        if (
            local
            and predicate is None
            and partitioned.can_write(table, stream.schema, partition_by)
        ):
            return partitioned.write(
                path,
                table,
                stream,
                partition_by=partition_by or [],
                mode=mode,
                commit_properties=commit_properties,
                configuration=configuration,
                description=description,
            )
        exists = table is not None
        write_deltalake(
            table if exists else str(path),
            stream,
            storage_options=None if exists else delta_options(path),
            mode=mode,
            partition_by=partition_by or None,
            schema_mode="overwrite" if mode == "overwrite" and predicate is None else "merge",
            predicate=predicate,
            configuration=None if exists else configuration,
            commit_properties=commit_properties,
            description=None if exists else description,
            writer_properties=writer_properties(),
        )
        return table.version() if exists else 0  # a new table's first commit is version 0


@contextlib.contextmanager
def _removing_uncommitted_on_failure(path: Path) -> Iterator[None]:
    """On an error inside the block, delete the data files written in it (never committed), and
    the table's folder if the block made it (a new table whose first commit failed)."""
    if is_remote(path):
        # listing a whole table on the store before every write costs more than it saves: the
        # files of a failed write there are left to `vacuum`, which deletes unreferenced files
        yield
        return
    existed = path.exists()
    before = _data_files(path)
    try:
        yield
    except BaseException:
        _remove_uncommitted(path, before)
        if not existed:
            _remove_empty_folders(path)
        raise


def _remove_empty_folders(path: Path) -> None:
    """`path` and the folders under it that are empty (deepest first); others are kept."""
    import os

    for folder, _, _ in os.walk(path, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _data_files(path: Path) -> set[str]:
    """The data files under a table's folder (relative paths; the log excluded)."""
    import os

    found: set[str] = set()
    if not path.is_dir():
        return found
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        rel = os.path.relpath(folder, path)
        found.update(os.path.normpath(os.path.join(rel, f)) for f in files)
    return found


def _remove_uncommitted(path: Path, before: set[str]) -> None:
    """Delete the files a failed write left (written, never committed): no version reads them,
    and vacuum would keep them for the layer's whole retention."""
    import os
    from urllib.parse import unquote

    table = existing_table(path)
    kept = set()
    if table is not None:
        for uri in table.file_uris():
            local = unquote(uri.removeprefix("file://"))
            kept.add(os.path.normpath(os.path.relpath(local, path)))
    for rel in _data_files(path) - before - kept:
        with contextlib.suppress(OSError):
            (path / rel).unlink()


def existing_table(path: Path) -> DeltaTable | None:
    """The table at `path`, None if there is none (a log directory without a commit, left by a
    creation that failed, is none)."""
    if not is_delta_table(path):
        return None
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(path), storage_options=delta_options(path))
    except TableNotFoundError:
        return None
    except Exception as e:  # a damaged log, a folder this user may not read
        raise table_error(e, path) from None


def add_actions(dt: Any) -> pa.Table:
    """The table's add actions (one row per data file) as a pyarrow Table. deltalake returns an
    arro3 table; it is read through the Arrow stream interface because `pa.table()` would first ask
    whether it is a pandas DataFrame, importing pandas wherever it is installed."""
    import pyarrow as pa

    return pa.RecordBatchReader.from_stream(dt.get_add_actions(flatten=True)).read_all()


def schema(path: Path) -> pa.Schema:
    """The table's current schema, as Arrow."""
    import pyarrow as pa

    return pa.schema(open_table(path).schema().to_arrow())


def info(path: Path) -> TableInfo:
    dt = open_table(path)
    actions = add_actions(dt)
    rows = size = 0
    if actions.num_rows:
        import pyarrow.compute as pc

        rows = pc.sum(actions["num_records"]).as_py() or 0
        size = pc.sum(actions["size_bytes"]).as_py() or 0
    last = dt.history(1)
    last_written = last_run = None
    if last:
        ts = last[0].get("timestamp")
        last_written = datetime.fromtimestamp(ts / 1000, tz=UTC) if ts else None
        last_run = last[0].get(RUN_ID_KEY)
    return TableInfo(
        version=dt.version(),
        rows=int(rows),
        size_bytes=int(size),
        files=actions.num_rows,
        last_written=last_written,
        last_run_id=last_run,
        partition_by=list(dt.metadata().partition_columns),
    )


def history(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Commits, newest first: version, timestamp, operation, run id and custom metadata."""
    return open_table(path).history(limit)


def transaction_version(path: Path, app_id: str) -> int | None:
    """The last application transaction version recorded for `app_id`, or None."""
    if not is_delta_table(path):
        return None
    return open_table(path).transaction_version(app_id)
