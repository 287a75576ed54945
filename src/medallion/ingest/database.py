"""Database sources: a table or query of PostgreSQL, MySQL / MariaDB or SQLite, read incrementally.

Watermark semantics (a cursor column such as `updated_at` or an id):
- the first run (and `--full-refresh`) reads every row, including rows whose cursor is NULL;
- each run reads, in one consistent snapshot, the rows with `low < cursor <= high`, where `high`
  is the largest cursor value when the run starts and `low` is the previous run's `high` minus
  `lookback` (rows committed late with an older cursor value are re-read, not lost; the repeats
  are ordinary duplicates in bronze, which a merge model keyed on `primary_key` absorbs);
- the new watermark (`high`) is recorded in the same Delta commit as the rows, so it advances
  only when they are committed; a failed extract commits nothing and leaves it where it was.

PostgreSQL rows stream through ADBC (binary COPY decoded to Arrow in C++) in batches of about
`batch_size` × 128 bytes, in the snapshot where psycopg read the column types and the watermark:
memory stays bounded whatever the table size, numeric(p,s) stays decimal, timestamps stay
timestamps. See docs/benchmarks.md for why ADBC was chosen over the alternatives.

MySQL / MariaDB rows stream from an unbuffered PyMySQL cursor in batches of `batch_size`, built
into Arrow column by column; SQLite rows through the standard library the same way.
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
    #: what ended the stream early, as raised by the driver: whoever reads `reader` through
    #: DuckDB sees only an OSError carrying its message, not its type (what retries go by)
    failure: BaseException | None = None


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
    if isinstance(like, str):  # a text column (SQLite has no time type): compared as text
        return watermark if lookback is None else _text_time_minus(watermark, lookback)
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
        from medallion.config.durations import duration_seconds

        seconds = lookback if isinstance(lookback, int | float) else duration_seconds(lookback)
        return value - timedelta(seconds=float(seconds))
    return value - Decimal(str(lookback if not isinstance(lookback, str) else lookback.split()[0]))


def _text_time_minus(watermark: str, lookback: str | float) -> str:
    """A time held as text minus the lookback, written back the way the watermark is (date or
    date and time, 'T' or ' ' between them), so the text comparison stays a time comparison."""
    from medallion.config.durations import duration_seconds

    try:
        value = datetime.fromisoformat(watermark)
    except ValueError:
        raise SourceError(
            f"the cursor holds text that is not a time ({watermark!r}), so a lookback cannot be "
            "subtracted from it",
            hint="remove `lookback`, or use a numeric or timestamp cursor column",
        ) from None
    seconds = lookback if isinstance(lookback, int | float) else duration_seconds(lookback)
    value -= timedelta(seconds=float(seconds))
    if len(watermark) == 10 and value.time() == datetime.min.time():  # a date: stays a date
        return value.date().isoformat()
    return value.isoformat(sep="T" if "T" in watermark else " ")


# -- PostgreSQL -------------------------------------------------------------------------------


#: PostgreSQL types read in their binary form, as these Arrow types (numeric: see _pg_column);
#: every other type (json, uuid, interval, arrays, ...) is selected as its text (`col::text`)
_PG_TYPES: dict[str, str] = {
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "oid": "int64",
    "float4": "float32",
    "float8": "float64",
    "bool": "bool_",
    "date": "date32",
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "name": "string",
}


def _pg_column(column: Any, type_name: str) -> tuple[pa.DataType, str | None]:
    """(Arrow type, the cast it is selected with or None) of a column of the query's result
    description."""
    import pyarrow as pa

    name = type_name.lower()
    if name == "numeric":
        precision, scale = column.precision, column.scale
        if precision is None:  # unconstrained numeric: no fixed scale to keep
            return pa.decimal128(38, 9), None
        return pa.decimal128(precision, scale or 0), None
    if name == "timestamp":
        return pa.timestamp("us"), None
    if name == "timestamptz":
        return pa.timestamp("us", tz="UTC"), None
    if name in _PG_TYPES:
        return getattr(pa, _PG_TYPES[name])(), "int8" if name == "oid" else None
    return pa.string(), "text"


class StreamFailed(ConnectionError):
    """The connection carrying the rows was lost mid-stream (the server stopped or restarted, the
    network dropped): transient, so the whole extract is retried."""


#: what libpq says when the connection goes away (ADBC passes it on in an OSError or its own
#: OperationalError, without a SQLSTATE)
_LOST = (
    "server closed the connection",
    "terminating connection",
    "connection to server",
    "connection refused",
    "could not receive data",
    "could not send data",
    "no connection to the server",
    "ssl syscall",
    "connection reset",
)


def _lost(error: BaseException) -> BaseException:
    """`error` as StreamFailed if it says the connection was lost, else itself."""
    text = str(error).strip()
    if any(s in text.lower() for s in _LOST):
        return StreamFailed(text.removeprefix("IO: ").removeprefix("[libpq] ").strip())
    return error


def _adbc_stream(dsn: str, snapshot: str, query: str, batch_bytes: int) -> tuple[Any, Any]:
    """(reader, close) of `query` read through ADBC (binary COPY decoded in C++ to Arrow) inside a
    REPEATABLE READ transaction on `snapshot`, the snapshot exported by the connection that asked
    the watermark: both see the same rows."""
    import adbc_driver_manager as adbc
    import adbc_driver_postgresql
    import pyarrow as pa

    db = adbc_driver_postgresql.connect(dsn)
    handles: list[Any] = [db]
    try:
        conn = adbc.AdbcConnection(db)
        handles.append(conn)
        stmt = adbc.AdbcStatement(conn)
        handles.append(stmt)
        for setup in (
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            f"SET TRANSACTION SNAPSHOT '{snapshot}'",
        ):
            stmt.set_sql_query(setup)
            stmt.execute_update()
        stmt.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
        stmt.set_sql_query(query)
        handle, _ = stmt.execute_query()
        reader = pa.RecordBatchReader.from_stream(handle)
    except Exception as e:
        _close_all(handles)
        raise _lost(e) from None
    except BaseException:
        _close_all(handles)
        raise

    def close() -> None:
        reader.close()
        _close_all(handles)

    return reader, close


def _close_all(handles: list[Any]) -> None:
    import contextlib

    for handle in reversed(handles):  # statement, connection, database
        with contextlib.suppress(Exception):
            handle.close()


def _relation(source: DatabaseSource) -> Any:
    from psycopg import sql

    if source.table is not None:
        return sql.Identifier(*source.table.split("."))
    return sql.SQL("({}) AS medallion_query").format(sql.SQL(source.query))  # type: ignore[arg-type]


def extract_postgres(
    source: DatabaseSource, name: str, watermark: str | None, full: bool
) -> Extract:
    """Open a consistent snapshot and stream the new rows. The caller consumes the reader and
    then calls `close()`.

    psycopg asks the questions (the columns and their types, the largest cursor value) and exports
    its snapshot; ADBC reads the rows in that snapshot. Why two drivers: psycopg's errors carry
    the SQLSTATE that tells a transient failure from a permanent one before any row is read
    (medallion.pgconn), and ADBC decodes PostgreSQL's binary COPY format in C++ straight into
    Arrow, about twice as fast as anything done in Python (docs/benchmarks.md, "PostgreSQL
    extraction")."""
    import pyarrow as pa
    from psycopg import sql

    from medallion import pgconn

    conn = pgconn.connect(source.dsn)
    try:
        # the watermark of a timestamptz cursor as UTC text
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rel = _relation(source)
        cur = conn.cursor()
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(rel))
        description = cur.description or []
        columns = [c.name for c in description]
        kinds = []
        for c in description:
            info = conn.adapters.types.get(c.type_code)
            # psycopg files an array type under its element's name
            plain = info is not None and c.type_code == info.oid
            kinds.append(_pg_column(c, info.name if plain else "?"))
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
        select = [
            sql.SQL("{}::{} AS {}").format(sql.Identifier(col), sql.SQL(cast), sql.Identifier(col))
            if cast
            else sql.Identifier(col)
            for col, (_, cast) in zip(columns, kinds, strict=True)
        ]
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select), rel)
        if where:
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(where))
        text = query.as_string(conn)
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        schema = pa.schema([pa.field(c, t) for c, (t, _) in zip(columns, kinds, strict=True)])
        reader, close_stream = _adbc_stream(
            source.dsn, snapshot, text, min(64 << 20, max(1 << 20, source.batch_size * 128))
        )
    except BaseException:
        conn.close()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield _conform(batch, schema)
        except Exception as e:
            extract.failure = _lost(e)
            raise extract.failure from None

    def close() -> None:
        try:
            close_stream()
        finally:
            conn.close()

    extract = Extract(
        pa.RecordBatchReader.from_batches(schema, batches()),
        watermark_text(high) if high is not None else watermark,
        f"postgres:{source.table or 'query'}",
        close,
    )
    return extract


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """An ADBC batch in the types of `schema`: numeric arrives as its text (an opaque extension
    type over strings), timestamptz with the session's zone name."""
    import pyarrow as pa

    if batch.schema.equals(schema):
        return batch
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if column.type != field.type:
            if isinstance(column, pa.ExtensionArray):
                column = column.storage
            column = column.cast(field.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# -- MySQL / MariaDB ----------------------------------------------------------------------------

# PyMySQL's FIELD_TYPE codes
_MY_INTS = {1: "int8", 2: "int16", 9: "int32", 3: "int32", 8: "int64", 13: "int16"}
_MY_DECIMAL = {0, 246}
_MY_DATES = {10, 14}
_MY_DATETIME, _MY_TIMESTAMP = 12, 7
_MY_FLOAT, _MY_DOUBLE = 4, 5
_MY_TEXT = {15, 249, 250, 251, 252, 253, 254}
_MY_UNSIGNED, _MY_BINARY_CHARSET = 32, 63


def _mysql_arrow_type(field: Any) -> pa.DataType:
    """Arrow type of a PyMySQL field descriptor (type code, length, scale, flags, charset)."""
    import pyarrow as pa

    code, flags = field.type_code, field.flags
    if code in _MY_INTS:
        name = _MY_INTS[code]
        if flags & _MY_UNSIGNED and code != 13:
            # Delta has no unsigned types: widen, as Spark's JDBC reader does (BIGINT UNSIGNED
            # as DECIMAL(20,0), which holds every value)
            return {"int8": pa.int16(), "int16": pa.int32(), "int32": pa.int64()}.get(
                name, pa.decimal128(20, 0)
            )
        return getattr(pa, name)()
    if code in _MY_DECIMAL:
        scale = field.scale or 0
        # the display length counts the sign (signed) and the decimal point (scale > 0)
        precision = field.length - (1 if scale else 0) - (0 if flags & _MY_UNSIGNED else 1)
        return pa.decimal128(max(1, min(38, precision)), scale)
    if code == _MY_FLOAT:
        return pa.float32()
    if code == _MY_DOUBLE:
        return pa.float64()
    if code in _MY_DATES:
        return pa.date32()
    if code == _MY_DATETIME:
        return pa.timestamp("us")
    if code == _MY_TIMESTAMP:
        return pa.timestamp("us", tz="UTC")  # the session runs in UTC
    if code in _MY_TEXT and field.charsetnr == _MY_BINARY_CHARSET:
        return pa.binary()
    return pa.string()  # text, JSON, TIME, ENUM, SET, BIT as their text


def _mysql_column(values: tuple[Any, ...], kind: pa.DataType) -> pa.Array:
    import datetime as dt

    import pyarrow as pa

    if pa.types.is_decimal(kind) and kind.scale == 0:  # BIGINT UNSIGNED arrives as int
        values = tuple(v if v is None or isinstance(v, Decimal) else Decimal(v) for v in values)
    elif pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        # zero dates ('0000-00-00') come back as text: NULL, as JDBC's convertToNull does
        values = tuple(v if isinstance(v, dt.date) else None for v in values)
    elif pa.types.is_string(kind):
        values = tuple(v if v is None or isinstance(v, str) else _text(v) for v in values)
    return pa.array(values, type=kind)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, timedelta):  # TIME
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        h, rest = divmod(abs(seconds), 3600)
        return f"{sign}{h:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return str(value)


def extract_mysql(source: DatabaseSource, name: str, watermark: str | None, full: bool) -> Extract:
    """MySQL / MariaDB through PyMySQL: one consistent snapshot (REPEATABLE READ), rows streamed
    (unbuffered cursor) in batches of `batch_size`, each turned into Arrow column by column."""
    import pyarrow as pa

    from medallion import mysqlconn

    conn = mysqlconn.connect(source.dsn)
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        rel = (
            ".".join(f"`{p}`" for p in source.table.split("."))
            if source.table
            else f"({source.query}) AS medallion_query"
        )
        cur.execute(f"SELECT * FROM {rel} LIMIT 0")
        fields = list(cur._result.fields)  # type codes with flags and charset, not in description
        cur.fetchall()
        columns = [f.name for f in fields]
        if source.cursor is not None and source.cursor not in columns:
            raise SourceError(
                f"cursor column {source.cursor!r} is not in {source.table or 'the query'}",
                source=name,
                key=f"sources.{name}.cursor",
                hint=f"columns: {', '.join(columns)}",
            )
        where: list[str] = []
        params: list[Any] = []
        high = None
        if source.cursor is not None:
            cursor = f"`{source.cursor}`"
            cur.execute(f"SELECT max({cursor}) FROM {rel}")
            row = cur.fetchone()
            cur.fetchall()
            high = row[0] if row else None
            low = None if full else low_bound(watermark, source.lookback, high)
            if low is not None:
                where.append(f"{cursor} > %s")
                params.append(low)
                if high is not None:
                    where.append(f"{cursor} <= %s")
                    params.append(high)
            elif high is not None:
                where.append(f"({cursor} <= %s OR {cursor} IS NULL)")
                params.append(high)
            if watermark is not None and not full and high is None:
                where.append("FALSE")
        query = f"SELECT * FROM {rel}" + (f" WHERE {' AND '.join(where)}" if where else "")
        cur.execute(query, params)
        schema = pa.schema([pa.field(f.name, _mysql_arrow_type(f)) for f in fields])

        def batches() -> Iterator[pa.RecordBatch]:
            while rows := cur.fetchmany(source.batch_size):
                yield pa.RecordBatch.from_arrays(
                    [
                        _mysql_column(values, field.type)
                        for values, field in zip(zip(*rows, strict=True), schema, strict=True)
                    ],
                    schema=schema,
                )

        def close() -> None:
            import contextlib

            with contextlib.suppress(Exception):  # an unread result is dropped with the socket
                conn.close()

        return Extract(
            pa.RecordBatchReader.from_batches(schema, batches()),
            watermark_text(high) if high is not None else watermark,
            f"mysql:{source.table or 'query'}",
            close,
        )
    except BaseException:
        import contextlib

        with contextlib.suppress(Exception):
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
    else:  # mysql
        from medallion import mysqlconn

        conn = mysqlconn.connect(source.dsn)
        try:
            rel = (
                ".".join(f"`{p}`" for p in source.table.split("."))
                if source.table
                else f"({source.query}) AS medallion_query"
            )
            cur = conn.cursor()
            cur.execute(f"SELECT max(`{source.cursor}`) FROM {rel}")
            row = cur.fetchone()
            cur.fetchall()
        finally:
            conn.close()
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
    if source.type == "mysql":
        return extract_mysql(source, name, watermark, full)
    return extract_sqlite(source, name, watermark, full, root)
