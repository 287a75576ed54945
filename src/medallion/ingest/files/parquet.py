"""Parquet files: read together by name (`union_by_name`). A file that cannot be read at all
(truncated, not Parquet) fails the ingest naming the file: it is not one rejected "row", and
nothing of the ingest is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.errors import SourceError, first_line
from medallion.ingest.files.reader import Plan, ReadResult, call, paths
from medallion.sqltree import lit

if TYPE_CHECKING:
    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import FileReader


def plan(reader: FileReader, files: list[SourceFile], result: ReadResult) -> list[Plan]:
    """One read_parquet over the files, each first checked to be readable (its footer: a file
    cut short has none), so a bad one is named before anything is streamed."""
    import sqlglot.expressions as exp

    for f in files:
        try:
            reader.execute(
                exp.select(exp.Count(this=exp.Star())).from_(call("read_parquet", lit(str(f.path))))
            )
        except Exception as e:
            raise SourceError(
                f"cannot read {f.rel}: not a readable Parquet file (cut off, or not Parquet?): "
                f"{first_line(e)}",
                source=reader.name,
                file=f.path,
                hint="replace the file with a complete copy and run again; nothing of this "
                "ingest was written",
            ) from None
    read = call("read_parquet", paths(files), filename=True, union_by_name=True)
    query = exp.select(exp.Star()).from_(read)
    return [Plan(query, reader.columns_of(query), files)]
