"""PostgreSQL sources: the rows stream through ADBC (binary COPY decoded to Arrow in C++) in
batches of about `batch_size` × 128 bytes, in the snapshot where psycopg read the column types and
the watermark: memory stays bounded whatever the table size, numeric(p,s) stays decimal,
timestamps stay timestamps. See docs/benchmarks.md for why ADBC was chosen over the alternatives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.connectors import postgres
from medallion.ingest.database.watermark import check_cursor, read_range, watermark_text
from medallion.ingest.sources import Extract

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.config.schema import DatabaseSource

#: how errors are told apart (retried or not)
classify = postgres.classify


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


def _adbc_stream(dsn: str, use_snapshot: str, query: str, batch_bytes: int) -> tuple[Any, Any]:
    """(reader, close) of `query` read through ADBC (binary COPY decoded in C++ to Arrow) inside a
    REPEATABLE READ transaction set (`use_snapshot`: SET TRANSACTION SNAPSHOT ...) to the snapshot
    exported by the connection that asked the watermark: both see the same rows."""
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
            use_snapshot,
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


def extract(
    source: DatabaseSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    """Open a consistent snapshot and stream the new rows. The caller consumes the reader and
    then calls `close()`.

    psycopg asks the questions (the columns and their types, the largest cursor value) and exports
    its snapshot; ADBC reads the rows in that snapshot. Why two drivers: psycopg's errors carry
    the SQLSTATE that tells a transient failure from a permanent one before any row is read
    (medallion.connectors.postgres), and ADBC decodes PostgreSQL's binary COPY format in C++
    straight into Arrow, about twice as fast as anything done in Python (docs/benchmarks.md,
    "PostgreSQL extraction")."""
    import pyarrow as pa
    from psycopg import sql

    conn = postgres.connect(source.dsn)
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
        check_cursor(source, name, columns)
        where: list[Any] = []
        high = None
        if source.cursor is not None:
            cursor_col = sql.Identifier(source.cursor)
            cur.execute(sql.SQL("SELECT max({}) FROM {}").format(cursor_col, rel))
            row = cur.fetchone()
            high = row[0] if row else None
            rows = read_range(high, watermark, source.lookback, full)
            if rows.nothing:
                where.append(sql.SQL("false"))  # the table is empty now
            elif rows.low is not None:
                where.append(sql.SQL("{} > {}").format(cursor_col, sql.Literal(rows.low)))
                if rows.high is not None:
                    where.append(sql.SQL("{} <= {}").format(cursor_col, sql.Literal(rows.high)))
            elif rows.high is not None:
                # a full read: every row up to high, and the rows without a cursor value
                where.append(
                    sql.SQL("({} <= {} OR {} IS NULL)").format(
                        cursor_col, sql.Literal(rows.high), cursor_col
                    )
                )
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
        use_snapshot = sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot))
        schema = pa.schema([pa.field(c, t) for c, (t, _) in zip(columns, kinds, strict=True)])
        reader, close_stream = _adbc_stream(
            source.dsn,
            use_snapshot.as_string(conn),
            text,
            min(64 << 20, max(1 << 20, source.batch_size * 128)),
        )
    except BaseException:
        conn.close()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield _conform(batch, schema)
        except Exception as e:
            opened.failure = _lost(e)
            raise opened.failure from None

    def close() -> None:
        try:
            close_stream()
        finally:
            conn.close()

    opened = Extract(
        pa.RecordBatchReader.from_batches(schema, batches()),
        watermark_text(high) if high is not None else watermark,
        f"postgres:{source.table or 'query'}",
        close,
    )
    return opened


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


def max_cursor(source: DatabaseSource, root: Path) -> Any:
    """The cursor's largest value now."""
    from psycopg import sql

    assert source.cursor is not None
    with postgres.connect(source.dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        row = conn.execute(
            sql.SQL("SELECT max({}) FROM {}").format(
                sql.Identifier(source.cursor), _relation(source)
            )
        ).fetchone()
    return row[0] if row else None
