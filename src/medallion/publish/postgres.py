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
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa
    from psycopg import sql


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


def _names(names: list[str]) -> sql.Composable:
    from psycopg import sql

    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _create(cur: psycopg.Cursor, table: sql.Composable, schema: pa.Schema, key: list[str]) -> None:
    from psycopg import sql

    # pg_type() names come from a fixed list of PostgreSQL type names
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.type))) for f in schema
    ]
    if key:
        columns.append(sql.SQL("PRIMARY KEY ({})").format(_names(key)))
    cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(columns)))


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


def _copy(
    cur: psycopg.Cursor, table: sql.Composable, schema: pa.Schema, reader: pa.RecordBatchReader
) -> int:
    from psycopg import sql

    rows = 0
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(table, _names(schema.names))
    with cur.copy(query) as copy:
        for chunk, n in _csv_batches(reader):
            copy.write(chunk)
            rows += n
    return rows


def published_copy(conn: psycopg.Connection, schema_name: str, name: str) -> tuple[str, int] | None:
    """(comment, rows) of the table as the warehouse holds it now; None when it is not there."""
    from psycopg import sql

    with conn.cursor() as cur:
        cur.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class'), to_regclass(%s) IS NOT NULL",
            [str(sql.Identifier(schema_name, name).as_string(conn))] * 2,
        )
        comment, exists = cur.fetchone() or (None, False)
        if not exists:
            return None
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema_name, name)))
        row = cur.fetchone()
    conn.rollback()  # nothing to keep open
    return comment or "", int(row[0]) if row else 0


def publish_table(
    conn: psycopg.Connection,
    *,
    schema_name: str,
    name: str,
    reader: pa.RecordBatchReader,
    mode: str,
    key: list[str],
    comment: str,
    secure: Callable[[psycopg.Cursor], None] | None = None,
    release: Callable[[psycopg.Cursor], None] | None = None,
) -> int:
    """Load `reader` into `schema_name.name` (replace or merge), in one transaction. Returns
    the rows loaded. On any error the transaction rolls back: the old table stays as it was.
    `secure` gives the loaded table its access policy in that transaction (publish/access.py);
    `release` drops what of it depends on the table before a table of a new shape replaces it."""
    from psycopg import sql

    schema = reader.schema
    target = sql.Identifier(schema_name, name)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema_name)))
        if mode == "replace":
            staging_name = "__medallion_load_" + name
            staging = sql.Identifier(schema_name, staging_name)
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
            _create(cur, staging, schema, key)
            rows = _copy(cur, staging, schema, reader)
            if _columns(cur, schema_name, name) == _columns(cur, schema_name, staging_name):
                # same shape: swap the rows, so views and grants on the table stay valid
                cur.execute(sql.SQL("TRUNCATE {}").format(target))
                cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, staging))
                cur.execute(sql.SQL("DROP TABLE {}").format(staging))
            else:
                if release is not None:
                    release(cur)
                dependents = _dependent_views(cur, schema_name, name)
                if dependents:
                    from medallion.errors import PublishError

                    raise PublishError(
                        f"{schema_name}.{name} changed shape, and views depend on it: "
                        + ", ".join(dependents),
                        hint="drop or adapt those views, or publish with mode: merge",
                    )
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
                cur.execute(
                    sql.SQL("ALTER TABLE {} RENAME TO {}").format(staging, sql.Identifier(name))
                )
        else:
            cur.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = %s",
                (schema_name, name),
            )
            if cur.fetchone() is None:
                _create(cur, target, schema, key)
            staging = sql.Identifier("__medallion_merge_" + name)
            cur.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    staging, target
                )
            )
            rows = _copy(cur, staging, schema, reader)
            cols = [f.name for f in schema]
            updates = [
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in cols
                if c not in key
            ] or [
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(key[0]), sql.Identifier(key[0]))
            ]
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}"
                ).format(
                    target,
                    _names(cols),
                    _names(cols),
                    staging,
                    _names(key),
                    sql.SQL(", ").join(updates),
                )
            )
            match = sql.SQL(" AND ").join(
                sql.SQL("s.{} = t.{}").format(sql.Identifier(k), sql.Identifier(k)) for k in key
            )
            cur.execute(
                sql.SQL("DELETE FROM {} t WHERE NOT EXISTS (SELECT 1 FROM {} s WHERE {})").format(
                    target, staging, match
                )
            )
        cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(comment)))
        if secure is not None:
            secure(cur)
    return rows
