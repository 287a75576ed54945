"""Publish lakehouse tables to a PostgreSQL schema, for BI tools that read a warehouse.

`replace` (default): the rows are loaded into a staging table and swapped in for the old table
in one transaction — readers see the old table until the commit, then the new one, never a
half-loaded table. `merge`: the rows are loaded into a temporary table and upserted by key
(`INSERT ... ON CONFLICT DO UPDATE`), and rows whose key is gone are deleted, in one transaction.

Data streams as Arrow batches into `COPY ... FROM STDIN` (CSV): bounded memory whatever the size.
Types map to their PostgreSQL equivalents (decimal(p,s) -> numeric(p,s), timestamp ->
timestamp, timestamp with zone -> timestamptz, nested -> jsonb), so numbers stay exact.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa


@dataclass
class Published:
    table: str
    target_table: str
    rows: int
    mode: str


def pg_type(t: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_duration(t):
        return "interval"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    if pa.types.is_nested(t):
        return "jsonb"
    return "text"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _csv_batches(reader: pa.RecordBatchReader) -> Iterator[tuple[bytes, int]]:
    """CSV chunks for COPY: nested values as JSON text, binary as \\x hex."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in reader:
        columns = []
        for col, field in zip(batch.columns, batch.schema, strict=True):
            if pa.types.is_nested(field.type):
                columns.append(
                    pa.array(
                        [
                            None if v is None else json.dumps(v, default=str)
                            for v in col.to_pylist()
                        ],
                        pa.string(),
                    )
                )
            elif pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
                columns.append(
                    pa.array(
                        [None if v is None else "\\x" + v.hex() for v in col.to_pylist()],
                        pa.string(),
                    )
                )
            elif pa.types.is_timestamp(field.type) and field.type.tz:
                # ISO text with the offset, which PostgreSQL parses into timestamptz
                # Arrow's %S includes the fraction of a second
                columns.append(pc.strftime(col, format="%Y-%m-%dT%H:%M:%S%z"))
            else:
                columns.append(col)
        buf = io.BytesIO()
        pacsv.write_csv(pa.RecordBatch.from_arrays(columns, names=batch.schema.names), buf, options)
        yield buf.getvalue(), batch.num_rows


def _create(cur: psycopg.Cursor, table: str, schema: pa.Schema, key: list[str]) -> None:
    cols = ", ".join(f"{_ident(f.name)} {pg_type(f.type)}" for f in schema)
    pk = f", PRIMARY KEY ({', '.join(_ident(k) for k in key)})" if key else ""
    cur.execute(f"CREATE TABLE {table} ({cols}{pk})".encode())


def _columns(cur: psycopg.Cursor, schema_name: str, table: str) -> list[tuple[str, str]]:
    cur.execute(
        "SELECT column_name, data_type || coalesce(numeric_precision::text, '') "
        "|| coalesce(numeric_scale::text, '') FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema_name, table),
    )
    return [(r[0], r[1]) for r in cur.fetchall()]


def _dependent_views(cur: psycopg.Cursor, schema_name: str, table: str) -> list[str]:
    cur.execute(
        "SELECT DISTINCT v.table_schema || '.' || v.table_name "
        "FROM information_schema.view_table_usage v "
        "WHERE v.table_schema IS NOT NULL AND v.view_schema IS NOT NULL "
        "AND v.table_schema = %s AND v.table_name = %s",
        (schema_name, table),
    )
    return [r[0] for r in cur.fetchall()]


def _copy(cur: psycopg.Cursor, table: str, schema: pa.Schema, reader: pa.RecordBatchReader) -> int:
    cols = ", ".join(_ident(f.name) for f in schema)
    rows = 0
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)".encode()) as copy:
        for chunk, n in _csv_batches(reader):
            copy.write(chunk)
            rows += n
    return rows


def publish_table(
    conn: psycopg.Connection,
    *,
    schema_name: str,
    name: str,
    reader: pa.RecordBatchReader,
    mode: str,
    key: list[str],
    comment: str,
) -> int:
    """Load `reader` into `schema_name.name` (replace or merge), in one transaction. Returns
    the rows loaded. On any error the transaction rolls back: the old table stays as it was."""
    schema = reader.schema
    target = f"{_ident(schema_name)}.{_ident(name)}"
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema_name)}".encode())
        if mode == "replace":
            staging = f"{_ident(schema_name)}.{_ident('__medallion_load_' + name)}"
            cur.execute(f"DROP TABLE IF EXISTS {staging}".encode())
            _create(cur, staging, schema, key)
            rows = _copy(cur, staging, schema, reader)
            if _columns(cur, schema_name, name) == _columns(
                cur, schema_name, "__medallion_load_" + name
            ):
                # same shape: swap the rows, so views and grants on the table stay valid
                cur.execute(f"TRUNCATE {target}".encode())
                cur.execute(f"INSERT INTO {target} SELECT * FROM {staging}".encode())
                cur.execute(f"DROP TABLE {staging}".encode())
            else:
                dependents = _dependent_views(cur, schema_name, name)
                if dependents:
                    from medallion.errors import PublishError

                    raise PublishError(
                        f"{schema_name}.{name} changed shape, and views depend on it: "
                        + ", ".join(dependents),
                        hint="drop or adapt those views, or publish with mode: merge",
                    )
                cur.execute(f"DROP TABLE IF EXISTS {target}".encode())
                cur.execute(f"ALTER TABLE {staging} RENAME TO {_ident(name)}".encode())
        else:
            cur.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = %s",
                (schema_name, name),
            )
            if cur.fetchone() is None:
                _create(cur, target, schema, key)
            staging = _ident("__medallion_merge_" + name)
            cur.execute(
                f"CREATE TEMP TABLE {staging} (LIKE {target} INCLUDING DEFAULTS) "
                "ON COMMIT DROP".encode()
            )
            rows = _copy(cur, staging, schema, reader)
            cols = [f.name for f in schema]
            keys = ", ".join(_ident(k) for k in key)
            updates = (
                ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in cols if c not in key)
                or f"{_ident(key[0])} = EXCLUDED.{_ident(key[0])}"
            )
            col_list = ", ".join(_ident(c) for c in cols)
            cur.execute(
                f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {staging} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {updates}".encode()
            )
            match = " AND ".join(f"s.{_ident(k)} = t.{_ident(k)}" for k in key)
            cur.execute(
                f"DELETE FROM {target} t WHERE NOT EXISTS "
                f"(SELECT 1 FROM {staging} s WHERE {match})".encode()
            )
        from psycopg import sql

        cur.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.SQL(target), sql.Literal(comment))
        )
    return rows
