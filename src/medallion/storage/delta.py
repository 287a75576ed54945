"""Delta Lake tables through `deltalake` (delta-rs): write, read, describe, history.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from medallion.errors import StorageError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads
    from deltalake import DeltaTable

RUN_ID_KEY = "medallion.run_id"
#: rows per Parquet row group of the files medallion writes. DuckDB reads a file in parallel by
#: row group; delta-rs's default (1M rows) made a 1M-row table one row group, read by one thread
#: however many cores there are. DuckDB's own tables use 122,880-row groups.
ROW_GROUP_ROWS = 128 * 1024


def writer_properties() -> Any:
    """The Parquet writer settings of every Delta write, merge, delete and optimize."""
    from deltalake import WriterProperties

    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS)


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

    def wrap(self, reader: pa.RecordBatchReader, after_first: Any = None) -> pa.RecordBatchReader:
        """Count rows as they pass; `after_first()` is called once the first batch is handed
        over (a fault-injection point for crash tests)."""
        import pyarrow as pa

        def batches() -> Iterator[pa.RecordBatch]:
            hook = after_first
            for batch in reader:
                self.rows += batch.num_rows
                yield batch
                if hook is not None:
                    hook()
                    hook = None

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
        dt = DeltaTable(str(path))
        if version is not None:
            dt.load_as_version(version)
        return dt
    except Exception as e:  # deltalake raises TableNotFoundError, DeltaError, OSError, ...
        raise StorageError(f"cannot open Delta table: {e}", file=path) from None


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
) -> WriteResult:
    """Stream `data` into the Delta table at `path` as one commit; returns the new version.

    `overwrite` replaces data, schema and partitioning (a full rebuild); `append` adds rows and
    merges new columns into the schema. `app_transaction` (app id, version) is recorded in the
    same commit, which is how exactly-once ingestion knows what a commit contains."""
    from deltalake import CommitProperties, Transaction

    counter = RowCounter()
    custom: dict[str, Any] = {RUN_ID_KEY: run_id}
    for key, value in (metadata or {}).items():
        custom[key] = jsonable(value)
    props = CommitProperties(
        custom_metadata=custom,
        app_transactions=[Transaction(*app_transaction)] if app_transaction else None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    from medallion.faults import fault_point

    table = f"{path.parent.name}.{path.name}"
    version = commit(
        path,
        counter.wrap(data, lambda: fault_point(f"mid-write:{table}")),
        mode=mode,
        partition_by=partition_by,
        commit_properties=props,
        description=description,
    )
    return WriteResult(version=version, rows=counter.rows)


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
    with _removing_uncommitted_on_failure(path):
        from deltalake import write_deltalake

        from medallion.storage import partitioned

        table = existing_table(path)
        if predicate is None and partitioned.can_write(table, stream.schema, partition_by):
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
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


@dataclass
class FileSet:
    """Data files of a table read as one relation: absolute paths with their partition values
    (text, as the Delta log has them), the table's schema and partition columns. `fallback` is a
    pyarrow dataset for tables only deltalake can read (deletion vectors, column mapping)."""

    files: list[tuple[str, dict[str, str | None]]]
    schema: pa.Schema
    partition_columns: list[str]
    fallback: pads.Dataset | None = None

    @property
    def paths(self) -> list[str]:
        return [f for f, _ in self.files]

    def datasets(self) -> list[pads.Dataset]:
        """The files as pyarrow datasets (see `_parts`), for Arrow consumers."""
        if self.fallback is not None:
            return [self.fallback]
        return _parts(self.files, self.schema, self.partition_columns)


@dataclass
class Snapshot:
    """One version of a table, ready to query: its data files (`files`); the engine reads them
    with DuckDB's Parquet reader, Arrow consumers through `parts` (pyarrow datasets)."""

    version: int
    rows: int
    schema: pa.Schema
    files: FileSet

    @property
    def parts(self) -> list[pads.Dataset]:
        return self.files.datasets()

    def to_table(self) -> pa.Table:
        import pyarrow as pa

        tables = [p.to_table().cast(self.schema) for p in self.parts]
        return pa.concat_tables(tables) if tables else self.schema.empty_table()

    @property
    def dataset(self) -> pads.Dataset:
        """One dataset (materialized in memory when the files differ in physical types)."""
        import pyarrow.dataset as pads

        parts = self.parts
        return parts[0] if len(parts) == 1 else pads.dataset(self.to_table())


def dataset(path: Path, version: int | None = None) -> pads.Dataset:
    """The table (at a version) as a pyarrow dataset (see `snapshot`)."""
    return snapshot(path, version).dataset


def add_actions(dt: Any) -> pa.Table:
    """The table's add actions (one row per data file) as a pyarrow Table. deltalake returns an
    arro3 table; it is read through the Arrow stream interface because `pa.table()` would first ask
    whether it is a pandas DataFrame, importing pandas wherever it is installed."""
    import pyarrow as pa

    return pa.RecordBatchReader.from_stream(dt.get_add_actions(flatten=True)).read_all()


def snapshot(path: Path, version: int | None = None) -> Snapshot:
    """The table (at a version): the data files of that version, from the Delta log.

    The files are read directly (by DuckDB's Parquet reader, or pyarrow's with its own local
    filesystem) rather than through `DeltaTable.to_pyarrow_dataset()`: reading through deltalake's
    Rust filesystem handler aborts the process at interpreter exit about half the time
    ("terminate called without an active exception", delta-rs#2184), and DuckDB's reader uses
    far less memory on selective queries. Tables using deletion vectors or column mapping
    (written by other engines) need deltalake's reader and fall back to it."""
    import os

    import pyarrow as pa
    import pyarrow.compute

    dt = open_table(path, version)
    features = set(dt.protocol().reader_features or [])
    actions = add_actions(dt)
    rows = int(pa.compute.sum(actions["num_records"]).as_py() or 0) if actions.num_rows else 0
    schema = pa.schema(dt.schema().to_arrow())
    partition_columns = list(dt.metadata().partition_columns)
    if features & {"deletionVectors", "columnMapping"} or "://" in str(path):
        fallback = dt.to_pyarrow_dataset()
        return Snapshot(dt.version(), rows, schema, FileSet([], schema, [], fallback))
    files = []
    for i, rel in enumerate(actions.column("path").to_pylist()):
        values = {
            c: _partition_text(actions.column(f"partition.{c}")[i].as_py())
            for c in partition_columns
        }
        files.append((os.path.join(str(path), _unquote(rel)), values))
    return Snapshot(dt.version(), rows, schema, FileSet(files, schema, partition_columns))


def _partition_text(value: Any) -> str | None:
    """Partition values as the Delta log writes them (text), whatever the flattened type."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


#: physical Arrow types of data files, by absolute path (data files never change)
_PHYSICAL: dict[str, dict[str, pa.DataType]] = {}


def physical_schema(file: str) -> dict[str, pa.DataType]:
    """A data file's stored Arrow types, by column (read from its footer once per process:
    data files never change)."""
    physical = _PHYSICAL.get(file)
    if physical is None:
        import pyarrow.parquet as pq

        physical = {f.name: f.type for f in pq.read_schema(file)}
        _PHYSICAL[file] = physical
    return physical


def _parts(
    files: list[tuple[str, dict[str, str | None]]],
    schema: pa.Schema,
    partition_columns: list[str],
) -> list[pads.Dataset]:
    """Datasets over `files` (absolute paths), one per group of files whose stored Arrow types
    agree.

    Different Delta writers store the same column differently: delta-rs's MERGE and DELETE (and
    Polars) write strings as `string_view`, plain writes as `string`. pyarrow casts such files to
    the table schema when reading, but not when it evaluates a pushed-down filter, which fails
    ("greater_equal has no kernel for (string, string_view)"). So each group is a dataset with
    its own physical types; consumers read the parts one after the other."""
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, dict[str, str | None]]]] = {}
    for full, values in files:
        physical = physical_schema(full)
        differing = tuple(
            (f.name, str(physical[f.name]))
            for f in schema
            if f.name in physical and physical[f.name] != f.type
        )
        groups.setdefault(differing, []).append((full, values))
    if not groups:
        groups[()] = []
    parts = []
    for differing, members in groups.items():
        types = dict(differing)
        part_schema = pa.schema(
            [
                pa.field(f.name, _physical_type(members, f.name) if f.name in types else f.type)
                for f in schema
            ]
        )
        partitions = None
        if partition_columns:
            partitions = []
            for _, values in members:
                expr = None
                for c in partition_columns:
                    raw = values.get(c)
                    term = (
                        pads.field(c).is_null()
                        if raw is None
                        else pads.field(c) == pa.scalar(raw).cast(schema.field(c).type)
                    )
                    expr = term if expr is None else expr & term
                partitions.append(expr)
        parts.append(
            pads.FileSystemDataset.from_paths(
                [m[0] for m in members],
                schema=part_schema,
                format=pads.ParquetFileFormat(),
                filesystem=pafs.LocalFileSystem(),
                partitions=partitions,
            )
        )
    return parts


def _physical_type(members: list[tuple[str, dict[str, str | None]]], column: str) -> pa.DataType:
    return _PHYSICAL[members[0][0]][column]


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


UPSTREAM_KEY = "medallion.upstream"


FileRef = tuple[str, dict[str, "str | None"]]

#: change types of a Change Data Feed file that are the rows as they are now / were before
CDF_NEW = ("insert", "update_postimage")
CDF_OLD = ("delete", "update_preimage")


@dataclass
class Changes:
    """What the commits after `since` up to `until` did to a table's rows.

    Rows come from two kinds of files. A commit that writes a Change Data Feed (`cdc` actions:
    delta-rs MERGE, DELETE and predicate overwrites on tables with `delta.enableChangeDataFeed`)
    lists exactly the rows it inserted, updated (pre- and post-image) and deleted; its data-file
    rewrites, which copy unchanged rows, are ignored. Any other commit's added data files are
    new rows and its removed data files are rows that changed or went away."""

    since: int
    until: int
    #: every commit file in the range was still in the log (else the caller must recompute all)
    complete: bool
    #: data files added by commits without a change feed: (path in the table, partition values)
    added: list[FileRef] = field(default_factory=list)
    #: data files removed by commits without a change feed, still on disk
    removed: list[FileRef] = field(default_factory=list)
    #: change-feed files (rows with `_change_type`)
    cdc: list[FileRef] = field(default_factory=list)
    #: a removed file is gone from disk (vacuumed): what was removed is no longer knowable
    removed_lost: bool = False

    @property
    def rewritten(self) -> bool:
        """Rows changed or went away (an append consumer cannot tell new rows from old)."""
        return bool(self.removed or self.cdc or self.removed_lost)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.cdc or self.removed_lost)


def changes(path: Path, since: int, until: int) -> Changes:
    """Read the commit files (since, until] of the Delta log directly.

    Compaction (OPTIMIZE) adds and removes files with dataChange=false: it is not a change and
    is skipped. The JSON commit files are the Delta protocol's own record, so this works for
    tables written by any Delta writer."""
    result = Changes(since, until, complete=True)
    removed: list[FileRef] = []
    log = path / "_delta_log"
    for version in range(since + 1, until + 1):
        commit = log / f"{version:020d}.json"
        if not commit.exists():
            result.complete = False
            continue
        adds: list[FileRef] = []
        removes: list[FileRef] = []
        cdcs: list[FileRef] = []
        with open(commit, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                action = json.loads(line)
                for kind, bucket in (("add", adds), ("remove", removes), ("cdc", cdcs)):
                    a = action.get(kind)
                    if a is not None and (kind == "cdc" or a.get("dataChange", True)):
                        bucket.append((a["path"], a.get("partitionValues") or {}))
        if cdcs:
            result.cdc.extend(cdcs)
        else:
            result.added.extend(adds)
            removed.extend(removes)
    # files added then removed within the range: their rows were new when added (kept while on
    # disk: a superset is fine for key- and period-based consumers); gone from disk: unknowable
    gone = [(p, pv) for p, pv in result.added if not (path / _unquote(p)).exists()]
    result.added = [f for f in result.added if f not in gone]
    added_paths = {p for p, _ in result.added}
    removed = [(p, pv) for p, pv in removed if p not in added_paths]
    on_disk = [(p, pv) for p, pv in removed if (path / _unquote(p)).exists()]
    result.removed = on_disk
    result.removed_lost = bool(gone) or len(on_disk) != len(removed)
    return result


def _unquote(p: str) -> str:
    from urllib.parse import unquote

    return unquote(p)


def file_set(
    path: Path, files: list[FileRef], version: int, *, change_feed: bool = False
) -> FileSet:
    """Some of a table's files (e.g. the new ones), with the table's schema at `version` (files
    written before a schema change get nulls for the newer columns). Change-feed files also have
    `_change_type`."""
    import os

    import pyarrow as pa

    dt = open_table(path, version)
    schema = pa.schema(dt.schema().to_arrow())
    if change_feed:
        schema = schema.append(pa.field("_change_type", pa.string()))
    return FileSet(
        [(os.path.join(str(path), _unquote(rel)), values) for rel, values in files],
        schema,
        list(dt.metadata().partition_columns),
    )


def consumed_upstream_at(path: Path, version: int) -> dict[str, int] | None:
    """The upstream record of the newest build at or before `version`."""
    for commit in open_table(path).history():
        if commit.get("version", -1) <= version and commit.get(UPSTREAM_KEY) is not None:
            raw = commit[UPSTREAM_KEY]
            data = json.loads(raw) if isinstance(raw, str) else raw
            return {k: int(v) for k, v in data.items()}
    return None


def last_build(path: Path) -> dict[str, Any] | None:
    """The commit info of a model's latest build: the newest commit carrying
    `medallion.upstream` (maintenance commits such as OPTIMIZE carry none and are skipped)."""
    if not is_delta_table(path):
        return None
    dt = open_table(path)
    limit = 20
    while True:
        history = dt.history(limit)
        for commit in history:
            if commit.get(UPSTREAM_KEY) is not None:
                return commit
        if len(history) < limit:
            return None
        limit *= 4


def consumed_upstream(path: Path) -> tuple[dict[str, int], int] | None:
    """What the latest build of a model had read: ({input table: version}, the build's version).
    None when the table does not exist or no build left that record."""
    commit = last_build(path)
    if commit is None:
        return None
    raw = commit[UPSTREAM_KEY]
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {k: int(v) for k, v in data.items()}, int(commit["version"])
