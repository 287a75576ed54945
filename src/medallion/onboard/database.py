"""A project made from a database (`medallion init DIR --from postgresql://...` or `mysql://`):
one database source per table, through the connectors the sources use.

A database says what a folder of files only hints at, so nothing is sampled: the catalog
(`information_schema`) gives each table's columns and types, its primary key (the staging
model's `unique_key`), its foreign keys (`relationships` checks) and a cursor for incremental
reads (a timestamp column named like `updated_at`). The password is never written into
medallion.yml: the DSN there reads it from the environment (`${PGPASSWORD}`, `${MYSQL_PASSWORD}`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from medallion.errors import SourceError, mask_dsn

if TYPE_CHECKING:
    from medallion.ingest.files.infer import InferredSource

#: the environment variable the written DSN takes its password from, per database kind
PASSWORD_VARIABLE = {"postgres": "PGPASSWORD", "mysql": "MYSQL_PASSWORD"}
#: timestamp columns that grow with every insert and update: an incremental cursor
_CURSOR_NAME = re.compile(r"^(updated_at|updated|modified_at|modified|last_modified|last_update)$")
_TEXT_TYPES = ("char", "text", "varchar", "character varying", "character", "enum", "citext")
_TIME_TYPES = ("timestamp", "datetime", "timestamp without time zone", "timestamp with time zone")

#: the schemas whose tables are listed ({a}: the alias of the view filtered)
_SCHEMAS = {
    "postgres": "{a}.table_schema NOT IN ('pg_catalog', 'information_schema') "
    "AND {a}.table_schema NOT LIKE 'pg_%'",
    "mysql": "{a}.table_schema = database()",
}

_COLUMNS = """
SELECT c.table_schema, c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE t.table_type = 'BASE TABLE' AND {schemas}
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""

_PRIMARY_KEYS = """
SELECT k.table_schema, k.table_name, k.column_name
FROM information_schema.table_constraints c
JOIN information_schema.key_column_usage k
  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
 AND k.table_name = c.table_name
WHERE c.constraint_type = 'PRIMARY KEY' AND {schemas}
"""

#: (schema, table, column) -> (schema, table, column) of single-column foreign keys
_FOREIGN_KEYS = {
    "postgres": """
SELECT k.table_schema, k.table_name, k.column_name, u.table_schema, u.table_name, u.column_name
FROM information_schema.table_constraints c
JOIN information_schema.key_column_usage k
  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
JOIN information_schema.constraint_column_usage u
  ON u.constraint_schema = c.constraint_schema AND u.constraint_name = c.constraint_name
WHERE c.constraint_type = 'FOREIGN KEY' AND {schemas}
""",
    "mysql": """
SELECT k.table_schema, k.table_name, k.column_name, k.referenced_table_schema,
       k.referenced_table_name, k.referenced_column_name
FROM information_schema.key_column_usage k
JOIN information_schema.table_constraints c
  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
 AND k.table_name = c.table_name
WHERE c.constraint_type = 'FOREIGN KEY' AND {schemas}
""",
}


def kind_of(source: str) -> str | None:
    """postgres | mysql for a DSN `--from` names, None for a path."""
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    if scheme in ("mysql", "mariadb"):
        return "mysql"
    if scheme:
        raise SourceError(
            f"--from {mask_dsn(source)}: {scheme}:// is not a database medallion reads",
            hint="--from takes a folder of files, a postgresql:// or a mysql:// DSN",
        )
    return None


def written_dsn(dsn: str, kind: str) -> str:
    """The DSN as medallion.yml holds it: its password replaced by `${PGPASSWORD}` (or
    `${MYSQL_PASSWORD}`)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:${{{PASSWORD_VARIABLE[kind]}}}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def infer_database(dsn: str, kind: str) -> list[InferredSource]:
    """One source per table of the database, with its key, relationships and cursor."""
    from medallion.connectors.retry import Classified
    from medallion.ingest.files.infer import Relationship, source_name

    try:
        columns, keys, foreign = _catalog(dsn, kind)
    except Classified as e:
        raise SourceError(
            f"cannot read the tables of {mask_dsn(dsn)}: {e.message}", hint=e.hint
        ) from None
    if not columns:
        raise SourceError(
            f"{mask_dsn(dsn)} has no tables",
            hint="check the database name in the DSN and that the user can see its tables",
        )
    names: dict[tuple[str, str], str] = {}
    for schema, table in columns:
        name = source_name(table)
        if name in names.values():
            name = source_name(f"{schema}_{table}")
        names[(schema, table)] = name
    sources = [
        _source(names[t], kind, dsn, t, cols, keys.get(t, [])) for t, cols in columns.items()
    ]
    by_table = dict(zip(columns, sources, strict=True))
    for (schema, table, column), (to_schema, to_table, to_column) in foreign.items():
        src, target = by_table.get((schema, table)), by_table.get((to_schema, to_table))
        if src is None or target is None or target.key != to_column:
            continue
        why = f"{column} -> {target.name}.{to_column} (a foreign key)"
        src.relationships.append(Relationship(column, target.name, to_column, why))
        src.notes.append(f"relationship {why}")
    return sources


def _catalog(
    dsn: str, kind: str
) -> tuple[
    dict[tuple[str, str], list[tuple[str, str]]],
    dict[tuple[str, str], list[str]],
    dict[tuple[str, str, str], tuple[str, str, str]],
]:
    rows = _query(
        dsn,
        kind,
        [
            _COLUMNS.format(schemas=_SCHEMAS[kind].format(a="c")),
            _PRIMARY_KEYS.format(schemas=_SCHEMAS[kind].format(a="k")),
            _FOREIGN_KEYS[kind].format(schemas=_SCHEMAS[kind].format(a="k")),
        ],
    )
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows[0]:
        columns.setdefault((schema, table), []).append((column, str(data_type).lower()))
    keys: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows[1]:
        keys.setdefault((schema, table), []).append(column)
    foreign: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for schema, table, column, to_schema, to_table, to_column in rows[2]:
        seen[(schema, table, column)] = seen.get((schema, table, column), 0) + 1
        foreign[(schema, table, column)] = (to_schema, to_table, to_column)
    # a composite key is left to the user: a staging model here keys on one column
    keys = {t: cols for t, cols in keys.items() if len(cols) == 1}
    return columns, keys, {k: v for k, v in foreign.items() if seen[k] == 1}


def _query(dsn: str, kind: str, statements: list[str]) -> list[list[tuple[Any, ...]]]:
    from medallion.connectors import mysql, postgres

    connector = postgres if kind == "postgres" else mysql
    try:
        conn = connector.connect(dsn)
    except Exception as e:
        raise connector.classify(e) from None
    try:
        out = []
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                out.append(list(cur.fetchall()))
        return out
    except Exception as e:
        raise connector.classify(e) from None
    finally:
        conn.close()


def _source(
    name: str,
    kind: str,
    dsn: str,
    table: tuple[str, str],
    columns: list[tuple[str, str]],
    key: list[str],
) -> InferredSource:
    from medallion.ingest.files.infer import Column, InferredSource

    schema, table_name = table
    qualified = f"{schema}.{table_name}" if kind == "postgres" else table_name
    src = InferredSource(name, kind, [], [])
    src.options = {"type": kind, "dsn": written_dsn(dsn, kind), "table": qualified}
    if urlsplit(dsn).password is not None:
        src.secrets.append(PASSWORD_VARIABLE[kind])
    src.notes.append(f"table {qualified}")
    for column, data_type in columns:
        text = data_type.startswith(_TEXT_TYPES)
        src.columns.append(
            Column(
                column,
                "VARCHAR" if text else data_type.upper(),
                None,
                "trim" if text else "none",
                why=data_type,
            )
        )
    cursor = next(
        (c for c, t in columns if _CURSOR_NAME.match(c.lower()) and t.startswith(_TIME_TYPES)),
        None,
    )
    if cursor:
        src.options["cursor"] = cursor
        src.notes.append(f"cursor {cursor} (a timestamp named like a change time): incremental")
    else:
        src.notes.append("no cursor (no updated_at-like timestamp): every run reads the table")
    if key:
        src.key = key[0]
        src.options["primary_key"] = key[0]
        src.notes.append(f"key {key[0]} (the primary key)")
    else:
        src.notes.append("no single-column primary key: silver keeps distinct rows")
    return src
