"""Landing files read by Spark's executors: the engine's side of `medallion.ingest.files.spark`.

Spark reads CSV files as text fields (PERMISSIVE, with a corrupt-record column: a line with too
many or too few fields is kept and marked), JSON fields as the text the file has for them
(exact string parsing), and Parquet files in the columns medallion decided;
each text field is converted to its column's type with a check that marks every value whose
conversion Spark cannot be sure to do as DuckDB does (`checked`). The rows are written as
Parquet files into the table's folder by the executors and committed by delta-rs in one commit
that also carries the ingest's application transaction (exactly-once, see
`medallion.ingest.bronze`). Types are named as DuckDB names them (medallion's type names);
a type this module does not map is not read by Spark (`spark_type` is None).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, Observation, SparkSession

    from medallion.engine.base import WriteTarget

#: the column Spark's CSV reader puts a line it could not split into the columns in
CORRUPT = "__medallion_corrupt"
#: each row's file, as Spark names it (a URI: `SparkFiles.uris` maps it back)
FILE = "__medallion_file"
#: bytes of landing files a task reads (and writes as one Parquet file per partition value)
PACK_BYTES = 128 * 1024 * 1024
#: the file encodings Spark reads as medallion's `encoding:` means them
ENCODINGS = {"utf-8": "UTF-8", "latin-1": "ISO-8859-1"}
#: strptime directives -> (Spark datetime pattern, the text they match); only fixed widths, so
#: a value matching the pattern is read alike by both engines (DuckDB takes '5/3/2024' for
#: %d/%m/%Y too: such a value is left to DuckDB)
_DIRECTIVES = {
    "Y": ("yyyy", "[0-9]{4}"),
    "m": ("MM", "[0-9]{2}"),
    "d": ("dd", "[0-9]{2}"),
    "H": ("HH", "[0-9]{2}"),
    "M": ("mm", "[0-9]{2}"),
    "S": ("ss", "[0-9]{2}"),
}
_INTEGERS = {
    "TINYINT": (-(2**7), 2**7 - 1),
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INTEGER": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
}


def spark_type(duck_type: str) -> Any:
    """The Spark type a DuckDB type name is read as, or None where Spark's reading is not
    known to give the same values (unsigned and huge integers, FLOAT, TIME, INTERVAL, nested
    types, ...)."""
    import pyspark.sql.types as T

    t = " ".join(duck_type.upper().split())
    simple = {
        "TINYINT": T.ByteType(),
        "SMALLINT": T.ShortType(),
        "INTEGER": T.IntegerType(),
        "INT": T.IntegerType(),
        "BIGINT": T.LongType(),
        "DOUBLE": T.DoubleType(),
        "BOOLEAN": T.BooleanType(),
        "DATE": T.DateType(),
        "TIMESTAMP": T.TimestampNTZType(),
        "TIMESTAMP WITH TIME ZONE": T.TimestampType(),
        "TIMESTAMPTZ": T.TimestampType(),
        "VARCHAR": T.StringType(),
        "TEXT": T.StringType(),
    }
    if t in simple:
        return simple[t]
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m and int(m.group(1)) > int(m.group(2)) and int(m.group(1)) <= 38:
        return T.DecimalType(int(m.group(1)), int(m.group(2)))
    return None


def spark_pattern(strptime: str) -> tuple[str, str] | None:
    """A strptime format as (Spark datetime pattern, regular expression of the text it
    matches), or None when it has a directive without a fixed width (%b, %f, %-d, ...) or no
    year (%Y: the year a value without one reads as is 1970 to Spark, 1900 to DuckDB)."""
    if "%Y" not in strptime:
        return None
    pattern, regex = [], []
    literal = ""  # letters are quoted in Spark's patterns: a run of them as one quoted text

    def flush() -> None:
        nonlocal literal
        if literal:
            pattern.append("'" + literal + "'")
            literal = ""

    i = 0
    while i < len(strptime):
        ch = strptime[i]
        if ch == "%":
            spec = _DIRECTIVES.get(strptime[i + 1 : i + 2])
            if spec is None:
                return None
            flush()
            pattern.append(spec[0])
            regex.append(spec[1])
            i += 2
            continue
        if ch.isalpha():
            literal += ch
        else:
            flush()
            pattern.append("''" if ch == "'" else ch)
        regex.append(re.escape(ch))
        i += 1
    flush()
    return "".join(pattern), "^" + "".join(regex) + "$"


def checked(x: Column, duck_type: str, fmt: str | None) -> tuple[Column, Column] | None:
    """(the text `x` converted to `duck_type`, whether the value is one Spark converts as
    DuckDB does) — the check is strict: a value it does not vouch for is left to DuckDB, which
    converts or rejects it. None: a type (or format) this module does not convert."""
    import pyspark.sql.functions as F

    t = " ".join(duck_type.upper().split())
    target = spark_type(t)
    if target is None:
        return None
    cls = type(target).__name__
    if cls == "StringType":
        return x, F.lit(True)
    if cls in ("ByteType", "ShortType", "IntegerType", "LongType"):
        lo, hi = _INTEGERS["INTEGER" if t == "INT" else t]
        # try_cast: a value out of the type's range is NULL (a plain cast fails the job)
        value = x.try_cast(target)
        ok = x.rlike(r"^-?[0-9]{1,19}$") & value.isNotNull() & value.between(lo, hi)
        return value, ok
    if cls == "DecimalType":
        whole = target.precision - target.scale
        frac = rf"(\.[0-9]{{1,{target.scale}}})?" if target.scale else ""
        ok = x.rlike(rf"^-?[0-9]{{1,{whole}}}{frac}$")
        return x.try_cast(target), ok
    if cls == "DoubleType":
        ok = x.rlike(r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$")
        return x.try_cast(target), ok
    if cls == "BooleanType":
        low = F.lower(x)
        return low == F.lit("true"), low.isin("true", "false")
    if cls == "DateType":
        if fmt:
            spec = spark_pattern(fmt)
            if spec is None or any(d in fmt for d in ("%H", "%M", "%S")):
                return None
            value = F.try_to_timestamp(x, F.lit(spec[0])).cast(target)
            return value, x.rlike(spec[1]) & value.isNotNull()
        value = x.try_cast(target)
        return value, x.rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$") & value.isNotNull()
    if cls == "TimestampNTZType":
        if fmt:
            spec = spark_pattern(fmt)
            if spec is None:
                return None
            # Spark's parser is strict (a day, hour or minute out of range does not parse,
            # none rolls over into the next), as DuckDB's strptime is
            value = F.try_to_timestamp(x, F.lit(spec[0])).cast(target)
            return value, x.rlike(spec[1]) & value.isNotNull()
        value = x.try_cast(target)
        text = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$"
        return value, x.rlike(text) & value.isNotNull()
    return None  # TIMESTAMPTZ from text: offsets and zone names are DuckDB's to read


class SparkFiles:
    """An engine's reader and writer of landing files (the engine's `file_landing()`)."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def csv_text(self, paths: list[str], columns: list[str], options: dict[str, Any]) -> DataFrame:
        """The files' fields as text, by position into `columns`, plus CORRUPT (the raw text
        of a line Spark could not split into them) and FILE. One task per file (multiLine: a
        quoted field may hold line breaks)."""
        import pyspark.sql.functions as F
        import pyspark.sql.types as T

        schema = T.StructType(
            [T.StructField(c, T.StringType()) for c in columns]
            + [T.StructField(CORRUPT, T.StringType())]
        )
        reader = self.spark.read.schema(schema).options(
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT,
            multiLine=True,
            enforceSchema=True,
            **{k: v for k, v in options.items() if v is not None},
        )
        with self._listed_on_driver(paths):
            return reader.csv(paths).withColumn(FILE, F.input_file_name())

    def json_text(self, paths: list[str], columns: list[str], array: bool) -> DataFrame | None:
        """The files' fields `columns` as the text the file has for each (a string's value, a
        number, an object or a list as written: Spark's exact string parsing), plus CORRUPT
        (a record Spark could not parse) and FILE: newline-delimited files one task per
        128 MiB, files of one array (`array`) one task each. None when exact string parsing
        is turned off in the session's configuration."""
        import pyspark.sql.functions as F
        import pyspark.sql.types as T

        exact = self.spark.conf.get("spark.sql.json.enableExactStringParsing", "true")
        if str(exact).lower() != "true":
            return None
        schema = T.StructType(
            [T.StructField(c, T.StringType()) for c in columns]
            + [T.StructField(CORRUPT, T.StringType())]
        )
        reader = self.spark.read.schema(schema).options(
            mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT, multiLine=array
        )
        with self._listed_on_driver(paths):
            return reader.json(paths).withColumn(FILE, F.input_file_name())

    def observed(self, df: DataFrame, bad: str) -> tuple[DataFrame, Observation]:
        """`df` observed by the action that runs it: the Observation's `marked` is the FILEs
        of its rows marked `bad` (computed by the same pass, available once it ran)."""
        import pyspark.sql.functions as F
        from pyspark.sql import Observation

        seen = Observation()
        marked = F.collect_set(F.when(F.col(bad), F.col(FILE))).alias("marked")
        return df.observe(seen, marked), seen

    def marks(self, df: DataFrame, bad: str) -> dict[str, tuple[int, bool]]:
        """FILE -> (its rows, whether any is marked `bad`), for the files `df` has rows of."""
        import pyspark.sql.functions as F

        counted = df.groupBy(FILE).agg(F.count(F.lit(1)), F.max(F.col(bad).cast("int")))
        return {r[0]: (int(r[1]), bool(r[2])) for r in counted.collect()}

    def parquet(self, paths: list[str], types: dict[str, str]) -> DataFrame:
        """The files' columns `types` (DuckDB type names; a file lacking one reads NULL) plus
        FILE."""
        import pyspark.sql.functions as F
        import pyspark.sql.types as T

        schema = T.StructType([T.StructField(c, spark_type(t)) for c, t in types.items()])
        with self._listed_on_driver(paths):
            df = self.spark.read.schema(schema).parquet(*paths)
        return df.withColumn(FILE, F.input_file_name())

    @contextmanager
    def _listed_on_driver(self, paths: list[str]) -> Iterator[None]:
        """A read of `paths` whose files Spark lists on the driver: past
        `parallelPartitionDiscovery.threshold` (32) paths it lists them with a job of a task
        per path (1,464 hourly files: 6-20 s on 2 cores, against 0.5 s listed here). The
        paths are files the driver has just found and fingerprinted, not folders to walk."""
        key = "spark.sql.sources.parallelPartitionDiscovery.threshold"
        before = self.spark.conf.get(key)
        self.spark.conf.set(key, str(max(int(before or 32), len(paths) + 1)))
        try:
            yield
        finally:
            self.spark.conf.set(key, before)

    def packed(self, df: DataFrame, size: int) -> DataFrame:
        """`df` in about one task per PACK_BYTES of its files (at least one per core): a
        multiLine CSV read is one task per file, and each task writes a Parquet file per
        partition value, so a drop of many small files would be as many tiny tasks and files."""
        import math

        cores = self.spark.sparkContext.defaultParallelism
        return df.coalesce(max(cores, math.ceil(size / PACK_BYTES)))

    def uris(self, df: DataFrame) -> dict[str, str]:
        """URI as FILE has it -> the local path, for the files `df` reads (Spark escapes
        characters of a path such as spaces in its URIs)."""
        from urllib.parse import unquote, urlparse

        return {u: unquote(urlparse(u).path) for u in df.inputFiles()}

    def table(self, rows: list[tuple[Any, ...]], names: list[str]) -> DataFrame:
        """A small DataFrame of text columns (the files' names and stamps)."""
        return self.spark.createDataFrame(rows, schema=", ".join(f"`{n}` string" for n in names))

    def from_arrow(self, data: pa.Table) -> DataFrame:
        from medallion.engine.spark.engine import _from_arrow

        return _from_arrow(self.spark, data)

    def arrow_schema(self, df: DataFrame) -> pa.Schema:
        from medallion.engine.spark.engine import arrow_schema

        return arrow_schema(df)

    def message(self, error: BaseException) -> str:
        """A Spark error in one line, without the JVM stack."""
        from medallion.engine.spark.engine import _spark_message

        return _spark_message(error)

    def write(self, df: DataFrame, target: WriteTarget) -> tuple[int, int]:
        """`df` written by the executors as Parquet files into a new folder of the table and
        committed in one commit (see `commit.write_and_commit`): (version, rows). Every column
        is nullable in the table, as the driver's writer makes them (a literal such as the run
        id is NOT NULL to Spark; a later append of the driver's would not fit the table)."""
        import pyarrow as pa

        from medallion.engine.spark.commit import write_and_commit
        from medallion.engine.spark.engine import arrow_schema

        target.path.mkdir(parents=True, exist_ok=True)
        schema = pa.schema([f.with_nullable(True) for f in arrow_schema(df)])
        return write_and_commit(self.spark, df, target, schema)
