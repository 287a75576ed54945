"""The Spark engine: the lakehouse's tables as temporary views of a SparkSession, models run as
Spark SQL, results out as Arrow.

A Delta table version is the Parquet files its log lists (`storage.snapshot`), read by Spark with
the table's folder as `basePath` (partition values come back from the folder names) and the
table's schema; deltalake stays the only Delta implementation — Spark never reads the log, and
tables written by medallion on Spark are Parquet files Spark wrote, committed by delta-rs
(`engine/spark/commit.py`). A version whose protocol needs a reader feature a file list cannot
honour (deletion vectors, column mapping: tables written by other tools) is refused.

Relations are Spark DataFrames: lazy, planned when made, run when read. Results the driver needs
(counts, samples, check results, file names) leave as Arrow (`toArrow`); a model's rows are
written by the executors (`write_table`: commit.py, rewrite.py), except when an append adds
columns or a table changes its partitioning (streamed through the driver's writer).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from medallion.engine.base import SRC
from medallion.engine.spark.sql import (
    DIALECT,
    by_name_unions,
    refuse_intervals,
    to_spark,
    view_name,
)
from medallion.errors import ExecutionError, StorageError, first_line

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    import sqlglot.expressions as exp
    from pyspark.sql import DataFrame, SparkSession

    from medallion.engine.base import WriteTarget
    from medallion.models.loader import Model
    from medallion.storage.catalog import Catalog
    from medallion.storage.snapshot import FileSet

BATCH_ROWS = 128 * 1024
_names = itertools.count()


class _Views:
    """The temporary views of one engine's SparkSession: which name each table reads as."""

    def __init__(self, spark: SparkSession, root: Any = None) -> None:
        self.spark = spark
        #: the lakehouse's folder (a path or URI): its data files are never changed in place
        self.root = root
        #: fqn (lower-case) or `__src` -> temporary view name
        self.names: dict[str, str] = {}
        self.made: set[str] = set()
        self.confined = False
        self.lock = threading.Lock()

    def new(self, prefix: str) -> str:
        return f"__medallion_{prefix}_{next(_names)}"

    def put(self, name: str, df: DataFrame) -> None:
        df.createOrReplaceTempView(name)
        self.made.add(name)

    def sql(self, query: str | exp.Expression, extra: dict[str, str] | None = None) -> DataFrame:
        names = {**self.names, **(extra or {})}
        if not isinstance(query, str) and by_name_unions(query):
            query = self._unions_by_name(query, names)
        df = self.spark.sql(to_spark(query, names, confined=self.confined, columns=self.columns))
        refuse_intervals(query, {f.name: f.dataType for f in df.schema.fields})
        return df

    def columns(self, view: str) -> dict[str, exp.DataType] | None:
        """The columns of a view and their types (as SQLGlot reads Spark's names for them; a
        type it does not read is UNKNOWN); None if the view cannot be read (Spark's error on
        the query says why)."""
        import sqlglot.expressions as exp

        try:
            fields = self.spark.table(view).schema.fields
        except Exception:
            return None
        out = {}
        for f in fields:
            out[f.name.lower()] = exp.DataType(this=exp.DataType.Type.UNKNOWN)
            with suppress(Exception):
                out[f.name.lower()] = exp.DataType.build(f.dataType.simpleString(), dialect="spark")
        return out

    def _unions_by_name(self, query: exp.Expression, names: dict[str, str]) -> exp.Expression:
        """`query` with each `UNION [ALL] BY NAME` (innermost first) replaced by a view of
        the two sides' DataFrames joined by `unionByName` (missing columns NULL, as DuckDB)."""
        import sqlglot.expressions as exp

        from medallion.sqltree import select_star, table

        query = query.copy()
        for union in by_name_unions(query):
            sides = []
            for side in (union.this, union.expression):
                sides.append(
                    self.spark.sql(
                        to_spark(side, names, confined=self.confined, columns=self.columns)
                    )
                )
            df = sides[0].unionByName(sides[1], allowMissingColumns=True)
            if union.args.get("distinct"):
                df = df.distinct()
            name = self.new("union")
            self.put(name, df)
            names[name.lower()] = name
            replacement = select_star(table(name))
            if isinstance(union.parent, exp.Subquery | exp.CTE) or union.parent is None:
                union.replace(replacement)
            else:
                union.replace(replacement.subquery())
            if union is query:
                query = replacement
        return query

    def drop(self) -> None:
        for name in self.made:
            self.spark.catalog.dropTempView(name)
        self.made.clear()


class Session:
    """Runs queries on the engine's SparkSession (Spark runs queries of several threads at
    once: every session of an engine is this one, over the same views)."""

    dialect = DIALECT
    writes_files = True

    def __init__(self, views: _Views, tmp_dir: Path) -> None:
        self.views = views
        self.spark = views.spark
        self.tmp_dir = tmp_dir

    # -- relations ------------------------------------------------------------------------

    def relation(self, query: str | exp.Expression) -> DataFrame:
        """A query (DuckDB SQL as written, or a tree) planned by Spark, not run."""
        return self.views.sql(query)

    def over(self, rel: DataFrame, query: exp.Expression) -> DataFrame:
        """`query` run over `rel`, which it reads as the table `__src`."""
        name = self.views.new("src")
        self.views.put(name, rel)
        return self.views.sql(_star_listed(query, rel.columns), {SRC: name})

    def arrow(self, data: pa.Table | pa.RecordBatchReader) -> DataFrame:
        """A relation over Arrow data (sent to Spark: small data, such as a check's rows)."""
        import pyarrow as pa

        table = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
        return _from_arrow(self.spark, table)

    def name(self, rel: DataFrame) -> exp.Table:
        from medallion.sqltree import table

        name = self.views.new("view")
        self.views.put(name, rel)
        self.views.names[name.lower()] = name
        return table(name)

    def register(self, data: pa.Table | pa.RecordBatchReader) -> exp.Table:
        return self.name(self.arrow(data))

    def files(self, files: FileSet) -> DataFrame:
        """The rows of data files, in their table's columns and types."""
        return read_files(self.spark, files)

    def file_rows(self, files: FileSet, columns: list[str]) -> DataFrame | None:
        """`columns` of every row of `files` and the data file holding it (`filename`)."""
        import pyspark.sql.functions as F

        if not files.files:
            return None
        df = read_files(self.spark, files)
        return df.select(*[F.col(f"`{c}`") for c in columns], _file_name().alias("filename"))

    @contextmanager
    def staged(
        self, data: DataFrame | pa.RecordBatchReader, *, whole: bool = False
    ) -> Iterator[DataFrame]:
        """`data` as rows every query of the block reads alike: checkpointed on the executors
        (computed once), unless reading it again gives the same rows at the cost a checkpoint's
        read would have (`stable`: a narrow deterministic plan over the lakehouse's files) and
        not `whole`. Not checkpointed, a query computes only the values it reads: a value that
        fails to compute fails the query that reads it."""
        df = data if hasattr(data, "sparkSession") else self.arrow(data)
        if not whole and stable(df, self.views.root):
            yield df
            return
        checkpointed = df.localCheckpoint(eager=True)
        try:
            yield checkpointed
        finally:
            # the checkpoint's blocks are the block's, as DuckDB drops its temporary table:
            # left to Spark's cleaner they stay (memory, then local disk) until the driver's JVM
            # happens to collect the RDD — in a scheduler or server process, run after run
            checkpointed._jdf.queryExecution().analyzed().rdd().unpersist(False)

    # -- reading ---------------------------------------------------------------------------

    def columns(self, rel: DataFrame) -> list[str]:
        return list(rel.columns)

    def schema(self, rel: DataFrame) -> pa.Schema:
        """The Arrow schema the relation's rows would have (nothing is run)."""
        return arrow_schema(rel)

    def count(self, rel: DataFrame) -> int:
        return int(rel.count())

    def fetch(self, rel: DataFrame) -> pa.Table:
        """The whole (small) result as an Arrow table."""
        return _to_arrow(rel)

    def reader(self, rel: DataFrame, batch_rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
        """The result as batches, collected to the driver as Arrow (bounded by the driver's
        memory and `spark.driver.maxResultSize`). A table's rows written by Spark itself
        (`write_table`) never pass through here."""
        return _to_arrow(rel).to_reader(max_chunksize=batch_rows)

    def delta_safe(self, rel: DataFrame) -> DataFrame:
        """Cast the columns Delta cannot store: Spark's VOID (an untyped NULL) as text."""
        from pyspark.sql.types import NullType, StringType

        if not any(isinstance(f.dataType, NullType) for f in rel.schema.fields):
            return rel
        import pyspark.sql.functions as F

        return rel.select(
            *[
                F.col(f"`{f.name}`").cast(StringType()).alias(f.name)
                if isinstance(f.dataType, NullType)
                else F.col(f"`{f.name}`")
                for f in rel.schema.fields
            ]
        )

    def model_error(self, error: str | BaseException, model: Model) -> ExecutionError:
        """A Spark error of a model as an ExecutionError naming the model's file."""
        text = error if isinstance(error, str) else _spark_message(error)
        return ExecutionError(
            f"{model.fqn} failed on Spark: {text}",
            file=model.path,
            line=None
            if isinstance(error, str)
            else getattr(error, "line", None) or _model_line(error, text, model.text),
            model=model.fqn,
            hint=getattr(error, "hint", None)
            or "`medallion compile --dialect spark` shows the SQL Spark ran",
        )

    def write_table(self, rel: DataFrame, target: WriteTarget) -> tuple[int, int]:
        """The relation's rows written by Spark as Parquet files into the table's folder and
        committed by delta-rs in one commit (see commit.py; an append, replacing rows or not:
        rewrite.py)."""
        from medallion.engine.spark import rewrite
        from medallion.engine.spark.commit import write_and_commit
        from medallion.storage.tables import existing_table

        rel = self.delta_safe(rel)
        if target.write_rel is not None:
            return target.write_rel(self, rel)
        table = existing_table(target.path)
        appended = table is not None and target.mode == "append"
        if appended and not rewrite.same_columns(table, rel):
            rel = rewrite.conform(table, rel)
        if table is not None and (
            list(table.metadata().partition_columns) != list(target.partition_by or [])
            or (appended and not rewrite.same_columns(table, rel))
        ):
            # delta-rs keeps a table's partition columns on a commit of add actions (a column
            # moved in or out of the partitioning would read NULL), and its schema on an
            # append: a changed partition_by, or an append with new columns or types, is
            # written through the driver's streaming writer, which rewrites the metadata
            from medallion.faults import fault_point
            from medallion.storage.tables import RowCounter

            counter = RowCounter()
            stream = counter.wrap(
                self.reader(rel),
                lambda: fault_point(target.fault),
                lambda: target.check(counter.rows),
            )
            return target.stream(stream), counter.rows
        if appended:
            return rewrite.append(self, rel, target, table)
        return write_and_commit(self.spark, rel, target)

    def close(self) -> None:
        return None


class SparkEngine(Session):
    """The engine of a command: a SparkSession whose temporary views are the lakehouse's
    tables."""

    def __init__(self, catalog: Catalog, spark: SparkSession, tmp_dir: Path) -> None:
        super().__init__(_Views(spark, catalog.root), tmp_dir)
        self.catalog = catalog
        #: fqn -> (the DataFrame its view reads, version) of attached tables
        self.attached: dict[str, tuple[DataFrame, int | None]] = {}
        self.views_sql: set[str] = set()
        self.rows: dict[str, int] = {}
        self.schemas: dict[str, pa.Schema] = {}
        self._driver: Any = None

    # -- sessions ----------------------------------------------------------------------------

    def side(self) -> Session:
        return Session(self.views, self.tmp_dir)

    def scratch(self) -> Session:
        return Session(self.views, self.tmp_dir)

    def result_relation(self, value: Any) -> DataFrame:
        """A Python model's return value: a Spark DataFrame, or Arrow data (a table, batch,
        reader, anything with an Arrow stream) sent to Spark; TypeError naming the type."""
        import pyarrow as pa

        if hasattr(value, "sparkSession") and hasattr(value, "schema"):
            return value
        if isinstance(value, pa.RecordBatch):
            value = pa.Table.from_batches([value])
        elif isinstance(value, pa.RecordBatchReader):
            value = value.read_all()
        elif not isinstance(value, pa.Table) and hasattr(value, "__arrow_c_stream__"):
            value = pa.RecordBatchReader.from_stream(value).read_all()
        if not isinstance(value, pa.Table):
            raise TypeError(type(value).__name__)
        return _from_arrow(self.spark, value)

    def native(self) -> SparkSession:
        """The SparkSession (for Python models' `ctx.spark`; not governed by read policies)."""
        return self.spark

    def file_landing(self) -> Any:
        """Landing files read and written by Spark's executors (`engine/spark/files.py`)."""
        from medallion.engine.spark.files import SparkFiles

        return SparkFiles(self.spark)

    def files_connection(self) -> Any:
        """A DuckDB connection on the driver: it plans the reads of landing files (headers,
        types sniffed from one file, each JSON file's types and one parse of it), reads the
        files Spark does not (a file with rows Spark could not parse, see
        `ingest/files/spark.py`) and the database sources."""
        if self._driver is None:
            from medallion.engine.duckdb import DuckDBEngine

            self._driver = DuckDBEngine(self.catalog, temp_dir=self.tmp_dir)
        return self._driver.con

    # -- making tables visible (only medallion.engine.attach calls these) -------------------

    def is_attached(self, fqn: str) -> bool:
        return fqn in self.attached or fqn in self.views_sql

    def version_of(self, fqn: str) -> int | None:
        return self.attached[fqn][1]

    def rows_of(self, fqn: str) -> int:
        return self.rows.get(fqn, 0)

    def schema_of(self, fqn: str) -> pa.Schema | None:
        return self.schemas.get(fqn)

    def attached_versions(self) -> dict[str, int | None]:
        return {fqn: version for fqn, (_, version) in self.attached.items()}

    def attach_table(self, fqn: str, version: int | None = None) -> int:
        """Expose the Delta table `fqn` at `version` (default latest) as its view."""
        import os

        from medallion.storage import snapshot

        path = self.catalog.path(fqn)
        try:
            snap = snapshot.snapshot(path, version)
        except StorageError:
            raise
        except Exception as e:
            features = _unhonoured_features(path, version)
            if features:  # deltalake cannot read them either: no engine of medallion can
                raise _refused(fqn, path, features, elsewhere=False) from None
            raise StorageError(f"cannot read table {fqn}: {e}", file=path) from None
        if snap.files.fallback is not None:
            features = _unhonoured_features(path, version) or list(_FEATURES)
            raise _refused(fqn, path, features, elsewhere=True, version=snap.version)
        missing = [f for f in snap.files.paths if not os.path.exists(f)]
        if missing:
            raise StorageError(
                f"{len(missing)} of the data files of {fqn} version {snap.version} were removed "
                "by vacuum (or by hand)",
                file=path,
                hint="time travel reaches back as far as the layer's retention "
                "(medallion.yml `retention:`)",
            )
        df = read_files(self.spark, snap.files)
        self._point(fqn, df)
        self.attached[fqn] = (df, snap.version)
        self.rows[fqn] = snap.rows
        self.schemas[fqn] = snap.schema
        return snap.version

    def attach_empty(self, fqn: str, schema: pa.Schema) -> None:
        self._point(fqn, _from_arrow(self.spark, schema.empty_table()))
        self.attached[fqn] = (self.views.spark.table(view_name(fqn)), None)
        self.rows[fqn] = 0
        self.schemas[fqn] = schema

    def attach_data(self, fqn: str, data: pa.Table) -> None:
        df = _from_arrow(self.spark, data)
        self._point(fqn, df)
        self.attached[fqn] = (df, None)
        self.rows[fqn] = data.num_rows
        self.schemas[fqn] = data.schema

    def attach_view(self, fqn: str, sql: str) -> None:
        name = view_name(fqn)
        try:
            body = to_spark(sql, self.views.names)
            self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{name}` AS {body}")
        except Exception as e:
            raise ExecutionError(
                f"view {fqn} does not compile on Spark: {_spark_message(e)}", model=fqn
            ) from None
        self.views.made.add(name)
        self.views.names[fqn.lower()] = name
        self.views_sql.add(fqn)

    def _point(self, fqn: str, df: DataFrame) -> None:
        name = view_name(fqn)
        self.views.put(name, df)
        self.views.names[fqn.lower()] = name

    def restrict(self, fqn: str, query: exp.Select) -> None:
        """`fqn` reads `query` over what is attached (as __src): masks and a row filter."""
        base = self.views.new("base")
        self.views.put(base, self.spark.table(view_name(fqn)))
        self._point(fqn, self.views.sql(query, {SRC: base}))

    def confine(self) -> None:
        """From now on queries read the attached tables and views only: a table name that is
        not one of them (a file path such as parquet.`/etc/x`, a table function) is refused
        when the query is translated. Spark's executors can still read what the cluster's user
        may read: this is a check of the SQL, not a sandbox."""
        self.views.confined = True

    @contextmanager
    def swapped(
        self, fqn: str, sources: list[tuple[FileSet, tuple[str, ...] | None]]
    ) -> Iterator[None]:
        """Within the block `fqn` reads only `sources` (files, change types) instead of the
        attached table (see the DuckDB engine)."""
        import pyspark.sql.functions as F

        from medallion.storage import tables

        frames = []
        for files, change_types in sources:
            df = read_files(self.spark, files)
            if change_types:
                df = df.where(F.col("_change_type").isin(list(change_types))).drop("_change_type")
            frames.append(df)
        if not frames:
            schema = tables.schema(self.catalog.path(fqn))
            frames.append(_from_arrow(self.spark, schema.empty_table()))
        union = frames[0]
        for df in frames[1:]:
            union = union.unionByName(df, allowMissingColumns=True)
        self._point(fqn, union)
        try:
            yield
        finally:
            self._point(fqn, self.attached[fqn][0])

    def interrupt(self) -> None:
        self.spark.sparkContext.cancelAllJobs()

    def close(self) -> None:
        self.views.drop()
        if self._driver is not None:
            self._driver.close()


#: Delta reader features a read of a version's file list cannot honour -> their names in words
_FEATURES = {"deletionVectors": "deletion vectors", "columnMapping": "column mapping"}


def _unhonoured_features(path: Path, version: int | None) -> list[str]:
    """The reader features of the table's protocol (at `version`) that a read of its Parquet
    files cannot honour: deleted rows would come back, renamed columns read NULL."""
    from medallion.storage.tables import open_table

    try:
        found = open_table(path, version).protocol().reader_features or []
    except Exception:
        return []
    return [f for f in _FEATURES if f in found]


def _refused(
    fqn: str, path: Path, features: list[str], *, elsewhere: bool, version: int | None = None
) -> StorageError:
    """The error of a table whose protocol needs `features` (a table written by another tool):
    what it needs, and how to make it readable. `elsewhere`: deltalake reads it (so medallion
    on DuckDB does)."""
    words = " and ".join(_FEATURES[f] for f in features)
    fixes = []
    if "deletionVectors" in features:
        fixes.append(
            "purge its deletion vectors in the tool that wrote it (Spark/Databricks: REORG "
            "TABLE ... APPLY (PURGE), then ALTER TABLE ... SET TBLPROPERTIES "
            "('delta.enableDeletionVectors' = false))"
        )
    if "columnMapping" in features:
        fixes.append("rewrite it without column mapping (a CREATE TABLE ... AS SELECT copy)")
    if elsewhere:
        fixes.append("or run on DuckDB: --engine duckdb")
    else:
        fixes.append("or, if medallion builds it, rebuild it: medallion run --full-refresh")
    at = f" version {version}" if version is not None else ""
    reader = "a read of its file list" if elsewhere else "medallion's Delta reader (deltalake)"
    return StorageError(
        f"{fqn}{at} cannot be read on Spark: its Delta protocol needs {words} (written by "
        f"another tool), which {reader} cannot honour",
        file=path,
        hint="; ".join(fixes),
    )


def _star_listed(query: exp.Expression, columns: list[str]) -> exp.Expression:
    """A `SELECT * ... QUALIFY` with the star spelled out as `columns`: Spark has no QUALIFY,
    and SQLGlot's translation (a subquery with the window as a column `_w`) keeps that column
    in a star."""
    import sqlglot.expressions as exp

    from medallion.sqltree import col

    if not isinstance(query, exp.Select) or query.args.get("qualify") is None:
        return query
    if not (len(query.expressions) == 1 and isinstance(query.expressions[0], exp.Star)):
        return query
    out = query.copy()
    out.set("expressions", [col(c) for c in columns])
    return out


# -- stable plans -------------------------------------------------------------------------------

#: logical operators that work row by row (no shuffle): a plan of them over files is read again
#: at the cost of one scan, as a checkpoint of its rows would be
_NARROW = {"Project", "Filter", "Union", "SubqueryAlias", "ResolvedHint", "Generate"}
#: functions whose value is the time of the query: deterministic to Spark within one query,
#: another value in the next one
_NOW = re.compile(
    r"\b(current_timestamp|current_date|curdate|current_time|now|localtimestamp"
    r"|unix_timestamp|current_timezone)\(",
    re.IGNORECASE,
)


def stable(df: DataFrame, root: Any) -> bool:
    """Whether every read of `df` gives the same rows: a deterministic plan (no random values,
    no time of the query) of narrow operators over data files of the lakehouse under `root`
    (Delta data files are written once, never changed; a version's list is fixed when its
    table is attached) or rows already checkpointed on the executors. Anything else (a join,
    an aggregate, a window, a limit, a Python UDF, data from the driver, files elsewhere) is
    not: it is computed once and checkpointed."""
    if root is None:
        return False
    try:
        qe = df._jdf.queryExecution()
        analyzed = qe.analyzed()
        if not analyzed.deterministic():
            return False
        # the time of the query, node by node: every expression printed (a plan's string form
        # shortens lists past spark.sql.debug.maxToStringFields, so the expectations after a
        # model's columns would not show); a subquery's plan is not among its node's
        # expressions: a plan with one is not walked, it is checkpointed
        todo = [analyzed]
        while todo:
            node = todo.pop()
            if not node.subqueries().isEmpty() or _NOW.search(node.expressions().mkString("\n")):
                return False
            children = node.children()
            todo.extend(children.apply(i) for i in range(children.size()))
        todo = [qe.optimizedPlan()]
        while todo:
            node = todo.pop()
            kind = node.getClass().getSimpleName()
            if kind in _NARROW:
                children = node.children()
                todo.extend(children.apply(i) for i in range(children.size()))
            elif kind == "LogicalRelation":
                relation = node.relation()
                if relation.getClass().getSimpleName() != "HadoopFsRelation":
                    return False
                if relation.fileFormat().getClass().getSimpleName() != "ParquetFileFormat":
                    return False
            elif kind == "LogicalRDD":
                if not node.rdd().isCheckpointed():
                    return False
            elif kind not in ("LocalRelation", "OneRowRelation"):
                return False
    except Exception:  # a plan this walk does not know: checkpointed, as always
        return False
    return all(_within(uri, root) for uri in df.inputFiles())


def _within(uri: str, root: Any) -> bool:
    """Whether the file `uri` (as Spark names it) is inside the folder `root`."""
    from urllib.parse import unquote, urlparse

    text = str(root).rstrip("/")
    if "://" in text:
        return uri.startswith(text + "/")
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return False
    import os

    path = os.path.realpath(unquote(parsed.path))
    return path.startswith(os.path.realpath(text) + os.sep)


# -- reading files --------------------------------------------------------------------------------


def read_files(spark: SparkSession, files: FileSet) -> DataFrame:
    """Data files as one DataFrame in the table's schema (column order and types). Partition
    columns come from the folder names (`col=value`, the last folders of each file's path), or
    from the Delta log where those do not name the values."""
    import pyspark.sql.functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if files.fallback is not None:
        raise StorageError(
            "a table with deletion vectors or column mapping cannot be read on Spark",
            hint="run on DuckDB: --engine duckdb",
        )
    schema = files.schema
    if not files.files:
        return _from_arrow(spark, schema.empty_table())
    spark_schema = from_arrow_schema(schema, prefer_timestamp_ntz=True)
    order = [F.col(f"`{f.name}`") for f in schema]
    parts = files.partition_columns
    if not parts:
        return spark.read.schema(spark_schema).parquet(*files.paths).select(*order)
    bases = _partition_bases(files)
    if bases is not None:
        # one read per folder the partition folders are in (Spark's writes each have their
        # own; partition discovery takes one base path)
        out = None
        for base, paths in bases.items():
            reader = spark.read.schema(spark_schema).option("basePath", base)
            df = reader.parquet(*paths).select(*order)
            out = df if out is None else out.unionByName(df)
        return out
    # folder names that are not the values (a digest where a value needs escaping): the
    # values come from the Delta log, one read per partition
    data_schema = from_arrow_schema(pa_schema_without(schema, parts), prefer_timestamp_ntz=True)
    groups: dict[tuple[str | None, ...], list[str]] = {}
    for path, values in files.files:
        groups.setdefault(tuple(values.get(c) for c in parts), []).append(path)
    out = None
    for values, paths in groups.items():
        df = spark.read.schema(data_schema).parquet(*paths)
        for c, v in zip(parts, values, strict=True):
            df = df.withColumn(c, F.lit(v).cast(spark_schema[c].dataType))
        df = df.select(*order)
        out = df if out is None else out.unionByName(df)
    return out


def _partition_bases(files: FileSet) -> dict[str, list[str]] | None:
    """The files by the folder their `col=value` folders are in, when every file's partition
    folders (the last ones of its path, one per partition column) name its partition values as
    the log has them (what Spark's partition discovery reads); else None."""
    import os
    from urllib.parse import unquote

    parts = files.partition_columns
    bases: dict[str, list[str]] = {}
    for path, values in files.files:
        folder = os.path.dirname(path)
        found: dict[str, str] = {}
        for _ in parts:
            folder, name = os.path.split(folder)
            key, eq, value = name.partition("=")
            if not eq:
                return None
            found[unquote(key)] = value
        for c in parts:
            text = unquote(found.get(c, "\0"))
            if (None if text == "__HIVE_DEFAULT_PARTITION__" else text) != values.get(c):
                return None
        bases.setdefault(folder, []).append(path)
    return bases


def pa_schema_without(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([f for f in schema if f.name not in columns])


def _file_name() -> Any:
    import pyspark.sql.functions as F

    return F.input_file_name()


# -- Arrow ----------------------------------------------------------------------------------------


def arrow_schema(df: DataFrame) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema, timezone="UTC")


def _to_arrow(df: DataFrame) -> pa.Table:
    """The rows as Arrow, in the Arrow types of the DataFrame's schema."""
    table = df.toArrow()
    schema = arrow_schema(df)
    return table if table.schema.equals(schema) else table.cast(schema)


def _from_arrow(spark: SparkSession, table: pa.Table) -> DataFrame:
    """Arrow data as a DataFrame (its schema kept, empty or not)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    plain = _plain(table.schema)
    schema = from_arrow_schema(plain, prefer_timestamp_ntz=True)
    # Spark stops reading an Arrow stream at its first empty batch: the rows after it were
    # lost (a stream filtered by expectations has empty batches)
    batches = [b for b in table.cast(plain).to_batches() if b.num_rows]
    if not batches:
        # no rows: pyspark cannot take an Arrow table of no chunks with a nested column
        # (STRUCT, LIST, MAP), nor does it need one
        return spark.createDataFrame([], schema=schema)
    return spark.createDataFrame(pa.Table.from_batches(batches, plain), schema=schema)


def _plain(schema: pa.Schema) -> pa.Schema:
    """`schema` with the Arrow types Spark does not take (views, large, dictionaries) as the
    plain ones."""
    import pyarrow as pa

    def plain(t: pa.DataType) -> pa.DataType:
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_dictionary(t):
            return plain(t.value_type)
        if pa.types.is_timestamp(t) and t.unit != "us":
            return pa.timestamp("us", t.tz)
        if pa.types.is_large_list(t) or pa.types.is_list_view(t):
            return pa.list_(plain(t.value_type))
        if pa.types.is_list(t):
            return pa.list_(plain(t.value_type))
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, plain(f.type), f.nullable) for f in t])
        return t

    return pa.schema([pa.field(f.name, plain(f.type), f.nullable) for f in schema])


def jvm_cause(error: BaseException) -> str | None:
    """The first line of the innermost cause of an error raised in the JVM (py4j's own message,
    "An error occurred while calling ...", says nothing); None for another error or when the
    JVM is gone."""
    java = getattr(error, "java_exception", None)
    if java is None:
        return None
    try:
        cause = java
        while cause.getCause() is not None:
            cause = cause.getCause()
        return first_line(Exception(str(cause.toString())))
    except Exception:  # the JVM is gone
        return None


def _spark_message(error: BaseException) -> str:
    """The useful part of a Spark error: its first line, without the JVM stack; for an error
    of the JVM itself (py4j's "An error occurred while calling o497.getResult"), the message
    of its innermost cause."""
    cause = jvm_cause(error)
    if cause is not None:
        return cause
    text = getattr(error, "getMessage", None)
    message = text() if callable(text) else str(error)
    return first_line(Exception(message)) if message else first_line(error)


#: the name Spark's UNRESOLVED_COLUMN / UNRESOLVED_ROUTINE errors quote
_UNRESOLVED = re.compile(r"\[UNRESOLVED_\w+[^\]]*\].*? name `([^`]+)`")


def _model_line(error: BaseException, message: str, text: str) -> int | None:
    """The line of the model's `text` an error of Spark's analyser is about: where the SQL
    fragment Spark names (its query context, in the SQL Spark ran) is written, compared token
    by token ignoring case, spaces and quotes; for an unknown name, where that name first
    appears as a word. None when neither is found (a query medallion wrote around the
    model's)."""
    fragments = []
    with suppress(Exception):  # not an error of Spark's SQL, or no context
        fragments = [c.fragment() for c in error.getQueryContext()]  # type: ignore[attr-defined]
    for fragment in fragments:
        tokens = re.findall(r"\w+|[^\w\s`\"]", fragment or "")
        if len(tokens) < 2:
            continue
        pattern = r"[\s`\"]*".join(re.escape(t) for t in tokens)
        found = re.search(pattern, text, re.IGNORECASE)
        if found is not None:
            return text.count("\n", 0, found.start()) + 1
    unresolved = _UNRESOLVED.search(message)
    if unresolved is not None:
        word = unresolved.group(1).split(".")[-1]
        found = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", text, re.IGNORECASE)
        if found is not None:
            return text.count("\n", 0, found.start()) + 1
    return None
