"""MySQL / MariaDB sources through PyMySQL (pure Python, no client library to install): one
consistent snapshot (REPEATABLE READ), rows streamed from an unbuffered cursor in batches of
`batch_size`, each built into Arrow column by column: DECIMAL stays decimal, DATETIME is a
timestamp, TIMESTAMP a UTC timestamp (the session runs in UTC), unsigned integers are widened,
zero dates become NULL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.connectors import mysql
from medallion.ingest.database.watermark import (
    check_cursor,
    range_filter,
    read_range,
    rows_query,
    watermark_text,
)
from medallion.ingest.database.watermark import max_cursor as max_cursor_query
from medallion.ingest.sources import Extract

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.config.schema import DatabaseSource

#: how errors are told apart (retried or not)
classify = mysql.classify


def _sql(tree: exp.Expression) -> str:
    """A tree as PyMySQL takes it: MySQL's SQL with `%s` placeholders."""
    from sqlglot.dialects.mysql import MySQL

    class PyMySQL(MySQL):
        class Generator(MySQL.Generator):
            def placeholder_sql(self, expression: exp.Placeholder) -> str:
                return "%s"

    return PyMySQL().generate(tree, copy=False)


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


def extract(
    source: DatabaseSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    """MySQL / MariaDB through PyMySQL: one consistent snapshot (REPEATABLE READ), rows streamed
    (unbuffered cursor) in batches of `batch_size`, each turned into Arrow column by column."""
    import pyarrow as pa

    conn = mysql.connect(source.dsn)
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cur.execute(_sql(rows_query(source, []).limit(0)))
        fields = list(cur._result.fields)  # type codes with flags and charset, not in description
        cur.fetchall()
        columns = [f.name for f in fields]
        check_cursor(source, name, columns)
        where: list[exp.Expression] = []
        params: list[Any] = []
        high = None
        if source.cursor is not None:
            cur.execute(_sql(max_cursor_query(source)))
            row = cur.fetchone()
            cur.fetchall()
            high = row[0] if row else None
            rows = read_range(high, watermark, source.lookback, full)
            where, params = range_filter(source.cursor, rows)
        cur.execute(_sql(rows_query(source, where)), params)
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


def max_cursor(source: DatabaseSource, root: Path) -> Any:
    """The cursor's largest value now."""
    conn = mysql.connect(source.dsn)
    try:
        cur = conn.cursor()
        cur.execute(_sql(max_cursor_query(source)))
        row = cur.fetchone()
        cur.fetchall()
    finally:
        conn.close()
    return row[0] if row else None
