"""The Parquet files medallion writes: row groups sized for DuckDB's parallel reads."""

from __future__ import annotations

from typing import Any

#: rows per Parquet row group of the files medallion writes. DuckDB reads a file in parallel by
#: row group; delta-rs's default (1M rows) made a 1M-row table one row group, read by one thread
#: however many cores there are. DuckDB's own tables use 122,880-row groups.
ROW_GROUP_ROWS = 128 * 1024


def writer_properties() -> Any:
    """The Parquet writer settings of every Delta write, merge, delete and optimize."""
    from deltalake import WriterProperties

    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS)
