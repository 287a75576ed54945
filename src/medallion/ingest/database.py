"""Database sources: a table or query of PostgreSQL (MySQL, SQLite), read incrementally.

Watermark semantics (a cursor column such as `updated_at` or an id):
- the first run (and `--full-refresh`) reads every row, including rows whose cursor is NULL;
- each run reads, in one consistent snapshot, the rows with `low < cursor <= high`, where `high`
  is the largest cursor value when the run starts and `low` is the previous run's `high` minus
  `lookback` (rows committed late with an older cursor value are re-read, not lost; the repeats
  are ordinary duplicates in bronze, which a merge model keyed on `primary_key` absorbs);
- the new watermark (`high`) is recorded in the same Delta commit as the rows, so it advances
  only when they are committed; a failed extract commits nothing and leaves it where it was.

PostgreSQL rows stream as CSV from `COPY (SELECT ...) TO STDOUT` into pyarrow's streaming CSV
reader with the column types taken from the query's result description: memory stays bounded
whatever the table size, numeric(p,s) stays decimal, timestamps stay timestamps. See
docs/benchmarks.md for why COPY was chosen over the alternatives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.config.schema import DatabaseSource


@dataclass
class Extract:
    """An open extraction: a stream of rows and the watermark it covers."""

    reader: pa.RecordBatchReader
    high: str | None  # the new watermark as text (None: no cursor)
    origin: str  # e.g. postgres:public.orders, for _source_file
    close: Any


def watermark_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def low_bound(watermark: str | None, lookback: str | float | None, like: Any = None) -> Any:
    """The exclusive lower bound of the next read: the watermark minus the lookback, as a value
    of the cursor's kind (`like` is a current cursor value: a number stays a number even when
    its digits would read as a date, e.g. 20240101)."""
    if watermark is None:
        return None
    value: Any = watermark
    if isinstance(like, int | float | Decimal) and not isinstance(like, bool):
        value = Decimal(watermark)
    elif isinstance(like, datetime | date) or like is None:
        try:
            value = datetime.fromisoformat(watermark)
        except ValueError:
            try:
                value = Decimal(watermark)
            except ArithmeticError:
                return watermark
    if lookback is None:
        return value
    if isinstance(value, datetime):
        from medallion.config.schema import duration_seconds

        seconds = lookback if isinstance(lookback, int | float) else duration_seconds(lookback)
        return value - timedelta(seconds=float(seconds))
    return value - Decimal(str(lookback if not isinstance(lookback, str) else lookback.split()[0]))


# -- PostgreSQL -------------------------------------------------------------------------------


def _pg_arrow_type(column: Any, type_name: str) -> pa.DataType:
    import pyarrow as pa

    name = type_name.lower()
    if name in ("int2", "smallint"):
        return pa.int16()
    if name in ("int4", "integer", "int", "serial"):
        return pa.int32()
    if name in ("int8", "bigint", "bigserial", "oid"):
        return pa.int64()
    if name in ("float4", "real"):
        return pa.float32()
    if name in ("float8", "double precision"):
        return pa.float64()
    if name == "numeric":
        precision, scale = column.precision, column.scale
        if precision is None:  # unconstrained numeric: no fixed scale to keep
            return pa.decimal128(38, 9)
        return pa.decimal128(precision, scale or 0)
    if name in ("bool", "boolean"):
        return pa.bool_()
    if name == "date":
        return pa.date32()
    if name == "timestamp":
        return pa.timestamp("us")
    if name == "timestamptz":
        return pa.timestamp("us", tz="UTC")
    return pa.string()


class _ChunkStream:
    """A file-like view of an iterator of byte chunks, for pyarrow's streaming CSV reader.

    psycopg yields a COPY result one row per chunk; `read(size)` joins as many as fill the
    block pyarrow asks for in one `bytes.join` (a row-at-a-time `readinto` behind a
    BufferedReader cost about twice the CPU: a million Python calls per million rows)."""

    closed = False

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts = [self._rest] if self._rest else []
        total = len(self._rest)
        for chunk in self._chunks:
            parts.append(chunk)
            total += len(chunk)
            if 0 <= size <= total:
                break
        data = b"".join(parts)
        if 0 <= size < len(data):
            data, self._rest = data[:size], data[size:]
        else:
            self._rest = b""
        return data

    def close(self) -> None:
        self.closed = True


def _relation(source: DatabaseSource) -> Any:
    from psycopg import sql

    if source.table is not None:
        return sql.Identifier(*source.table.split("."))
    return sql.SQL("({}) AS medallion_query").format(sql.SQL(source.query))  # type: ignore[arg-type]


def extract_postgres(
    source: DatabaseSource, name: str, watermark: str | None, full: bool
) -> Extract:
    """Open a consistent snapshot and stream the new rows. The caller consumes the reader and
    then calls `close()`."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from psycopg import sql

    from medallion import pgconn

    conn = pgconn.connect(source.dsn)
    try:
        # timestamps as ISO text (whatever the server's DateStyle), timestamptz in UTC with
        # "+00", which pyarrow's ISO8601 parser reads straight into timestamp[us, UTC]
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rel = _relation(source)
        cur = conn.cursor()
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(rel))
        description = cur.description or []
        columns = [c.name for c in description]
        type_names = []
        for c in description:
            info = conn.adapters.types.get(c.type_code)
            type_names.append(info.name if info is not None else "text")
        if source.cursor is not None and source.cursor not in columns:
            raise SourceError(
                f"cursor column {source.cursor!r} is not in {source.table or 'the query'}",
                source=name,
                key=f"sources.{name}.cursor",
                hint=f"columns: {', '.join(columns)}",
            )
        where: list[Any] = []
        high = None
        if source.cursor is not None:
            cursor_col = sql.Identifier(source.cursor)
            cur.execute(sql.SQL("SELECT max({}) FROM {}").format(cursor_col, rel))
            row = cur.fetchone()
            high = row[0] if row else None
            low = None if full else low_bound(watermark, source.lookback, high)
            if low is not None:
                where.append(sql.SQL("{} > {}").format(cursor_col, sql.Literal(low)))
                if high is not None:
                    where.append(sql.SQL("{} <= {}").format(cursor_col, sql.Literal(high)))
            elif high is not None:
                # a full read: every row up to high, and the rows without a cursor value
                where.append(
                    sql.SQL("({} <= {} OR {} IS NULL)").format(
                        cursor_col, sql.Literal(high), cursor_col
                    )
                )
            if watermark is not None and not full and high is None:
                where.append(sql.SQL("false"))  # the table is empty now
        select = [sql.Identifier(col) for col in columns]
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select), rel)
        if where:
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(where))
        copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        arrow_types = {
            col: _pg_arrow_type(c, t)
            for col, c, t in zip(columns, description, type_names, strict=True)
        }
        copy_cm = cur.copy(copy_sql)
        copy = copy_cm.__enter__()
        data = iter(copy)
        first = next(data, None)
        schema = pa.schema(
            [
                pa.field(c, _pg_arrow_type(d, t))
                for c, d, t in zip(columns, description, type_names, strict=True)
            ]
        )
        if first is None:
            # nothing new: an empty stream (pyarrow cannot open an empty CSV)
            def close_empty() -> None:
                import contextlib

                with contextlib.suppress(Exception):
                    copy_cm.__exit__(None, None, None)
                conn.close()

            return Extract(
                pa.RecordBatchReader.from_batches(schema, iter(())),
                watermark_text(high) if high is not None else watermark,
                f"postgres:{source.table or 'query'}",
                close_empty,
            )

        def chunks() -> Iterator[bytes]:
            yield first
            yield from data

        stream = _ChunkStream(chunks())
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                column_names=columns,
                block_size=min(64 << 20, max(1 << 20, source.batch_size * 128)),
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=arrow_types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
                timestamp_parsers=[pacsv.ISO8601],
            ),
        )

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                yield batch.cast(schema) if not batch.schema.equals(schema) else batch

        def close() -> None:
            import contextlib

            with contextlib.suppress(Exception):  # the connection closes either way
                copy_cm.__exit__(None, None, None)
            conn.close()

        return Extract(
            pa.RecordBatchReader.from_batches(schema, batches()),
            watermark_text(high) if high is not None else watermark,
            f"postgres:{source.table or 'query'}",
            close,
        )
    except BaseException:
        conn.close()
        raise


# -- SQLite -----------------------------------------------------------------------------------


def extract_sqlite(
    source: DatabaseSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    """SQLite through the standard library, in batches of `batch_size` rows."""
    import sqlite3

    import pyarrow as pa

    path = Path(source.dsn.removeprefix("sqlite:///").removeprefix("sqlite://"))
    if not path.is_absolute():
        path = root / path  # relative to the project, like file sources
    if not path.exists():
        raise SourceError(
            f"SQLite database {path} not found", source=name, key=f"sources.{name}.dsn"
        )
    # the stream is read by DuckDB's worker threads, not the thread that opened it
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        rel = (
            ".".join(f'"{p}"' for p in source.table.split("."))
            if source.table
            else f"({source.query})"
        )
        where, params = [], []
        high = None
        if source.cursor is not None:
            high = conn.execute(f'SELECT max("{source.cursor}") FROM {rel}').fetchone()[0]
            low = None if full else low_bound(watermark, source.lookback, high)
            cursor = f'"{source.cursor}"'
            if low is not None:
                where.append(f"{cursor} > ?")
                if isinstance(low, datetime):
                    params.append(low.isoformat(sep=" "))
                else:
                    params.append(float(low) if isinstance(low, Decimal) else low)
                if high is not None:
                    where.append(f"{cursor} <= ?")
                    params.append(high)
            elif high is not None:
                where.append(f"({cursor} <= ? OR {cursor} IS NULL)")
                params.append(high)
        query = f"SELECT * FROM {rel}" + (f" WHERE {' AND '.join(where)}" if where else "")
        cur = conn.execute(query, params)
        columns = [d[0] for d in cur.description]
        first = cur.fetchmany(source.batch_size)
        schema = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in first]).schema
        if not first:
            schema = pa.schema([pa.field(c, pa.string()) for c in columns])

        def batches() -> Iterator[pa.RecordBatch]:
            rows = first
            while rows:
                table = pa.Table.from_pylist(
                    [dict(zip(columns, r, strict=True)) for r in rows]
                ).cast(schema)
                yield from table.to_batches()
                rows = cur.fetchmany(source.batch_size)

        return Extract(
            pa.RecordBatchReader.from_batches(schema, batches()),
            watermark_text(high) if high is not None else watermark,
            f"sqlite:{source.table or 'query'}",
            conn.close,
        )
    except sqlite3.Error as e:
        conn.close()
        raise SourceError(f"SQLite: {e}", source=name) from None


def has_new_rows(source: DatabaseSource, watermark: str | None, root: Path) -> bool:
    """Whether the source's cursor has moved past `watermark` (one `SELECT max(cursor)`): how
    `run --watch` polls a database without running anything. A source without a cursor is
    re-read whole by every run, so it always has "new" rows."""
    if source.cursor is None or watermark is None:
        return True
    if source.type == "postgres":
        from psycopg import sql

        from medallion import pgconn

        with pgconn.connect(source.dsn) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            row = conn.execute(
                sql.SQL("SELECT max({}) FROM {}").format(
                    sql.Identifier(source.cursor), _relation(source)
                )
            ).fetchone()
    elif source.type == "sqlite":
        import sqlite3

        path = Path(source.dsn.removeprefix("sqlite:///").removeprefix("sqlite://"))
        conn = sqlite3.connect(
            f"file:{path if path.is_absolute() else root / path}?mode=ro", uri=True
        )
        try:
            rel = (
                ".".join(f'"{p}"' for p in source.table.split("."))
                if source.table
                else f"({source.query})"
            )
            row = conn.execute(f'SELECT max("{source.cursor}") FROM {rel}').fetchone()
        finally:
            conn.close()
    else:
        return True
    high = row[0] if row else None
    if high is None:
        return False
    low = low_bound(watermark, None, high)
    try:
        return bool(high > low)
    except TypeError:  # e.g. SQLite text against a parsed timestamp
        return watermark_text(high) != watermark


def extract(
    source: DatabaseSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    if source.type == "postgres":
        return extract_postgres(source, name, watermark, full)
    if source.type == "sqlite":
        return extract_sqlite(source, name, watermark, full, root)
    raise SourceError(
        "MySQL sources are not available in this version",
        source=name,
        key=f"sources.{name}.type",
        hint="load the tables to PostgreSQL or export them as files meanwhile",
    )
