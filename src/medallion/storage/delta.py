"""Delta Lake tables through `deltalake` (delta-rs): write, read, describe, history.

Every write is exactly one Delta commit whose commit info carries `medallion.run_id` (and whatever
else the caller adds), so `DESCRIBE HISTORY` in any Delta reader joins with medallion's run log.
Data arrives as an Arrow RecordBatchReader and is streamed into the writer: the whole table is
never held in memory. If the stream raises half-way, delta-rs does not commit, so the table stays
at its previous version (the orphaned data files are removed by `vacuum`).
"""

from __future__ import annotations

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
    from deltalake import CommitProperties, Transaction, write_deltalake

    counter = RowCounter()
    custom: dict[str, Any] = {RUN_ID_KEY: run_id}
    for key, value in (metadata or {}).items():
        custom[key] = jsonable(value)
    props = CommitProperties(
        custom_metadata=custom,
        app_transactions=[Transaction(*app_transaction)] if app_transaction else None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = is_delta_table(path)
    from medallion.faults import fault_point

    table = f"{path.parent.name}.{path.name}"
    write_deltalake(
        str(path),
        counter.wrap(data, lambda: fault_point(f"mid-write:{table}")),
        mode=mode,
        partition_by=partition_by or None,
        schema_mode="overwrite" if mode == "overwrite" else "merge",
        commit_properties=props,
        description=description if not exists else None,
    )
    from deltalake import DeltaTable

    return WriteResult(version=DeltaTable(str(path)).version(), rows=counter.rows)


@dataclass
class Snapshot:
    """One version of a table, ready to query."""

    version: int
    rows: int
    dataset: pads.Dataset


def dataset(path: Path, version: int | None = None) -> pads.Dataset:
    """The table (at a version) as a pyarrow dataset (see `snapshot`)."""
    return snapshot(path, version).dataset


def snapshot(path: Path, version: int | None = None) -> Snapshot:
    """The table (at a version) as a pyarrow dataset: lazy, with projection and filter pushdown.

    Built from the Delta log's list of data files and read with pyarrow's own local filesystem
    rather than `DeltaTable.to_pyarrow_dataset()`: reading through deltalake's Rust filesystem
    handler aborts the process at interpreter exit about half the time ("terminate called
    without an active exception", delta-rs#2184), which would make CLI commands and test runs
    fail at random. Tables using deletion vectors or column mapping (written by other engines)
    need deltalake's reader and fall back to it."""
    import os

    import pyarrow as pa
    import pyarrow.compute
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    dt = open_table(path, version)
    features = set(dt.protocol().reader_features or [])
    actions = pa.table(dt.get_add_actions(flatten=True))
    rows = int(pa.compute.sum(actions["num_records"]).as_py() or 0) if actions.num_rows else 0
    if features & {"deletionVectors", "columnMapping"} or "://" in str(path):
        return Snapshot(dt.version(), rows, dt.to_pyarrow_dataset())
    schema = pa.schema(dt.schema().to_arrow())
    files = [os.path.join(str(path), p) for p in actions.column("path").to_pylist()]
    partition_columns = list(dt.metadata().partition_columns)
    partitions = None
    if partition_columns:
        values = {c: actions.column(f"partition.{c}").to_pylist() for c in partition_columns}
        partitions = []
        for i in range(len(files)):
            expr = None
            for c in partition_columns:
                v = values[c][i]
                term = (
                    pads.field(c).is_null()
                    if v is None
                    else pads.field(c) == pa.scalar(v, schema.field(c).type)
                )
                expr = term if expr is None else expr & term
            partitions.append(expr)
    ds = pads.FileSystemDataset.from_paths(
        files,
        schema=schema,
        format=pads.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(),
        partitions=partitions,
    )
    return Snapshot(dt.version(), rows, ds)


def info(path: Path) -> TableInfo:
    import pyarrow as pa

    dt = open_table(path)
    actions = pa.table(dt.get_add_actions(flatten=True))
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


@dataclass
class Changes:
    """What the commits after `since` up to `until` did to a table's data."""

    since: int
    until: int
    #: data files added with dataChange=true: (path relative to the table, partition values)
    added: list[tuple[str, dict[str, str | None]]]
    #: a file was removed with dataChange=true (an overwrite, merge, delete): rows changed or
    #: disappeared, so the added files are not only new rows
    rewritten: bool
    #: every commit file in the range was still in the log (else the caller must recompute all)
    complete: bool
    #: the data files removed in the range that are still on disk (what the rows were before)
    removed: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    #: a removed file is gone from disk (vacuumed): what was removed is no longer knowable
    removed_lost: bool = False


def changes(path: Path, since: int, until: int) -> Changes:
    """Read the commit files (since, until] of the Delta log directly.

    Compaction (OPTIMIZE) adds and removes files with dataChange=false: it is not a change and
    is skipped. The JSON commit files are the Delta protocol's own record, so this works for
    tables written by any Delta writer."""
    added: list[tuple[str, dict[str, str | None]]] = []
    removed: list[tuple[str, dict[str, str | None]]] = []
    rewritten = False
    complete = True
    log = path / "_delta_log"
    for version in range(since + 1, until + 1):
        commit = log / f"{version:020d}.json"
        if not commit.exists():
            complete = False
            continue
        with open(commit, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                action = json.loads(line)
                if "add" in action and action["add"].get("dataChange", True):
                    add = action["add"]
                    added.append((add["path"], add.get("partitionValues") or {}))
                elif "remove" in action and action["remove"].get("dataChange", True):
                    rewritten = True
                    rm = action["remove"]
                    removed.append((rm["path"], rm.get("partitionValues") or {}))
    removed_lost = False
    if rewritten:
        # a file added and removed within the range is neither new nor old: skip it
        added_paths = {p for p, _ in added}
        live = set(_live_files(path, until))
        removed = [(p, pv) for p, pv in removed if p not in added_paths]
        added = [(p, pv) for p, pv in added if _unquote(p) in live]
        on_disk = [(p, pv) for p, pv in removed if (path / _unquote(p)).exists()]
        removed_lost = len(on_disk) != len(removed)
        removed = on_disk
    return Changes(since, until, added, rewritten, complete, removed, removed_lost)


def _unquote(p: str) -> str:
    from urllib.parse import unquote

    return unquote(p)


def _live_files(path: Path, version: int) -> list[str]:
    import pyarrow as pa

    actions = pa.table(open_table(path, version).get_add_actions(flatten=True))
    return [_unquote(p) for p in actions.column("path").to_pylist()]


def files_dataset(
    path: Path, files: list[tuple[str, dict[str, str | None]]], version: int
) -> pads.Dataset:
    """A dataset of some of a table's data files (the new ones), with the table's schema at
    `version` (files written before a schema change get nulls for the newer columns)."""
    import os

    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    dt = open_table(path, version)
    schema = pa.schema(dt.schema().to_arrow())
    partition_columns = list(dt.metadata().partition_columns)
    partitions = None
    if partition_columns:
        partitions = []
        for _, values in files:
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
    return pads.FileSystemDataset.from_paths(
        [os.path.join(str(path), _unquote(p)) for p, _ in files],
        schema=schema,
        format=pads.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(),
        partitions=partitions,
    )


def consumed_upstream_at(path: Path, version: int) -> dict[str, int] | None:
    """The upstream record of the newest build at or before `version`."""
    for commit in open_table(path).history():
        if commit.get("version", -1) <= version and commit.get(UPSTREAM_KEY) is not None:
            raw = commit[UPSTREAM_KEY]
            data = json.loads(raw) if isinstance(raw, str) else raw
            return {k: int(v) for k, v in data.items()}
    return None


def consumed_upstream(path: Path) -> tuple[dict[str, int], int] | None:
    """What the latest build of a model had read: ({input table: version}, the build's version).

    Taken from the newest commit carrying `medallion.upstream` (maintenance commits such as
    OPTIMIZE carry none and are skipped). None when the table does not exist or no build left
    that record."""
    if not is_delta_table(path):
        return None
    dt = open_table(path)
    limit = 20
    while True:
        history = dt.history(limit)
        for commit in history:
            raw = commit.get(UPSTREAM_KEY)
            if raw is not None:
                data = json.loads(raw) if isinstance(raw, str) else raw
                return {k: int(v) for k, v in data.items()}, int(commit["version"])
        if len(history) < limit:
            return None
        limit *= 4
