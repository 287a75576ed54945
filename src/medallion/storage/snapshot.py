"""A version of a Delta table ready to read: its data files, from the Delta log.

The engine reads the files with its own Parquet reader (DuckDB's `read_parquet`); Arrow
consumers read them as pyarrow datasets (`Snapshot.parts`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.storage.tables import add_actions, open_table

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

#: a data file as the Delta log names it: (path in the table, partition values)
FileRef = tuple[str, dict[str, "str | None"]]


@dataclass
class FileSet:
    """Data files of a table read as one relation: absolute paths with their partition values
    (text, as the Delta log has them), the table's schema and partition columns. `fallback` is a
    pyarrow dataset for tables only deltalake can read (deletion vectors, column mapping)."""

    files: list[tuple[str, dict[str, str | None]]]
    schema: pa.Schema
    partition_columns: list[str]
    fallback: pads.Dataset | None = None
    #: the pyarrow filesystem of `files` when they are on an object store (paths are then
    #: `bucket/key`); None: local files
    filesystem: pafs.FileSystem | None = None

    @property
    def paths(self) -> list[str]:
        return [f for f, _ in self.files]

    def datasets(self) -> list[pads.Dataset]:
        """The files as pyarrow datasets (see `_parts`), for Arrow consumers."""
        if self.fallback is not None:
            return [self.fallback]
        return _parts(self.files, self.schema, self.partition_columns, self.filesystem)


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


#: versions read in this process, and their schemas (see `_commit_stamp`)
_SNAPSHOTS: dict[tuple[str, int, int], Snapshot] = {}
_SCHEMAS: dict[tuple[str, int, int], tuple[pa.Schema, list[str]]] = {}
_CACHED = 256


def _commit_stamp(path: Path, version: int | None) -> tuple[str, int, int] | None:
    """The key of a version's cached reading, or None (not cached): a version's files never
    change, but a table folder removed and created again (a failed first build is retried
    that way) restarts its versions, so the key holds a hash of the commit file (its add
    actions name new random files; a modification time can repeat within a clock tick).
    Tables on an object store are not cached (reading the commit there is a request)."""
    if version is None or not isinstance(path, Path):
        return None
    try:
        with open(os.path.join(path, "_delta_log", f"{version:020d}.json"), "rb") as f:
            return (str(path), version, hash(f.read()))
    except OSError:
        return None


def _latest_commit(path: Path) -> int | None:
    """The newest version of a local table, from its log's file names (None: not a table)."""
    try:
        names = os.listdir(os.path.join(path, "_delta_log"))
    except OSError:
        return None
    versions = [
        int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit()
    ]
    return max(versions) if versions else None


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHED:
        cache.pop(next(iter(cache)))
    cache[key] = value


def snapshot(path: Path, version: int | None = None) -> Snapshot:
    """The table (at a version): see `_snapshot`. A run opens the same versions of its inputs
    many times (staleness, scopes, checks, the ledger): each version is read once."""
    if version is None and isinstance(path, Path):
        version = _latest_commit(path)
    key = _commit_stamp(path, version)
    if key is None:
        return _snapshot(path, version)
    found = _SNAPSHOTS.get(key)
    if found is None:
        found = _snapshot(path, version)
        if found.files.fallback is None:
            _remember(_SNAPSHOTS, key, found)
    return found


def _snapshot(path: Path, version: int | None = None) -> Snapshot:
    """The table (at a version): the data files of that version, from the Delta log.

    The files are read directly (by DuckDB's Parquet reader, or pyarrow's with its own local
    filesystem) rather than through `DeltaTable.to_pyarrow_dataset()`: reading through deltalake's
    Rust filesystem handler aborts the process at interpreter exit about half the time
    ("terminate called without an active exception", delta-rs#2184), and DuckDB's reader uses
    far less memory on selective queries. Tables using deletion vectors or column mapping
    (written by other engines) need deltalake's reader and fall back to it."""

    import pyarrow as pa
    import pyarrow.compute

    dt = open_table(path, version)
    features = set(dt.protocol().reader_features or [])
    actions = add_actions(dt)
    rows = int(pa.compute.sum(actions["num_records"]).as_py() or 0) if actions.num_rows else 0
    schema = pa.schema(dt.schema().to_arrow())
    partition_columns = list(dt.metadata().partition_columns)
    if features & {"deletionVectors", "columnMapping"}:
        fallback = dt.to_pyarrow_dataset()
        return Snapshot(dt.version(), rows, schema, FileSet([], schema, [], fallback))
    base, filesystem = _base(path)
    files = []
    for i, rel in enumerate(actions.column("path").to_pylist()):
        values = {
            c: _partition_text(actions.column(f"partition.{c}")[i].as_py())
            for c in partition_columns
        }
        files.append((os.path.join(base, unquote(rel)), values))
    return Snapshot(
        dt.version(), rows, schema, FileSet(files, schema, partition_columns, None, filesystem)
    )


def _base(path: Path) -> tuple[str, pafs.FileSystem | None]:
    """Where a table's data files are, as their reader names them: the folder (local), or
    `bucket/key` with the store's pyarrow filesystem."""
    from medallion.storage.location import Location

    if isinstance(path, Location):
        return path.arrow_path, path.store.arrow_fs
    return str(path), None


def _partition_text(value: Any) -> str | None:
    """Partition values as the Delta log writes them (text), whatever the flattened type."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


#: physical Arrow types of data files, by absolute path (data files never change)
_PHYSICAL: dict[str, dict[str, pa.DataType]] = {}


def physical_schema(file: str, filesystem: pafs.FileSystem | None = None) -> dict[str, pa.DataType]:
    """A data file's stored Arrow types, by column (read from its footer once per process:
    data files never change). `filesystem`: the store's, for a file on an object store."""
    key = file if filesystem is None else f"{filesystem.type_name}:{file}"
    physical = _PHYSICAL.get(key)
    if physical is None:
        import pyarrow.parquet as pq

        physical = {f.name: f.type for f in pq.read_schema(file, filesystem=filesystem)}
        _PHYSICAL[key] = physical
    return physical


def _parts(
    files: list[tuple[str, dict[str, str | None]]],
    schema: pa.Schema,
    partition_columns: list[str],
    filesystem: pafs.FileSystem | None = None,
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
        physical = physical_schema(full, filesystem)
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
                pa.field(
                    f.name,
                    _physical_type(members, f.name, filesystem) if f.name in types else f.type,
                )
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
                filesystem=filesystem or pafs.LocalFileSystem(),
                partitions=partitions,
            )
        )
    return parts


def _physical_type(
    members: list[tuple[str, dict[str, str | None]]],
    column: str,
    filesystem: pafs.FileSystem | None = None,
) -> pa.DataType:
    return physical_schema(members[0][0], filesystem)[column]


def unquote(p: str) -> str:
    """A path as the Delta log writes it (URL-quoted) as a file path."""
    from urllib.parse import unquote as url_unquote

    return url_unquote(p)


def file_set(
    path: Path, files: list[FileRef], version: int, *, change_feed: bool = False
) -> FileSet:
    """Some of a table's files (e.g. the new ones), with the table's schema at `version` (files
    written before a schema change get nulls for the newer columns). Change-feed files also have
    `_change_type`."""

    import pyarrow as pa

    key = _commit_stamp(path, version)
    known = _SCHEMAS.get(key) if key is not None else None
    if known is None:
        dt = open_table(path, version)
        known = (pa.schema(dt.schema().to_arrow()), list(dt.metadata().partition_columns))
        if key is not None:
            _remember(_SCHEMAS, key, known)
    schema, partition_columns = known
    if change_feed:
        schema = schema.append(pa.field("_change_type", pa.string()))
    base, filesystem = _base(path)
    return FileSet(
        [(os.path.join(base, unquote(rel)), values) for rel, values in files],
        schema,
        list(partition_columns),
        None,
        filesystem,
    )
