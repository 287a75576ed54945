"""A table written by Spark and committed by delta-rs: Spark writes Parquet files on its
executors into a new folder inside the table, deltalake commits them without rewriting.

The folder's name does not start with `_` (vacuum and Delta readers skip such folders), Spark
writes timestamps as TIMESTAMP_MICROS (start.FORCED), and each file becomes an add action whose
size comes from the file system and whose statistics (rows, null counts, min/max of integer,
date and short text columns) come from its Parquet footer, read with pyarrow. The commit is the
same as a stream written by delta-rs: one version, the `medallion.*` commit info, and the
`operationMetrics` delta-rs's own writers record (which its add-action commits leave out): the
rows the commit adds (from the files' footers, less the rows a rewrite copies from the files it
removes), copied, and the files added and removed, so `medallion verify` compares a step's
counts with the Delta log on Spark as on DuckDB (quality/ledger.py). Until the
commit nothing reads the files; a failure before it removes the folder, a process killed before
it leaves the folder to `vacuum` (as delta-rs leaves its own unfinished files).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from medallion.errors import StorageError

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

    from medallion.engine.base import WriteTarget

#: the value Spark writes in a partition folder's name for NULL
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
#: longest text kept as a min/max statistic (longer ones are left out, never truncated)
MAX_TEXT_STAT = 64


def write_and_commit(
    spark: SparkSession, df: DataFrame, target: WriteTarget, schema: pa.Schema | None = None
) -> tuple[int, int]:
    """Write `df` as the table's new data (`target.mode`) and commit it: (version, rows).
    `schema`: the table schema to commit (default: `df`'s, every column nullable as DuckDB's
    writes leave them: a column Spark knows is never NULL, such as a literal's (quarantine's
    `_run_id`), must not make the table's schema differ with the engine that wrote it)."""
    import pyarrow as pa

    from medallion.engine.spark.engine import arrow_schema
    from medallion.faults import fault_point

    path = target.path
    folder = new_folder(path)
    schema = schema or pa.schema([f.with_nullable(True) for f in arrow_schema(df)])
    try:
        actions, rows = write_files(df, path, folder, schema, target.partition_by)
        target.check(rows)
        fault_point(target.fault)
        version = commit(path, actions, schema, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return version, rows


def new_folder(path: Path) -> Path:
    """A fresh folder inside the table for one write's files (its name not starting with `_`)."""
    return path / f"spark-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def write_files(
    df: DataFrame, root: Path, folder: Path, schema: pa.Schema, partition_by: list[str]
) -> tuple[list[Any], int]:
    """`df` written by the executors as Parquet files under `folder`: their add actions and rows."""
    writer = df.write.mode("errorifexists")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(str(folder))
    return add_actions(root, folder, schema, partition_by)


def add_actions(
    root: Path, folder: Path, schema: pa.Schema, partition_by: list[str]
) -> tuple[list[Any], int]:
    """An add action per Parquet file Spark wrote under `folder` (its bookkeeping files are
    removed; so are files without a row, which Spark writes for empty partitions of its
    work), and the rows they hold."""
    import pyarrow.parquet as pq
    from deltalake.transaction import AddAction

    actions, rows = [], 0
    for here, dirs, names in os.walk(folder):
        # a task attempt's leftovers under _temporary/ (speculation, a failed cleanup) are no
        # data of this write: never walked into, never committed
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        for name in sorted(names):
            full = os.path.join(here, name)
            if not name.endswith(".parquet") or name.startswith((".", "_")):
                os.unlink(full)  # _SUCCESS, .crc checksums: not data
                continue
            meta = pq.ParquetFile(full).metadata
            if meta.num_rows == 0:
                os.unlink(full)  # the schema is the commit's, not a file's
                continue
            rows += meta.num_rows
            rel = os.path.relpath(full, root)
            values = _partition_values(os.path.relpath(here, folder), partition_by)
            stats = _stats(meta, schema, set(partition_by))
            actions.append(
                AddAction(
                    rel.replace(os.sep, "/"),
                    os.path.getsize(full),
                    values,
                    int(os.path.getmtime(full) * 1000),
                    True,
                    json.dumps(stats),
                )
            )
    return actions, rows


def _partition_values(rel_dir: str, partition_by: list[str]) -> dict[str, str | None]:
    """`col=value` folder names (Spark's escaping undone) as a file's partition values."""
    found: dict[str, str | None] = {}
    if rel_dir in ("", "."):
        return found
    for part in rel_dir.split(os.sep):
        key, _, value = part.partition("=")
        text = unquote(value)
        found[unquote(key)] = None if text == HIVE_NULL else text
    return {c: found.get(c) for c in partition_by}


def _stats(meta: Any, schema: pa.Schema, partitions: set[str]) -> dict[str, Any]:
    """Delta file statistics from a Parquet footer: rows, null counts, and min/max where the
    footer's value means the same in Delta (integers, dates, short text)."""
    import pyarrow as pa

    nulls: dict[str, int] = {}
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    columns = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for f in schema:
        if f.name in partitions or f.name not in columns:
            continue
        i = columns[f.name]
        stats = [meta.row_group(g).column(i).statistics for g in range(meta.num_row_groups)]
        if any(s is None for s in stats):
            continue
        nulls[f.name] = sum(s.null_count for s in stats)
        typed = pa.types.is_integer(f.type) or pa.types.is_date(f.type)
        text = pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        if not (typed or text) or not stats or not all(s.has_min_max for s in stats):
            continue
        lo, hi = min(s.min for s in stats), max(s.max for s in stats)
        if text and (len(lo) > MAX_TEXT_STAT or len(hi) > MAX_TEXT_STAT):
            continue
        mins[f.name] = lo.isoformat() if hasattr(lo, "isoformat") else lo
        maxs[f.name] = hi.isoformat() if hasattr(hi, "isoformat") else hi
    return {
        "numRecords": meta.num_rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    }


def commit(
    path: Path,
    actions: list[Any],
    schema: pa.Schema,
    target: WriteTarget,
    table: DeltaTable | None = None,
    copied_rows: int = 0,
) -> int:
    """One Delta commit of `actions` (`target.mode`: overwrite replaces the table's data and
    schema; append adds, and removes what remove actions name); the version. `table`: the
    version the actions were made against (a commit made since is a conflict delta-rs checks).
    `copied_rows`: rows of the added files that a rewrite copied from the removed ones."""
    from deltalake import Schema
    from deltalake.transaction import create_table_with_add_actions

    from medallion.storage.tables import commit_properties, existing_table

    props = commit_properties(target.run_id, target.metadata, target.app_transaction)
    if table is None:
        table = existing_table(path)
    props.custom_metadata["operationMetrics"] = operation_metrics(
        actions, copied_rows, _removed_rows(table, actions)
    )
    try:
        if table is None:
            create_table_with_add_actions(
                str(path),
                Schema.from_arrow(schema),
                actions,
                mode="overwrite",
                partition_by=target.partition_by or None,
                description=target.description,
                configuration=target.configuration,
                commit_properties=props,
            )
            return 0
        table.create_write_transaction(
            actions,
            mode=target.mode,
            schema=schema,
            partition_by=target.partition_by or None,
            commit_properties=props,
        )
    except Exception as e:
        from medallion.errors import without_backtrace

        raise StorageError(
            f"the files Spark wrote could not be committed: {without_backtrace(str(e))}",
            file=path,
        ) from None
    table.update_incremental()  # the version committed, even if delta-rs retried it
    return table.version()


def operation_metrics(
    actions: list[Any], copied_rows: int = 0, removed_rows: int | None = None
) -> dict[str, int]:
    """The commit's metrics under delta-rs's names, from its actions: rows added (the add
    actions' statistics, less `copied_rows`), rows copied, files added and removed, and, when
    `removed_rows` (the rows of the removed files) is known, rows removed (less the copied
    ones): what `medallion history` shows of a rewrite."""
    from deltalake.transaction import AddAction

    adds = [a for a in actions if isinstance(a, AddAction)]
    rows = sum(json.loads(a.stats)["numRecords"] for a in adds)
    metrics = {
        "num_added_files": len(adds),
        "num_removed_files": len(actions) - len(adds),
        "num_added_rows": rows - copied_rows,
        "num_copied_rows": copied_rows,
    }
    if removed_rows is not None and len(actions) > len(adds):
        metrics["num_removed_rows"] = removed_rows - copied_rows
    return metrics


def _removed_rows(table: DeltaTable | None, actions: list[Any]) -> int | None:
    """The rows of the files the remove actions among `actions` name, from their statistics in
    `table`'s version; None when a file has none (or is not in that version)."""
    from deltalake.transaction import RemoveAction

    from medallion.storage.snapshot import unquote
    from medallion.storage.tables import add_actions

    removed = {a.path for a in actions if isinstance(a, RemoveAction)}
    if table is None or not removed:
        return None
    log = add_actions(table)
    counts = dict(
        zip(
            (unquote(p) for p in log.column("path").to_pylist()),
            log.column("num_records").to_pylist(),
            strict=True,
        )
    )
    found = [counts.get(p) for p in removed]
    if any(n is None for n in found):
        return None
    return sum(n for n in found if n is not None)
