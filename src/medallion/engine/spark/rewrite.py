"""Rows added to a table by Spark's executors, replacing some of its rows, in one commit.

An `append` write target is written like a whole table (commit.py) and committed with add
actions only. With `replace` (a predicate over the table's columns: the periods an
incremental_by_time model recomputes, the keys a merge recomputes) the table's files holding a
row it selects are found by Spark (`input_file_name()` of the rows it selects, so Parquet
statistics and partition folders prune the scan), their other rows are written again beside the
new rows, and one delta-rs transaction removes those files and adds the new ones. Files holding
no replaced row are not touched.

The commit carries no change-data files: a reader of the table's changes sees the removed
files' rows as gone and the added files' rows as new (storage/changes.py), so the rows of a
rewritten file that did not change read as deleted and inserted again. Downstream models
recompute what such a row touches and find it equal: correct, at the cost of recomputing a
little more than the change. The rows kept from a rewritten file count neither as written nor
as read by the step (`target.check` sees the new rows only).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from pathlib import Path

    import sqlglot.expressions as exp
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame

    from medallion.engine.base import WriteTarget
    from medallion.engine.spark.engine import Session


def same_columns(table: DeltaTable, df: DataFrame) -> bool:
    """Whether `df` has the table's columns with the table's types (then its files can be added
    to the table as they are; otherwise the table's schema changes, which the driver's writer
    does)."""
    from deltalake import Schema

    from medallion.engine.spark.engine import arrow_schema

    def columns(schema: Any) -> dict[str, str]:
        return {f.name: str(f.type) for f in schema.fields}

    return columns(table.schema()) == columns(Schema.from_arrow(arrow_schema(df)))


def conform(table: DeltaTable, df: DataFrame) -> DataFrame:
    """`df` with the columns the table has cast to the table's types, as the driver's writer
    casts an append (a table first built on DuckDB holds BIGINT where Spark computes INT, say;
    Spark's ANSI casts fail rather than wrap). Columns the table lacks are kept: the append then
    goes through the driver's writer, which adds them to the schema."""
    import pyarrow as pa
    import pyspark.sql.functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    wanted = {
        f.name: f.dataType
        for f in from_arrow_schema(
            pa.schema(table.schema().to_arrow()), prefer_timestamp_ntz=True
        ).fields
    }
    have = {f.name: f.dataType for f in df.schema.fields}
    return df.select(
        *[
            F.col(f"`{c}`").cast(wanted[c]).alias(c)
            if c in wanted and have[c] != wanted[c]
            else F.col(f"`{c}`")
            for c in df.columns
        ]
    )


def append(
    session: Session, df: DataFrame, target: WriteTarget, table: DeltaTable
) -> tuple[int, int]:
    """`df` added to the table at `target.path`, replacing the rows `target.replace` selects:
    (version, rows of `df`)."""
    from medallion.engine.spark.commit import commit, new_folder, write_files
    from medallion.engine.spark.engine import arrow_schema
    from medallion.faults import fault_point

    path = target.path
    schema = arrow_schema(df)
    folders: list[Path] = []
    try:
        removed: list[Any] = []
        kept: DataFrame | None = None
        if target.replace is not None:
            removed, kept = _replaced(session, path, table, target.replace)
        folders.append(new_folder(path))
        actions, rows = write_files(df, path, folders[-1], schema, target.partition_by)
        copied = 0
        if kept is not None:
            folders.append(new_folder(path))
            kept_actions, copied = write_files(kept, path, folders[-1], schema, target.partition_by)
            actions += kept_actions
        target.check(rows)
        fault_point(target.fault)
        version = commit(path, removed + actions, schema, target, table, copied)
    except BaseException:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return version, rows


def _replaced(
    session: Session, path: Path, table: DeltaTable, predicate: exp.Expression
) -> tuple[list[Any], DataFrame | None]:
    """Remove actions for the table's files holding a row `predicate` (over the table as `t`)
    selects, and those files' other rows (None when no file holds one)."""
    import sqlglot.expressions as exp
    from deltalake.transaction import RemoveAction

    from medallion import sqltree
    from medallion.engine.base import SRC
    from medallion.engine.spark.engine import _file_name, read_files
    from medallion.storage import snapshot, tables

    snap = snapshot.snapshot(path, table.version())
    if not snap.files.files:
        return [], None
    scan = read_files(session.spark, snap.files)
    scan = scan.withColumn("__medallion_file", _file_name())
    selected = exp.func("coalesce", exp.paren(predicate.copy()), exp.false())
    src = sqltree.table(SRC, "t")
    query = exp.select(exp.column("__medallion_file")).distinct().from_(src).where(selected)
    found = session.fetch(session.over(scan, query)).column(0).to_pylist()
    touched = {_local(f) for f in found}
    if not touched:
        return [], None
    # a remove action names a file by its path in the table as the log has it, URL-decoded
    # (delta-rs encodes it again, as it does an add action's)
    by_file = {os.path.realpath(p): (p, values) for p, values in snap.files.files}
    log = tables.add_actions(table)
    now = int(time.time() * 1000)
    removes, files = [], []
    for i, rel in enumerate(log.column("path").to_pylist()):
        name = snapshot.unquote(rel)
        full = os.path.realpath(os.path.join(str(path), name))
        if full not in touched:
            continue
        size = log.column("size_bytes")[i].as_py()
        removes.append(RemoveAction(name, True, now, size, dict(by_file[full][1])))
        files.append(by_file[full])
    rewritten = snapshot.FileSet(files, snap.files.schema, snap.files.partition_columns)
    rows = read_files(session.spark, rewritten)
    others = exp.select(exp.Star()).from_(src.copy()).where(exp.not_(selected.copy()))
    return removes, session.over(rows, others)


def _local(uri: str) -> str:
    """A file name as Spark's `input_file_name()` gives it (a URI) as a local path."""
    return os.path.realpath(unquote(urlparse(uri).path))
