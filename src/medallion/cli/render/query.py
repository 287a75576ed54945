"""A query's rows: as a table on the terminal, or CSV, JSON or Parquet to stdout or a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.cli.render.console import _json_default, _numeric, _rel, err, print_rows

if TYPE_CHECKING:
    import pyarrow as pa


def query_result(
    reader: pa.RecordBatchReader, *, fmt: str, output: Path | None, limit: int
) -> None:
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = pa.OSFile(str(output), "wb") if output else sys.stdout.buffer
        with pacsv.CSVWriter(sink, _csv_schema(reader.schema)) as writer:
            for batch in reader:
                writer.write_batch(_csv_batch(batch))
        if output:
            sink.close()
            err().print(f"wrote {_rel(output)}")
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert output is not None
        rows = 0
        with pq.ParquetWriter(str(output), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        err().print(f"wrote {rows:,} rows to {_rel(output)}")
        return
    if fmt == "json":
        fh = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            fh.write("[")
            first = True
            for batch in reader:
                for row in batch.to_pylist():
                    fh.write(
                        ("\n  " if first else ",\n  ") + json.dumps(row, default=_json_default)
                    )
                    first = False
            fh.write("\n]\n" if not first else "]\n")
        finally:
            if output:
                fh.close()
                err().print(f"wrote {_rel(output)}")
        return
    # table
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


def _textual(t: pa.DataType) -> bool:
    """A type CSV cannot hold as it is: nested values and bytes (written as JSON text)."""
    import pyarrow as pa

    return pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) if _textual(f.type) else f for f in schema])


def _csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its nested and binary columns as JSON text (CSV has no lists)."""
    import pyarrow as pa

    if not any(_textual(f.type) for f in batch.schema):
        return batch
    columns = [
        pa.array(
            [None if v is None else json.dumps(v, default=_json_default) for v in c.to_pylist()],
            pa.string(),
        )
        if _textual(f.type)
        else c
        for c, f in zip(batch.columns, batch.schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=_csv_schema(batch.schema))
