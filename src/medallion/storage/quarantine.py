"""The quarantine tables' contract: which columns a quarantine table has.

- A source's quarantine (`<landing layer>.<source>__quarantine`) holds lines its files could not
  parse: `source_schema()`.
- A model's quarantine (`<layer>.<model>__quarantine`) holds rows that failed an `action:
  quarantine` expectation: the model's columns plus MODEL_EXTRA (`model_schema()`).

Who writes them: `medallion.ingest.bronze` (sources) and the model build (models, after the
model's own commit); who reads them: `medallion quarantine`, replay, and models that select from
them. A quarantine table nothing was sent to yet reads as empty with these columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: columns of a source's quarantine table, in order
SOURCE_COLUMNS = ("_source_file", "_line", "_raw", "_error", "_batch", "_ingested_at", "_run_id")
#: columns a model's quarantine table adds to the model's own
MODEL_EXTRA = ("_failed_expectations", "_run_id", "_quarantined_at", "_quarantine_id")


def source_schema() -> pa.Schema:
    """Columns of a source's quarantine table (rows that could not be parsed)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("_source_file", pa.string()),
            ("_line", pa.int64()),
            ("_raw", pa.string()),
            ("_error", pa.string()),
            ("_batch", pa.int64()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_run_id", pa.string()),
        ]
    )


def model_schema(model_schema: pa.Schema) -> pa.Schema:
    """A model's quarantine table's columns: the model's, then `_failed_expectations`,
    `_run_id`, `_quarantined_at`, `_quarantine_id`. A model column named like one of those
    (`_run_id` from `select *` over bronze) is replaced: in the quarantine it means the run that
    set the row aside."""
    import pyarrow as pa

    return pa.schema(
        [
            *[f for f in model_schema if f.name not in MODEL_EXTRA],
            pa.field("_failed_expectations", pa.list_(pa.string())),
            pa.field("_run_id", pa.string()),
            pa.field("_quarantined_at", pa.timestamp("us", tz="UTC")),
            pa.field("_quarantine_id", pa.string()),
        ]
    )
