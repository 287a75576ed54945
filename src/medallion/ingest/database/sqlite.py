"""SQLite sources through the standard library, in batches of `batch_size` rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError
from medallion.ingest.database.watermark import max_cursor as max_cursor_query
from medallion.ingest.database.watermark import (
    range_filter,
    read_range,
    rows_query,
    watermark_text,
)
from medallion.ingest.sources import Extract

if TYPE_CHECKING:
    from medallion.config.schema import DatabaseSource

#: SQLite's errors are not retried (a local file)
classify = None


def _path(source: DatabaseSource, root: Path) -> Path:
    path = Path(source.dsn.removeprefix("sqlite:///").removeprefix("sqlite://"))
    return path if path.is_absolute() else root / path  # relative to the project


def extract(
    source: DatabaseSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    """SQLite through the standard library, in batches of `batch_size` rows."""
    import sqlite3

    import pyarrow as pa

    path = _path(source, root)
    if not path.exists():
        raise SourceError(
            f"SQLite database {path} not found", source=name, key=f"sources.{name}.dsn"
        )
    # the stream is read by DuckDB's worker threads, not the thread that opened it
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        where: list[Any] = []
        params: list[Any] = []
        high = None
        if source.cursor is not None:
            high = conn.execute(max_cursor_query(source).sql("sqlite")).fetchone()[0]
            where, params = range_filter(
                source.cursor, read_range(high, watermark, source.lookback, full)
            )
            params = [_param(p) for p in params]
        cur = conn.execute(rows_query(source, where).sql("sqlite"), params)
        columns = [d[0] for d in cur.description]
        first = cur.fetchmany(source.batch_size)
        schema = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in first]).schema
        if not first:
            schema = pa.schema([pa.field(c, pa.string()) for c in columns])

        def batches() -> Iterator[pa.RecordBatch]:
            rows = first
            while rows:
                table = pa.Table.from_pylist(
                    [dict(zip(columns, r, strict=True)) for r in rows]
                ).cast(schema)
                yield from table.to_batches()
                rows = cur.fetchmany(source.batch_size)

        return Extract(
            pa.RecordBatchReader.from_batches(schema, batches()),
            watermark_text(high) if high is not None else watermark,
            f"sqlite:{source.table or 'query'}",
            conn.close,
        )
    except sqlite3.Error as e:
        conn.close()
        raise SourceError(f"SQLite: {e}", source=name) from None


def _param(value: Any) -> Any:
    """A cursor bound as SQLite compares it (times are stored as text)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return float(value) if isinstance(value, Decimal) else value


def max_cursor(source: DatabaseSource, root: Path) -> Any:
    """The cursor's largest value now."""
    import sqlite3

    conn = sqlite3.connect(f"file:{_path(source, root)}?mode=ro", uri=True)
    try:
        row = conn.execute(max_cursor_query(source).sql("sqlite")).fetchone()
    finally:
        conn.close()
    return row[0] if row else None
