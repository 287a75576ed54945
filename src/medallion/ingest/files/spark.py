"""A batch of landing files read and written by Spark's executors (`engine: spark`), with the
same rows, types, audit columns, rejects and exactly-once identity as the DuckDB reader.

What stays medallion's, on the driver: the file list and fingerprints (the caller's), the
columns and their types (the format's planner, `PLANNERS`: CSV headers, types declared, in
bronze already or sniffed from one file), the per-file `_ingested_at` stamps (`file_stamps`).
Spark reads every file of the batch: CSV fields as text in PERMISSIVE mode with a
corrupt-record column, each converted to its column's type with a strict check
(`engine.spark.files.checked`), Parquet in the planned columns.

A file with any row Spark marks — a line its CSV parser could not split into the columns (too
many or too few fields), a value whose conversion it does not vouch for ('1.5' in a BIGINT
column, '31/02/2024', invalid text in the encoding, a quote inside a field) — is read by the
DuckDB reader on the driver instead, whole: its good rows and its rejects (file, line, raw
text, reason) are exactly those of an ingest on DuckDB, and go to the bronze quarantine the
same way. So Spark's corrupt-record column decides which files are rescued on the driver; the
quarantine rows never depend on the engine. The rows of the other files never leave the
executors: they are written as Parquet into the table's folder, beside the driver's rows, and
committed in one commit with the batch's application transaction. A clean batch is read once:
the write itself observes which files have marked rows, and only when some do is it written
again without them (the first write removed before any commit).

JSON (newline-delimited and array files) is planned by DuckDB per file as its reader plans it
and read once by DuckDB on the driver, keeping nothing (a count of each column: whether the
file parses and converts, how many records it holds); Spark reads each field as the text in
the file and converts it with the same strict check (`_json`, `_json_value`). A file with a
line that does not parse, one DuckDB's read fails on, or a column DuckDB reads as a type Spark
does not reproduce, is read by DuckDB on the driver, decided before reading; a file Spark reads
as another number of rows than DuckDB counts is rescued as a file with a marked row is.

Decided per batch before Spark reads anything (`land` returns None: the caller reads the batch
with DuckDB on the driver as on engine duckdb): a JSON batch with a nested column (STRUCT,
LIST), values of mixed kinds (DuckDB's JSON type) or all of whose files go to the driver;
files on an object store;
`on_rewrite: replace` batches that replace rows (a commit with a predicate); a CSV source with
`skip_rows`, `encoding: utf-16`, or a column type or date/timestamp format Spark does not read
as DuckDB does (TIMESTAMPTZ, FLOAT, unsigned integers, formats with %b or %f, ...); Parquet
columns whose type differs between files or from bronze's, or has no Spark equivalent; a
`partition_by` different from the table's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.engine.base import WriteTarget
from medallion.errors import SourceError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, Observation

    from medallion.config.schema import FileSource
    from medallion.engine.spark.files import SparkFiles
    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import Connection, FileReader, Plan, Reject

#: the formats Spark reads
FORMATS = ("csv", "json", "parquet")
_BAD = "__medallion_bad"
_REL = "__medallion_rel"
_AT = "__medallion_at"


@dataclass
class Landed:
    version: int
    rows: int
    rejects: list[Reject] = field(default_factory=list)
    #: files read by DuckDB on the driver (a row Spark marked)
    on_driver: list[str] = field(default_factory=list)


def land(
    landing: SparkFiles,
    con: Connection,
    source: FileSource,
    name: str,
    files: list[SourceFile],
    *,
    known_types: dict[str, str],
    ingested_at: datetime,
    run_id: str,
    table_path: Path,
    fqn: str,
    full_refresh: bool,
    metadata: dict[str, Any],
    app_transaction: tuple[str, int],
    check: Callable[[int], None] | None = None,
) -> Landed | None:
    """The batch `files` read by Spark and committed to the bronze table at `table_path`; None
    when the batch is one Spark does not read as DuckDB does (nothing was read or written)."""
    from medallion.ingest.files.reader import FileReader, file_stamps

    reader = FileReader(con, source, name, known_types=known_types)
    batch = _prepare(landing, reader, files)
    if batch is None:
        return None
    read_size = sum(f.size for f in files if str(f.path) in batch.planned)
    batch.df = landing.packed(batch.df, read_size)
    stamps = file_stamps(files, ingested_at)
    try:
        return _run(
            landing, reader, files, batch, stamps, ingested_at, run_id, table_path, fqn,
            full_refresh, metadata, app_transaction, check,
        )  # fmt: skip
    except SourceError:
        raise
    except Exception as e:
        if "pyspark" not in type(e).__module__ and "py4j" not in type(e).__module__:
            raise
        raise SourceError(
            f"Spark could not read or write the files of {name}: {landing.message(e)}",
            source=name,
            hint="check the file format options of this source in medallion.yml",
        ) from None


@dataclass
class _Batch:
    """A batch as Spark reads it: `df` has the unified columns, FILE and _BAD."""

    df: DataFrame
    #: column -> DuckDB type, in the order of the DuckDB reader's stream
    unified: dict[str, str]
    #: the paths Spark reads (an empty CSV file has no plan: no rows)
    planned: set[str]
    #: paths read by DuckDB on the driver, decided before Spark reads anything
    driver: list[str] = field(default_factory=list)
    #: path -> the rows DuckDB reads from it (JSON: Spark must read as many)
    rows: dict[str, int] = field(default_factory=dict)
    #: the types the driver's reader of a rescued file is given as known (None: `unified`),
    #: with the batch's `unified` columns forced on its rows
    rescue_known: dict[str, str] | None = None


def _prepare(landing: SparkFiles, reader: FileReader, files: list[SourceFile]) -> _Batch | None:
    """The batch as Spark reads it; None where Spark does not read it as DuckDB does. Plans
    the reads as the DuckDB reader does (headers, sniffed or detected types); runs nothing on
    Spark."""
    source = reader.source
    fmt = source.file_format
    if fmt not in FORMATS or any(f.location is not None for f in files):
        return None
    if fmt == "json":
        return _json(landing, reader, files)
    return _csv_or_parquet(landing, reader, files)


def _csv_or_parquet(
    landing: SparkFiles, reader: FileReader, files: list[SourceFile]
) -> _Batch | None:
    import pyspark.sql.functions as F

    from medallion.engine.spark.files import ENCODINGS, FILE, spark_type
    from medallion.ingest.files import AUDIT_COLUMNS, PLANNERS
    from medallion.ingest.files.reader import ReadResult

    source = reader.source
    fmt = source.file_format
    if fmt == "csv" and (source.skip_rows or (source.encoding or "utf-8") not in ENCODINGS):
        return None
    planned = ReadResult(reader=None)  # type: ignore[arg-type]
    try:
        plans = PLANNERS[fmt](reader, files, planned)
    except SourceError:
        return None  # the DuckDB reader says what is wrong, in its words
    if not plans or planned.rejects:
        return None
    unified: dict[str, str] = {}
    for plan in plans:
        for c, typ in plan.columns.items():
            if c in AUDIT_COLUMNS:
                return None
            unified.setdefault(c, reader.types.get(c, plan.types.get(c, typ)))
    if any(spark_type(t) is None for t in unified.values()):
        return None
    frames = []
    for plan in plans:
        if fmt == "csv":
            df = _csv(landing, reader, plan, unified)
        elif any(plan.columns[c].upper() != unified[c].upper() for c in plan.columns):
            df = None  # a conversion with a check: the DuckDB reader's
        else:
            df = landing.parquet([str(f.path) for f in plan.group], plan.columns)
            df = df.withColumn(_BAD, _false())
        if df is None:
            return None
        for c, t in unified.items():
            if c not in df.columns:
                df = df.withColumn(c, F.lit(None).cast(spark_type(t)))
        frames.append(df.select(*[F.col(f"`{c}`") for c in unified], FILE, _BAD))
    return _Batch(_union(frames), unified, {str(f.path) for plan in plans for f in plan.group})


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out


def _json(landing: SparkFiles, reader: FileReader, files: list[SourceFile]) -> _Batch | None:
    """A JSON batch: each file planned by DuckDB as its reader plans it (its own detected
    columns and types, the batch's unified as the DuckDB reader unifies them), every file
    read once by DuckDB on the driver without keeping anything (a count of each column:
    whether it parses and converts, and how many records it holds). Spark reads the files
    that do, each field as the text in the file (exact string parsing), converted with the
    strict check (`_json_value`). Read by DuckDB on the driver instead: a file with a line
    that does not parse (its rejects and line numbers are the DuckDB reader's), one DuckDB's
    read fails on (a duplicate key), or one with a column whose type as DuckDB reads it
    Spark does not reproduce (a nested object or list, a detected TIMESTAMP where the table
    has VARCHAR, ...). A batch whose unified columns have a type Spark does not
    write as DuckDB does (a STRUCT, a LIST, HUGEINT, ...) is left to the driver whole."""
    import pyspark.sql.functions as F
    import sqlglot.expressions as exp

    from medallion.engine.spark.files import CORRUPT, FILE, spark_type
    from medallion.ingest.files import AUDIT_COLUMNS
    from medallion.ingest.files import json as js
    from medallion.ingest.files.reader import ReadResult

    fmt = reader.source.json_format or "auto"
    order: list[Plan] = []  # every file's plan in file order: the unified columns' order
    read: list[tuple[SourceFile, Plan, bool]] = []  # the files Spark may read, array form?
    rows: dict[str, int] = {}
    driver: list[str] = []
    try:
        for f in files:
            array = js._looks_like_array(f.path)
            if array and not js._array_closed(f.path):
                return None  # the DuckDB reader fails the ingest naming it
            try:
                plan = js._plan(reader, f, str(f.path), fmt)
                # every column counted: DuckDB parses each record and converts each value
                # as its read of the file would (a duplicate key, a value its detected type
                # does not take fail here as they would fail that read)
                count = exp.select(
                    exp.Count(this=exp.Star()),
                    *[exp.Count(this=exp.column(c, quoted=True)) for c in plan.columns],
                ).from_(plan.query.subquery())
                n = reader.execute(count)[0][0]
            except Exception:
                # a line that does not parse (the DuckDB reader's own plan splits the file
                # into its good lines and rejects, and gives its columns), or a read that
                # fails: the file is the DuckDB reader's, which fails as on DuckDB
                part = ReadResult(reader=None)  # type: ignore[arg-type]
                try:
                    order.extend(js.plan(reader, [f], part))
                finally:
                    for tmp in part.cleanup:
                        tmp.unlink(missing_ok=True)
                driver.append(str(f.path))
                continue
            order.append(plan)
            read.append((f, plan, array))
            rows[str(f.path)] = int(n)
    except Exception:
        return None  # the DuckDB reader says what is wrong, in its words
    unified: dict[str, str] = {}
    for plan in order:
        for c, typ in plan.columns.items():
            if c in AUDIT_COLUMNS:
                return None
            unified.setdefault(c, reader.types.get(c, plan.types.get(c, typ)))
    if not unified or any(spark_type(t) is None for t in unified.values()):
        return None
    if len({c.lower() for c in unified}) != len(unified):
        return None  # Spark tells columns apart regardless of case
    groups: dict[tuple[bool, tuple[tuple[str, str], ...]], list[SourceFile]] = {}
    for f, plan, array in read:
        values = {c: _json_value(F.col(f"`{c}`"), t, unified[c], reader.source)
                  for c, t in plan.columns.items()}  # fmt: skip
        if any(v is None for v in values.values()):
            driver.append(str(f.path))
        else:
            groups.setdefault((array, tuple(plan.columns.items())), []).append(f)
    if not groups:
        return None
    frames = []
    for (array, columns), group in groups.items():
        df = landing.json_text([str(f.path) for f in group], [c for c, _ in columns], array)
        if df is None:
            return None
        bad: Column = F.col(CORRUPT).isNotNull()
        selected = []
        for c, t in columns:
            x = F.col(f"`{c}`")
            value, ok = _json_value(x, t, unified[c], reader.source)  # type: ignore[misc]
            bad = bad | (x.isNotNull() & ~F.coalesce(ok, F.lit(False)))
            selected.append(value.alias(c))
        df = df.select(*selected, F.col(FILE), bad.alias(_BAD))
        for c, t in unified.items():
            if c not in df.columns:
                df = df.withColumn(c, F.lit(None).cast(spark_type(t)))
        frames.append(df.select(*[F.col(f"`{c}`") for c in unified], FILE, _BAD))
    planned = {str(f.path) for group in groups.values() for f in group}
    return _Batch(_union(frames), unified, planned, driver, rows, rescue_known=dict(reader.types))


#: text a JSON number may be written as (Spark keeps it as written, DuckDB as it prints a
#: double: 1.50 is '1.5', 1e3 '1000.0'); only a plain integer is the same text on both
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_INTEGER = r"^(0|-?[1-9][0-9]*)$"


def _json_value(
    x: Column, as_read: str, duck_type: str, source: FileSource
) -> tuple[Column, Column] | None:
    """(the JSON field `x`, as the text Spark reads, converted to `duck_type`, whether the
    value is one DuckDB's read of the file gives alike) where the file's column is read by
    DuckDB as `as_read`; None where Spark does not read the column as DuckDB does.

    The text of a JSON string is the same to both engines; a number, an object or a list
    is not (Spark keeps what the file says, DuckDB prints the value it parsed), and Spark
    cannot tell a string from a number of the same text: so text that looks like a number
    other than a plain integer, or like an object or a list, is left to DuckDB where it is
    kept as text, and a decimal of more than 15 digits (a double's) where it is converted."""
    import pyspark.sql.functions as F

    from medallion.engine.duckdb.types import type_class
    from medallion.engine.spark.files import checked

    a, t = as_read.upper(), duck_type.upper()
    kind, read_as = type_class(t), type_class(a)
    # a number DuckDB reads as a double and converts to an integer, or reads as an integer
    # (rounding 7.5 to 8) and converts to a double: alike where it is a plain integer that a
    # double holds exactly
    whole = {read_as, kind} == {"integer", "float"} and "FLOAT" not in (a, t)
    # a date or timestamp DuckDB detected: read with the format it detected (not the
    # source's), which the driver's count applied to every value of the file; an ISO text
    # is the same value to both
    detected = a == t and kind in ("date", "timestamp")
    if a != "VARCHAR" and not (whole or detected) and (a != t or a not in ("DOUBLE", "BOOLEAN")):
        return None
    fmt = None
    if kind == "date" and not detected:
        fmt = source.date_format
    elif kind in ("timestamp", "timestamptz") and not detected:
        fmt = source.timestamp_format
    conv = checked(x, t, fmt)
    if conv is None:
        return None
    value, ok = conv
    if a == "VARCHAR" and kind == "text":
        as_text = (~x.rlike(_NUMBER) | x.rlike(_INTEGER)) & ~x.rlike(r"^\s*[\[{]")
        ok = ok & as_text & ~x.rlike("[\u0000\ufffd]")
    elif a == "VARCHAR" and kind == "decimal":
        ok = ok & (F.length(F.regexp_replace(x, "[^0-9]", "")) <= 15)
    elif whole:
        ok = ok & x.rlike(r"^-?[0-9]{1,15}$")
    return value, ok


def _false() -> Column:
    import pyspark.sql.functions as F

    return F.lit(False)


def _csv(
    landing: SparkFiles, reader: FileReader, plan: Plan, unified: dict[str, str]
) -> DataFrame | None:
    """One CSV plan's files read by Spark: each field converted to its column's type, _BAD
    true on a row Spark could not split or has a value Spark does not vouch for."""
    import pyspark.sql.functions as F

    from medallion.engine.duckdb.types import type_class
    from medallion.engine.spark.files import CORRUPT, ENCODINGS, FILE, checked

    s = reader.source
    quote = s.quote if s.quote is not None else '"'
    options = {
        "header": s.header is not False,
        "sep": s.delimiter or ",",
        "quote": quote,
        "escape": s.escape if s.escape is not None else quote,
        "encoding": ENCODINGS[s.encoding or "utf-8"],
    }
    nulls = list(s.null_values if s.null_values is not None else [""])
    df = landing.csv_text([str(f.path) for f in plan.group], list(plan.columns), options)
    bad: Column = F.col(CORRUPT).isNotNull()
    # text Spark and DuckDB may read differently: a quote or carriage return inside a field
    # (an unquoted field with a quote, a line end of another kind), bytes the encoding does
    # not hold (Spark replaces them, DuckDB rejects the row), a byte-order mark
    odd = [ch for ch in (quote, "\r", "\ufffd", "\ufeff") if ch]  # quote: "" quotes nothing
    selected = []
    for c in plan.columns:
        raw = F.col(f"`{c}`")
        value = F.when(raw.isin(nulls), F.lit(None)).otherwise(raw) if nulls else raw
        fmt = None
        kind = type_class(unified[c])
        if kind == "date":
            fmt = s.date_format
        elif kind in ("timestamp", "timestamptz"):
            fmt = s.timestamp_format
        conv = checked(value, unified[c], fmt)
        if conv is None:
            return None
        converted, ok = conv
        bad = bad | (value.isNotNull() & ~F.coalesce(ok, F.lit(False)))
        if "" not in nulls:
            # Spark reads an empty field as NULL: DuckDB keeps it as text
            bad = bad | raw.isNull()
        selected.append(converted.alias(c))
    # one search of the row's fields (NULLs left out) rather than one per field, by bytes (a
    # regular expression would decode every row into a Java string first: 25% of the read)
    fields = F.concat_ws("", *[F.col(f"`{c}`") for c in plan.columns])
    for ch in odd:
        bad = bad | fields.contains(ch)
    return df.select(*selected, F.col(FILE), bad.alias(_BAD))


def _run(
    landing: SparkFiles,
    reader: FileReader,
    files: list[SourceFile],
    batch: _Batch,
    stamps: dict[str, datetime],
    ingested_at: datetime,
    run_id: str,
    table_path: Path,
    fqn: str,
    full_refresh: bool,
    metadata: dict[str, Any],
    app_transaction: tuple[str, int],
    check: Callable[[int], None] | None,
) -> Landed | None:
    """`land` once the batch is known to be one Spark reads: mark, rescue, write, commit."""
    import pyspark.sql.functions as F

    from medallion.engine.spark.files import FILE, spark_type
    from medallion.ingest.files.reader import FileReader
    from medallion.ingest.files.rejects import check_rejected
    from medallion.storage import tables

    source, name = reader.source, reader.name
    df, unified = batch.df, batch.unified
    uris = landing.uris(df)
    by_path = {str(f.path): f for f in files}
    if set(uris.values()) != batch.planned:
        return None  # a path Spark names otherwise (a link resolved): not mapped back
    # the files' names and stamps, joined to their rows by the URI Spark gives each row
    names = landing.table(
        [(u, by_path[p].rel, stamps[p].isoformat(sep=" ")) for u, p in uris.items()],
        [FILE, _REL, _AT],
    )
    rows = df.join(F.broadcast(names), FILE)
    audited = rows.select(
        *[F.col(f"`{c}`") for c in unified],
        F.col(_REL).alias("_source_file"),
        F.to_timestamp(F.col(_AT)).alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
        F.col(FILE),
        F.col(_BAD),
    )
    expected = _duckdb_schema(reader, unified, ingested_at, run_id)
    shown = landing.arrow_schema(audited.drop(FILE, _BAD))
    if [(f.name, f.type) for f in shown] != [(f.name, f.type) for f in expected]:
        return None
    existing = tables.schema(table_path) if tables.is_delta_table(table_path) else None
    if existing is not None and not full_refresh:
        parts = list(tables.open_table(table_path).metadata().partition_columns)
        if parts != list(source.partition_by):
            return None  # the table's partitioning changes: the driver's writer rewrites it
        if any(c not in existing.names for c in unified):
            # a new column: a commit of add actions appends without changing the table's
            # schema (the column would not be read); the driver's writer merges it in
            return None
    if any(c not in audited.columns for c in source.partition_by):
        return None  # the DuckDB path names the missing column

    def write(flagged: set[str], rows: DataFrame, seen: Observation | None) -> Landed:
        """`rows` without the files `flagged` (URIs) and with the driver's read of those (and
        of the files decided for the driver) written and committed; `seen`: raise _Marked
        before the commit if it saw a marked row."""
        rescued = sorted({uris[u] for u in flagged} | set(batch.driver))
        rejects: list[Reject] = []
        if flagged:
            rows = rows.where(~F.col(FILE).isin(list(flagged)))
        frames = [rows.drop(FILE, _BAD)]
        if rescued:
            known = unified if batch.rescue_known is None else batch.rescue_known
            driver = FileReader(reader.con, source, name, known_types=known)
            read = driver.read(
                [by_path[p] for p in rescued],
                ingested_at=ingested_at,
                run_id=run_id,
                limit=False,
                columns=unified,
            )
            try:
                table = read.reader.read_all() if read.reader.schema.names else None
            finally:
                read.close()
            rejects = read.rejects
            if table is not None and table.num_rows:
                table = _restamped(table, files, stamps)
                frames.append(landing.from_arrow(table))
        out = frames[0]
        for extra in frames[1:]:
            out = out.unionByName(extra, allowMissingColumns=True)
        order = [*unified, "_source_file", "_ingested_at", "_run_id"]
        if existing is not None and not full_refresh:
            from pyspark.sql.pandas.types import from_arrow_type

            for f in existing:
                if f.name not in order:
                    out = out.withColumn(f.name, F.lit(None).cast(from_arrow_type(f.type)))
            order = [f.name for f in existing] + [c for c in order if c not in existing.names]
        out = out.select(
            *[F.col(f"`{c}`").cast(_type_of(out, c, unified, spark_type)) for c in order]
        )

        def before_commit(rows: int) -> None:
            if seen is not None:
                marked = set(seen.get["marked"] or [])
                if marked:
                    raise _Marked(marked)
            check_rejected(source, name, rows, rejects, files)
            if check is not None:
                check(rows)

        version, written = landing.write(
            out,
            WriteTarget(
                table_path,
                run_id,
                stream=_files_only,
                check=before_commit,
                fault=f"mid-write:{fqn}",
                mode="overwrite" if full_refresh else "append",
                partition_by=list(source.partition_by),
                metadata=metadata,
                description=source.description,
                app_transaction=app_transaction,
            ),
        )
        return Landed(version, written, rejects, [by_path[p].rel for p in rescued])

    # The files with a row Spark marked (JSON: or not as many rows as DuckDB counts) are read
    # by DuckDB on the driver. JSON: found by a pass of their own before the write. CSV and
    # Parquet: seen by the write itself (an aggregate observed in the same pass); a batch with
    # such a file is written again without it, the first write removed uncommitted, so a
    # clean batch is read once and a dirty one twice (as a pass to find them and a write).
    if batch.rows:
        marks = landing.marks(audited, _BAD)
        flagged = {
            u
            for u, p in uris.items()
            if marks.get(u, (0, False))[1] or marks.get(u, (0, False))[0] != batch.rows[p]
        }
        return write(flagged, audited, None)
    observed, seen = landing.observed(audited, _BAD)
    try:
        return write(set(), observed, seen)
    except _Marked as e:
        return write(e.files, audited, None)


class _Marked(Exception):
    """A write saw rows Spark marked: its files (URIs) go to the driver, the write is redone."""

    def __init__(self, files: set[str]) -> None:
        super().__init__(f"{len(files)} files with marked rows")
        self.files = files


def _type_of(df: DataFrame, c: str, unified: dict[str, str], spark_type: Any) -> Any:
    """The column's type: its DuckDB type's for a data column read now, else as it is."""
    return spark_type(unified[c]) if c in unified else df.schema[c].dataType


def _duckdb_schema(
    reader: FileReader, unified: dict[str, str], ingested_at: datetime, run_id: str
) -> pa.Schema:
    """The Arrow schema the DuckDB reader gives the batch (LIMIT 0: nothing is read)."""
    import sqlglot.expressions as exp

    from medallion.ingest.files.reader import type_of
    from medallion.sqltree import lit

    nulls = [
        exp.Cast(this=exp.Null(), to=type_of(t)).as_(c, quoted=True) for c, t in unified.items()
    ]
    select = exp.select(
        *nulls,
        exp.Cast(this=exp.Null(), to=type_of("VARCHAR")).as_("_source_file"),
        lit(ingested_at).as_("_ingested_at"),
        lit(run_id).as_("_run_id"),
    ).limit(0)
    return reader.sql(select).arrow().schema


def _restamped(table: pa.Table, files: list[SourceFile], stamps: dict[str, datetime]) -> pa.Table:
    """The driver's rows with `_ingested_at` as the whole batch's stamps (`file_stamps` over
    all its files, not the driver's share of them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rels = [f.rel for f in files]
    at = table.schema.field("_ingested_at").type
    values = pa.array([stamps[str(f.path)] for f in files], type=at)
    index = pc.index_in(table.column("_source_file"), value_set=pa.array(rels))
    column = table.schema.get_field_index("_ingested_at")
    return table.set_column(column, "_ingested_at", pc.take(values, index))


def _files_only(reader: Any) -> int:
    raise AssertionError("a landing batch is written as files by the executors, never streamed")
