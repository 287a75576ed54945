"""Partitioned Delta writes with bounded memory: medallion writes the Parquet files, delta-rs
commits them.

Why not `write_deltalake`: delta-rs keeps each partition's file in memory until the file reaches
the target size or the write ends. A table whose partitions are smaller than that (a 10M-row
table by day: 61 partitions of ~10 MB) is held whole, compressed, plus every partition's open
row group: the ecommerce silver table's write took ~1.5 GB over its query's.

Here each partition's rows are gathered into row groups of ROW_GROUP_ROWS and written to its file
on disk as soon as they fill. Rows waiting for their row group are capped at BUFFER_BYTES for
all partitions together (past it, the largest waits are written as smaller row groups), open
files at MAX_OPEN (past it, the least recently written is closed; its partition's next rows
start a new file), and a file is closed at TARGET_FILE_BYTES. The files are then committed in
one Delta commit (`create_table_with_add_actions`, `create_write_transaction`), with the same
commit info, app transaction and table properties as any other write; a write that fails before
its commit leaves only unreferenced files, which `vacuum` removes.

Used for the common case, checked by `can_write` before the stream is read: one partition
column of a type whose partition value is plain text (text, integers, dates, booleans), and a
new table or one with the same columns and partitioning. Anything else goes to delta-rs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.storage.parquet import ROW_GROUP_ROWS

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

#: rows waiting for their row group, all partitions together
BUFFER_BYTES = 64 << 20
#: small batches of the stream are gathered up to this many rows before being split
GATHER_ROWS = 64 * 1024
#: files open at once
MAX_OPEN = 64
#: a file is closed past this size, as delta-rs does at its default target
TARGET_FILE_BYTES = 128 << 20
#: the Delta protocol's name for a NULL partition value's directory
NULL_DIR = "__HIVE_DEFAULT_PARTITION__"
_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")


def can_write(table: DeltaTable | None, schema: pa.Schema, partition_by: list[str] | None) -> bool:
    """Whether this writer takes a write of `schema` into `table` (None: a new table)."""
    import pyarrow as pa
    from deltalake import Schema

    if not partition_by or len(partition_by) != 1 or partition_by[0] not in schema.names:
        return False
    kind = schema.field(partition_by[0]).type
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_date32(kind)
        or pa.types.is_boolean(kind)
    ):
        return False
    target = log_schema(schema)
    if target is None:
        return False
    if table is None:
        return True
    return table.schema().to_json() == Schema.from_arrow(target).to_json() and list(
        table.metadata().partition_columns
    ) == list(partition_by)


def log_schema(schema: pa.Schema) -> pa.Schema | None:
    """`schema` as Delta types it: time zones named UTC (Delta keeps instants in UTC; DuckDB says
    Etc/UTC). None when a column needs a conversion delta-rs would make (nanoseconds, unsigned
    integers, ...): such writes go to delta-rs."""
    import pyarrow as pa

    fields = []
    for f in schema:
        kind = f.type
        if pa.types.is_timestamp(kind):
            if kind.unit != "us":
                return None
            kind = pa.timestamp("us", "UTC" if kind.tz else None)
        elif not _plain(kind):
            return None
        fields.append(pa.field(f.name, kind, f.nullable, f.metadata))
    return pa.schema(fields, metadata=schema.metadata)


def _plain(kind: pa.DataType) -> bool:
    """A type Delta stores as it is (nested types: their children are)."""
    import pyarrow as pa

    t = pa.types
    if t.is_struct(kind):
        return all(_plain(kind.field(i).type) for i in range(kind.num_fields))
    if t.is_list(kind) or t.is_large_list(kind):
        return _plain(kind.value_type)
    if t.is_timestamp(kind):
        return kind.unit == "us" and kind.tz in (None, "UTC")
    return (
        t.is_string(kind)
        or t.is_large_string(kind)
        or t.is_binary(kind)
        or t.is_large_binary(kind)
        or t.is_signed_integer(kind)
        or t.is_floating(kind)
        or t.is_boolean(kind)
        or t.is_date32(kind)
        or t.is_decimal128(kind)
    )


def write(
    path: Path,
    table: DeltaTable | None,
    reader: pa.RecordBatchReader,
    *,
    partition_by: list[str],
    mode: str,
    commit_properties: Any,
    configuration: dict[str, str] | None = None,
    description: str | None = None,
) -> int:
    """Write `reader` into the table at `path` (`table`: it opened, None if new) as one commit
    (`mode`: append or overwrite); returns the new version."""
    from deltalake import Schema
    from deltalake.transaction import create_table_with_add_actions

    schema = log_schema(reader.schema)
    assert schema is not None, "checked by can_write"
    files = _Files(path, schema, partition_by[0])
    cast = schema != reader.schema
    try:
        for batch in reader:
            files.add(batch.cast(schema) if cast else batch)
        actions = files.finish()
    except BaseException:
        files.abandon()
        raise
    if table is not None:
        table.create_write_transaction(
            actions,
            mode=mode,
            schema=schema,
            partition_by=partition_by,
            commit_properties=commit_properties,
        )
        table.update_incremental()  # the transaction does not move the object to its commit
        return table.version()
    create_table_with_add_actions(
        str(path),
        Schema.from_arrow(schema),
        actions,
        mode="overwrite",
        partition_by=partition_by,
        description=description,
        configuration=configuration,
        commit_properties=commit_properties,
    )
    return 0  # a new table's first commit


@dataclass
class _Partition:
    value: str | None  # as the Delta log writes it
    directory: str
    waiting: list[pa.RecordBatch] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    writer: Any = None
    file: str | None = None  # relative to the table
    last_used: int = 0


class _Files:
    """The data files of one write, by partition."""

    def __init__(self, root: Path, schema: pa.Schema, column: str) -> None:
        self.root = root
        self.column = column
        self.data_schema = schema.remove(schema.get_field_index(column))
        self.parts: dict[Any, _Partition] = {}
        self.waiting_bytes = 0
        self.clock = 0
        self.actions: list[Any] = []
        self.written: list[Path] = []
        self.incoming: list[pa.RecordBatch] = []
        self.incoming_rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Take a batch of the stream. Small batches (a CSV file's rows) are gathered first:
        splitting costs a few calls per partition whatever the batch's size."""
        self.incoming.append(batch)
        self.incoming_rows += batch.num_rows
        if self.incoming_rows >= GATHER_ROWS:
            self._split_incoming()

    def _split_incoming(self) -> None:
        import pyarrow as pa

        if not self.incoming:
            return
        if len(self.incoming) == 1:
            batch = self.incoming[0]
        else:
            table = pa.Table.from_batches(self.incoming, self.incoming[0].schema)
            batch = table.combine_chunks().to_batches()[0]
        self.incoming, self.incoming_rows = [], 0
        for key, rows in _split(batch, self.column):
            part = self.parts.get(key)
            if part is None:
                part = self.parts[key] = _partition(self.column, key)
            rows = rows.drop_columns([self.column])
            part.waiting.append(rows)
            part.rows += rows.num_rows
            part.nbytes += rows.nbytes
            self.waiting_bytes += rows.nbytes
            if part.rows >= ROW_GROUP_ROWS:
                self._flush(part)
        while self.waiting_bytes > BUFFER_BYTES:
            self._flush(max(self.parts.values(), key=lambda p: p.nbytes))

    def _flush(self, part: _Partition) -> None:
        """Write the partition's waiting rows as row groups of its open file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not part.waiting:
            return
        if part.writer is None:
            open_files = [p for p in self.parts.values() if p.writer is not None]
            if len(open_files) >= MAX_OPEN:
                self._close(min(open_files, key=lambda p: p.last_used))
            part.file = f"{part.directory}/part-{uuid.uuid4()}.snappy.parquet"
            target = self.root / part.file
            target.parent.mkdir(parents=True, exist_ok=True)
            self.written.append(target)
            part.writer = pq.ParquetWriter(str(target), self.data_schema, compression="snappy")
        table = pa.Table.from_batches(part.waiting, self.data_schema)
        part.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.waiting_bytes -= part.nbytes
        part.waiting, part.rows, part.nbytes = [], 0, 0
        self.clock += 1
        part.last_used = self.clock
        if os.path.getsize(self.root / part.file) >= TARGET_FILE_BYTES:
            self._close(part)

    def _close(self, part: _Partition) -> None:
        from deltalake.transaction import AddAction

        part.writer.close()
        meta = part.writer.writer.metadata
        full = self.root / part.file
        stat = full.stat()
        self.actions.append(
            AddAction(
                path=part.file,
                size=stat.st_size,
                partition_values={self.column: part.value},
                modification_time=int(stat.st_mtime * 1000),
                data_change=True,
                stats=_stats(meta, self.data_schema),
            )
        )
        part.writer, part.file = None, None

    def finish(self) -> list[Any]:
        self._split_incoming()
        for part in self.parts.values():
            self._flush(part)
        for part in self.parts.values():
            if part.writer is not None:
                self._close(part)
        return self.actions

    def abandon(self) -> None:
        """Close and delete this write's files (nothing references them)."""
        for part in self.parts.values():
            if part.writer is not None:
                with contextlib.suppress(Exception):  # the write's own error is the one to raise
                    part.writer.close()
        for file in self.written:
            file.unlink(missing_ok=True)


def _split(batch: pa.RecordBatch, column: str) -> Iterator[tuple[Any, pa.RecordBatch]]:
    """(partition value, its rows) of a batch. Each partition's rows are taken into buffers of
    their own: slices of one sorted copy would keep the whole copy alive as long as a rare
    partition's few rows wait for their row group."""
    import pyarrow.compute as pc

    values = batch.column(column)
    counts = pc.value_counts(values)
    if len(counts) == 1:
        yield counts.field("values")[0].as_py(), batch
        return
    order = pc.array_sort_indices(values, null_placement="at_end")
    # value_counts lists values in order of appearance: sorted here, NULL last
    runs = pc.value_counts(values.take(order))
    start = 0
    for value, n in zip(
        runs.field("values").to_pylist(), runs.field("counts").to_pylist(), strict=True
    ):
        yield value, batch.take(order.slice(start, n))
        start += n


def _partition(column: str, value: Any) -> _Partition:
    if value is None:
        return _Partition(None, f"{column}={NULL_DIR}")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    # the directory only locates the file (readers take the value from the log): characters
    # that would need escaping are replaced by a digest
    if _SAFE.fullmatch(text) and len(text) <= 64:
        name = text
    else:
        name = "_" + hashlib.sha1(text.encode()).hexdigest()[:16]
    return _Partition(text, f"{column}={name}")


def _stats(meta: Any, schema: pa.Schema) -> str:
    """The file's Delta statistics from its Parquet footer: row count, NULL counts, and the
    minimum and maximum of columns whose values JSON carries exactly (integers, floats, dates,
    short text) — what merges and readers skip files by."""
    import math

    import pyarrow as pa

    nulls: dict[str, int] = {}
    lows: dict[str, Any] = {}
    highs: dict[str, Any] = {}
    unbounded: set[str] = set()  # a row group without usable bounds: the file has none
    flat = {f.name: f.type for f in schema if not pa.types.is_nested(f.type)}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            col = group.column(c)
            name = col.path_in_schema
            s = col.statistics
            if name not in flat or s is None:
                continue
            if s.has_null_count:
                nulls[name] = nulls.get(name, 0) + s.null_count
            if not _exact(flat[name]):
                continue
            if s.num_values == 0:
                continue  # only NULLs in this row group: no bound to widen
            low = _json(s.min, flat[name]) if s.has_min_max else None
            high = _json(s.max, flat[name]) if s.has_min_max else None
            if (
                low is None
                or high is None
                or not all(math.isfinite(v) for v in (low, high) if isinstance(v, float))
            ):
                unbounded.add(name)
                continue
            lows[name] = min(lows.get(name, low), low)
            highs[name] = max(highs.get(name, high), high)
    return json.dumps(
        {
            "numRecords": meta.num_rows,
            "minValues": {k: v for k, v in lows.items() if k not in unbounded},
            "maxValues": {k: v for k, v in highs.items() if k not in unbounded},
            "nullCount": nulls,
        }
    )


def _exact(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_date32(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    )


def _json(value: Any, kind: pa.DataType) -> Any:
    """A statistic as the Delta log writes it; None when it cannot be written exactly."""
    import datetime

    import pyarrow as pa

    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return None
    if pa.types.is_date32(kind):
        return value.isoformat() if isinstance(value, datetime.date) else None
    if isinstance(value, str):
        # a cut maximum would be below the real one: long text gets no bounds
        return value if len(value) <= 32 else None
    return value
