"""`medallion query`: read-only SQL over the lakehouse, streamed out as Arrow batches.

The query's tables are resolved like a model's (`<layer>.<name>`, known tables and view models
only) and attached through medallion.engine.attach, at their latest versions or `as_of` a version
or a time; only read-only statements (SELECT, DESCRIBE, SUMMARIZE) run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from medallion.engine import attach
from medallion.errors import AccessDeniedError, QueryError, StorageError, first_line
from medallion.governance.read import version_exists

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.engine.base import Engine, Interrupt
    from medallion.governance.audit import AuditLog
    from medallion.governance.read import Context
    from medallion.state.identities import Identity
    from medallion.workspace import Workspace

#: DESCRIBE / SUMMARIZE a table or a query: checked as the SELECT they look at
_LOOKED_AT = re.compile(r"\s*(?:describe|summarize)\s+(.*?)[\s;]*", re.I | re.S)


def query_reader(
    ws: Workspace,
    sql: str,
    as_of: int | str | datetime | None = None,
    *,
    user: Identity | None = None,
    audit: AuditLog | None = None,
    context: Context | None = None,
    params: Sequence[object] | None = None,
    interrupt: Interrupt | None = None,
) -> pa.RecordBatchReader:
    """The query's result as a stream; the engine closes once the stream is consumed. With a
    `user`, the query is that user's: allow-list, policy and audit (governance.read).
    `interrupt` is bound to the engine that runs the query (pressing it stops the query)."""
    if user is not None:
        from medallion.governance.read import user_reader

        assert audit is not None, "a user's query is audited"
        return user_reader(ws, sql, user, audit, as_of, context, params, interrupt)
    if params:
        raise QueryError("parameters are for a user's query (the SQL endpoint)")
    from medallion.models.sql import is_read_only, parse_select, resolve_refs, statement_kinds

    writes = [kind for kind in statement_kinds(sql) if kind != "SELECT"]
    if writes:  # said as what it is, before DuckDB's parser calls it a syntax error
        raise QueryError(
            "medallion query is read-only: it runs SELECT, DESCRIBE and SUMMARIZE, "
            f"not {writes[0]}",
            hint="tables change through their models and sources (`medallion run`); "
            "`medallion restore` undoes a version; `query --output FILE` writes rows to a file",
        )
    looked_at = _LOOKED_AT.fullmatch(sql)
    checked = sql
    if looked_at is not None:
        target = looked_at.group(1)
        is_name = re.fullmatch(r'[\w."]+', target) is not None  # a table: what it looks at
        checked = _select_all(target) if is_name else target
    tree = parse_select(checked, error=QueryError, subject="a query")
    if not is_read_only(tree):
        raise QueryError("only read-only queries (SELECT, DESCRIBE, SUMMARIZE) are allowed")
    models = ws.models_or_empty()
    known = set(ws.catalog.tables()) | {fqn for fqn, m in models.items() if m.kind == "view"}
    unbuilt = {fqn: "landed" for fqn in ws.source_tables} | {fqn: "built" for fqn in models}
    refs = resolve_refs(
        tree,
        sql=checked,
        layers=ws.config.layers,
        known=known,
        error=QueryError,
        unbuilt={fqn: verb for fqn, verb in unbuilt.items() if fqn not in known},
    )
    engine = ws.read_engine()
    if interrupt is not None:
        interrupt.bind(engine)
    try:
        lh = ws.lakehouse
        if as_of is not None:
            version_exists(lh, refs, as_of)
            attach.as_of(engine, lh, refs, as_of)
        for ref in refs:
            attach.readable(engine, lh, ref, reader="query")
        confined = not ws.config.query.outside_files
        if confined:
            attach.confine(engine)
        try:
            rel = engine.relation(sql)
        except Exception as e:
            if confined and "Permission Error" in str(e):
                raise _outside(e) from None
            raise
        return _closing_reader(engine.reader(rel), engine)
    except (QueryError, AccessDeniedError, StorageError):  # said well already (a damaged table)
        engine.close()
        raise
    except Exception as e:
        engine.close()
        raise QueryError(first_line(e), hint="the query runs on DuckDB SQL") from None


def _outside(e: Exception) -> QueryError:
    """The query reads a file (or URL) outside the lakehouse in a project that confines it."""
    m = re.search(r'Cannot access \w+ "([^"]*)"', str(e))
    what = m.group(1) if m else "files"
    return QueryError(
        f"queries of this project read its tables only (query.outside_files: false), not {what}",
        key="query.outside_files",
        hint="land the file through a source (sources: in medallion.yml) and query its table; "
        "`query: {outside_files: true}` in medallion.yml lets queries read any file",
    )


def _select_all(name: str) -> str:
    """SELECT * FROM the table `name` (as the user wrote it, quoted or not)."""
    import sqlglot
    import sqlglot.expressions as exp

    from medallion.sqltree import render, select_star

    try:
        table = sqlglot.parse_one(name, into=exp.Table, dialect="duckdb")
    except sqlglot.errors.ParseError:
        raise QueryError(f"{name!r} is not a table name") from None
    return render(select_star(table))


def _closing_reader(reader: pa.RecordBatchReader, engine: Engine) -> pa.RecordBatchReader:
    """A reader that closes the engine once consumed (the engine must outlive the stream)."""
    import pyarrow as pa

    def batches():
        try:
            yield from reader
        except Exception as e:
            # an error while the rows stream (a cast that fails on row 200,000, error()) comes
            # out of DuckDB's Arrow stream as a bare OSError: it is the query's, not a file's
            raise QueryError(first_line(e), hint="the query runs on DuckDB SQL") from None
        finally:
            engine.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
