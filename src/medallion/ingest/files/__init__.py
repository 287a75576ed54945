"""File sources: discovery by glob (and what makes a file the same file), and reading CSV /
JSON / Parquet into Arrow streams with DuckDB, rescuing the rows DuckDB cannot parse. This
package and the DuckDB engine are the only code that use DuckDB directly: landing files is done
by DuckDB whatever engine runs the models."""

from __future__ import annotations

from medallion.ingest.files import csv, json, parquet
from medallion.ingest.files.discover import SourceFile, discover, fingerprint
from medallion.ingest.files.reader import (
    AUDIT_COLUMNS,
    FileReader,
    Planner,
    ReadResult,
    Reject,
    column_types,
)

#: file format -> how its files are read
PLANNERS: dict[str, Planner] = {"csv": csv.plan, "json": json.plan, "parquet": parquet.plan}

__all__ = [
    "AUDIT_COLUMNS",
    "PLANNERS",
    "FileReader",
    "ReadResult",
    "Reject",
    "SourceFile",
    "column_types",
    "discover",
    "fingerprint",
]
