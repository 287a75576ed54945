"""A query's rows: as a table on the terminal, or CSV, JSON or Parquet to stdout or a file.

A file is written under a temporary name beside it and renamed into place once every row is
written: a query that fails half-way (a cast that fails on a late row, Ctrl-C) leaves no partial
file, and an existing file keeps its content. A value a format cannot hold is written as text:
nested values (lists, structs, maps) and bytes as JSON text in CSV, intervals as DuckDB writes
them (`1 month 3 days 01:00:00`) everywhere (Arrow has no text form of them).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from medallion.cli.render.console import _json_default, _numeric, _rel, err, print_rows

if TYPE_CHECKING:
    import pyarrow as pa


def query_result(
    reader: pa.RecordBatchReader, *, fmt: str, output: Path | None, limit: int
) -> None:
    if fmt == "table":
        _table(reader, limit)
        return
    reader = _writable(reader, fmt)
    if output is None:
        _write(reader, fmt, sys.stdout.buffer)
        return
    with _replacing(output) as partial:
        rows = _write(reader, fmt, partial)
    err().print(f"wrote {rows:,} rows to {_rel(output)}")


def _write(reader: pa.RecordBatchReader, fmt: str, sink: Any) -> int:
    """Every row of `reader` to `sink` (a path or a binary stream) in `fmt`; the rows written."""
    import pyarrow as pa

    rows = 0
    if fmt == "csv":
        import pyarrow.csv as pacsv

        stream = pa.OSFile(str(sink), "wb") if isinstance(sink, Path) else sink
        try:
            with pacsv.CSVWriter(stream, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        finally:
            if isinstance(sink, Path):
                stream.close()
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(str(sink), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    else:  # json: one array of objects, a row per line
        with contextlib.ExitStack() as stack:
            fh: TextIO = sys.stdout
            if isinstance(sink, Path):
                fh = stack.enter_context(open(sink, "w", encoding="utf-8"))
            fh.write("[")
            for batch in reader:
                for row in batch.to_pylist():
                    fh.write(("\n  " if not rows else ",\n  ") + _json_text(row))
                    rows += 1
            fh.write("\n]\n" if rows else "]\n")
    return rows


@contextlib.contextmanager
def _replacing(output: Path) -> Iterator[Path]:
    """A temporary path beside `output`, renamed to it when the block ends without an error and
    deleted when it does not."""
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _table(reader: pa.RecordBatchReader, limit: int) -> None:
    numeric = _numeric(reader.schema)
    rows: list[dict[str, Any]] = []
    total = 0
    for batch in reader:
        total += batch.num_rows
        if limit and len(rows) >= limit:
            continue
        rows.extend(batch.slice(0, limit - len(rows) if limit else None).to_pylist())
    print_rows(reader.schema.names, numeric, rows)
    more = (
        f" (showing {len(rows):,}; use --limit 0 or --format csv for all)"
        if len(rows) < total
        else ""
    )
    err().print(f"[dim]{total:,} rows{more}[/]")


# -- values a format cannot hold, as text ---------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(_intervals_as_text(value), default=_json_default)


def _intervals_as_text(value: Any) -> Any:
    """`value` with the intervals inside it as text (json would write one as a list)."""
    if isinstance(value, dict):
        return {k: _intervals_as_text(v) for k, v in value.items()}
    if all(hasattr(value, f) for f in ("months", "days", "nanoseconds")):
        return _interval_text(value)
    if isinstance(value, list | tuple):
        return [_intervals_as_text(v) for v in value]
    return value


def _interval_text(value: Any) -> str:
    from medallion.errors import display_value

    return display_value(value)


def _converter(fmt: str, t: pa.DataType) -> Callable[[Any], str] | None:
    """How a value of type `t` is written as text in `fmt`, None for a type `fmt` holds."""
    import pyarrow as pa

    if pa.types.is_interval(t) or pa.types.is_duration(t):
        # CSV and Parquet writers refuse intervals; JSON would show a (months, days, ns) list
        return _interval_text
    if fmt == "parquet" and _holds_interval(t):  # a list of intervals: JSON text
        return _json_text
    if fmt == "csv" and (pa.types.is_nested(t) or _binary(t)):  # CSV has no lists, no bytes
        return _json_text
    if fmt == "csv" and pa.types.is_string_view(t):
        return str
    return None


def _binary(t: pa.DataType) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


def _holds_interval(t: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_interval(t) or pa.types.is_duration(t):
        return True
    return any(_holds_interval(t.field(i).type) for i in range(t.num_fields))


def _writable(reader: pa.RecordBatchReader, fmt: str) -> pa.RecordBatchReader:
    """`reader` with the columns `fmt` cannot hold as text columns."""
    import pyarrow as pa

    converters = [_converter(fmt, f.type) for f in reader.schema]
    if not any(converters):
        return reader
    schema = pa.schema(
        [
            f if c is None else pa.field(f.name, pa.string())
            for f, c in zip(reader.schema, converters, strict=True)
        ]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            columns = [
                column
                if c is None
                else pa.array([None if v is None else c(v) for v in column.to_pylist()], pa.utf8())
                for column, c in zip(batch.columns, converters, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
