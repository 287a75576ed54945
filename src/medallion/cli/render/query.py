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
        with pacsv.CSVWriter(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
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
