"""Parquet files: read together by name (`union_by_name`); a file that cannot be read is one
Reject."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.errors import first_line
from medallion.ingest.files.reader import Plan, ReadResult, Reject, call, paths
from medallion.sqltree import lit

if TYPE_CHECKING:
    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import FileReader


def plan(reader: FileReader, files: list[SourceFile], result: ReadResult) -> list[Plan]:
    """One read_parquet over the readable files."""
    import sqlglot.expressions as exp

    readable: list[SourceFile] = []
    for f in files:
        try:
            reader.execute(
                exp.select(exp.Count(this=exp.Star())).from_(call("read_parquet", lit(str(f.path))))
            )
            readable.append(f)
        except Exception as e:
            result.rejects.append(
                Reject(f.rel, None, "", f"unreadable Parquet file: {first_line(e)}")
            )
    if not readable:
        return []
    read = call("read_parquet", paths(readable), filename=True, union_by_name=True)
    query = exp.select(exp.Star()).from_(read)
    return [Plan(query, reader.columns_of(query), readable)]
