"""A user's read: the allow-list, the policy applied where tables are attached, the DuckDB
session locked, the audit written. Every path medallion serves to a user comes through here
(`medallion query --as`, the SQL endpoint, the HTTP API); pipeline runs do not (they read as
the project).

    admitted = allowlist.admit(sql)              # one SELECT over granted layer.table names
    engine: attach each table through UserPolicy # masks + row filter, any version (--as-of)
    engine.confine()                             # external access off, configuration locked
    run the checked tree (not the text)          # -> a RecordBatchReader; audited when read
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medallion.config.access import AccessConfig
from medallion.config.names import is_quarantine, owner
from medallion.errors import AccessDeniedError, MedallionError, QueryError, first_line
from medallion.governance import allowlist
from medallion.governance.policy import SYSTEM_READERS, UserPolicy

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.engine.attach import Lakehouse
    from medallion.engine.base import Engine, Interrupt
    from medallion.governance.audit import AuditLog
    from medallion.state.identities import Identity
    from medallion.workspace import Workspace


@dataclasses.dataclass(frozen=True)
class Context:
    """Where a read comes from, for the audit."""

    service: str = "cli"
    client: str | None = None
    session: str | None = None
    source: str | None = None


def access_of(ws: Workspace) -> AccessConfig:
    """The project's access policy (none configured: no grants, no masks — viewers read
    nothing, the roles that read everything read it in clear)."""
    return ws.config.access or AccessConfig()


def orphans(ws: Workspace) -> frozenset[str]:
    """Stored tables that no model or source defines any more (dbt leaves such tables in the
    warehouse; here they are not served to readers other than admins, `medallion drop` removes
    them), with their quarantine tables. Empty while the models do not load: a model file
    being edited is not a model removed, and refusing every table for it would stop all reads."""
    from medallion.errors import ModelError

    try:
        models = ws.models
    except ModelError:
        return frozenset()
    defined = set(models) | set(ws.source_tables)
    return frozenset(t for t in ws.catalog.tables() if owner(t) not in defined)


def policy_of(ws: Workspace, user: Identity) -> UserPolicy:
    """The read policy of `user`: the grants, masks and row filters of `access:`, and the
    orphan tables it does not serve."""
    return UserPolicy(access_of(ws), user, frozenset() if user.is_admin else orphans(ws))


def check_policy(ws: Workspace) -> None:
    """ConfigError naming the medallion.yml line of a grant, row filter or mask that names a
    table or column the project does not have (columns are checked for built tables)."""
    from medallion.governance.policy import check_names
    from medallion.storage import tables as delta

    access = ws.config.access
    if access is None:
        return
    named = set(access.row_filters) | {k.rsplit(".", 1)[0] for k in access.masks}
    names: dict[str, list[str] | None] = {}
    for fqn in [*ws.catalog.tables(), *ws.models_or_empty(), *ws.source_tables]:
        columns = None
        if fqn in named and ws.catalog.exists(fqn):
            columns = delta.schema(ws.catalog.path(fqn)).names
        names[fqn] = columns
    check_names(access, names)


def version_exists(lh: Lakehouse, refs: list[str], as_of: int | str | datetime) -> None:
    """QueryError saying which versions a table has when a query asks it for a version it does
    not have yet (Delta's own words are a kernel error about log segments)."""
    from medallion.engine import attach
    from medallion.storage import tables as delta

    target = attach.parse_as_of(as_of)
    bases = attach.base_tables(lh, refs)
    if not isinstance(target, int) or len(bases) != 1:
        return  # a time, or several tables: attach.as_of says what is wrong
    fqn = bases[0]
    try:
        latest = delta.open_table(lh.catalog.path(fqn)).version()
    except MedallionError:
        return  # no such table or a damaged one: attaching it says so
    if target > latest:
        raise QueryError(
            f"{fqn} has versions 0 to {latest}: there is no version {target}",
            hint=f"`medallion history {fqn}` lists its versions and when each was written",
        )


def known_tables(ws: Workspace) -> Callable[[str], bool]:
    """Whether a `layer.table` exists to be read (tables, view models, quarantine tables of
    either, system tables)."""
    stored = set(ws.catalog.tables())
    views = {fqn for fqn, m in ws.models_or_empty().items() if m.kind == "view"}
    owners = stored | set(ws.models_or_empty()) | set(ws.source_tables)

    def known(fqn: str) -> bool:
        if fqn in SYSTEM_READERS:
            return True
        if is_quarantine(fqn):
            return fqn in stored or owner(fqn) in owners
        return fqn in stored or fqn in views

    return known


def system_table(ws: Workspace, audit: AuditLog, fqn: str) -> pa.Table:
    """A system table's rows, as Arrow: the audit, or the run log's tables."""
    import pyarrow as pa

    if fqn == "system.access_audit":
        return audit.read()
    table = {"system.runs": "runs", "system.run_steps": "run_steps"}.get(fqn, "check_results")
    with ws.state.connect() as con:
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    return pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})


def user_reader(
    ws: Workspace,
    sql: str,
    user: Identity,
    audit: AuditLog,
    as_of: int | str | datetime | None = None,
    context: Context | None = None,
    params: Sequence[object] | None = None,
    interrupt: Interrupt | None = None,
) -> pa.RecordBatchReader:
    """`sql` read as `user`; AccessDeniedError (audited as denied) when the allow-list or the
    policy refuses it. `params` fill the statement's $1, $2 (or ?) as literals after the
    check. The audit row of a query that runs is written when its stream ends. `interrupt`
    is bound to the engine that runs the query (pressing it stops the query)."""
    ctx = context or Context()
    started = time.perf_counter()
    policy = policy_of(ws, user)
    request: dict[str, Any] = {"statement": sql}
    if as_of is not None:
        request["as_of"] = str(as_of)

    def record(status: str, rows: int | None = None, error: str | None = None) -> None:
        audit.record(
            user=user.name,
            action="query",
            status=status,
            service=ctx.service,
            request=request,
            rows=rows,
            error=error,
            duration_ms=(time.perf_counter() - started) * 1000,
            source=ctx.source,
            client=ctx.client,
            session=ctx.session,
        )

    engine: Engine | None = None
    try:
        check_policy(ws)  # a policy naming what does not exist is the admin's error, said first
        admitted = allowlist.admit(sql, policy.admits, known_tables(ws))
        request["tables"] = list(admitted.tables)
        admitted = allowlist.bind_user(admitted, user.name)
        if params:
            request["params"] = [str(p) for p in params]
            admitted = allowlist.bind_params(admitted, params)
        engine = ws.read_engine()
        if interrupt is not None:
            interrupt.bind(engine)
        lh = dataclasses.replace(ws.lakehouse, policy=policy)
        from medallion.engine import attach

        stored = [t for t in admitted.tables if t not in SYSTEM_READERS]
        if as_of is not None:
            version_exists(lh, stored, as_of)
            attach.as_of(engine, lh, stored, as_of)
        for fqn in stored:
            attach.readable(engine, lh, fqn, reader="query")
        for fqn in admitted.tables:
            if fqn in SYSTEM_READERS:
                engine.attach_data(fqn, system_table(ws, audit, fqn))
        request["policies"] = {t: p for t, p in policy.applied.items()}
        attach.confine(engine)
        rel = engine.relation(admitted.sql())
        reader = engine.reader(rel)
    except AccessDeniedError as e:
        if engine is not None:
            engine.close()
        record("denied", error=e.message)
        raise
    except MedallionError as e:
        if engine is not None:
            engine.close()
        record("error", error=e.message)
        raise
    except Exception as e:
        if engine is not None:
            engine.close()
        message = first_line(e)
        if "Permission Error" in message or "lock_configuration" in message:
            record("denied", error=message)
            raise allowlist.denied("it reaches outside the tables granted") from None
        record("error", error=message)
        raise QueryError(message, hint="the query runs on DuckDB SQL") from None
    return _audited(reader, engine, record)


def _audited(
    reader: pa.RecordBatchReader, engine: Engine, record: Callable[..., None]
) -> pa.RecordBatchReader:
    import pyarrow as pa

    def batches():
        rows = 0
        done = False
        try:
            for batch in reader:
                rows += batch.num_rows
                yield batch
        except Exception as e:
            done = True
            record("error", rows=rows, error=first_line(e))
            raise QueryError(first_line(e), hint="the query runs on DuckDB SQL") from None
        finally:
            engine.close()
            if not done:  # read to its end, or closed early (a client that stops reading)
                record("ok", rows=rows)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def readable_tables(ws: Workspace, user: Identity, audit: AuditLog) -> list[dict[str, Any]]:
    """The tables `user` may read, each with its columns and types as the user sees them
    (masked columns may change type: a hash is text): what a catalog listing may show."""
    policy = policy_of(ws, user)
    known = known_tables(ws)
    views = [fqn for fqn, m in ws.models_or_empty().items() if m.kind == "view"]
    names = [t for t in ws.catalog.tables() if policy.readable(t)]
    names += [fqn for fqn in views if policy.readable(fqn) and known(fqn)]
    names += [t for t in SYSTEM_READERS if policy.readable(t)]
    from medallion.engine import attach
    from medallion.sqltree import select_star, table

    out: list[dict[str, Any]] = []
    engine = ws.read_engine()
    lh = dataclasses.replace(ws.lakehouse, policy=policy)
    try:
        for fqn in names:
            try:
                if fqn in SYSTEM_READERS:
                    engine.attach_data(fqn, system_table(ws, audit, fqn))
                    schema = engine.schema_of(fqn)
                else:
                    attach.readable(engine, lh, fqn, reader="tables")
                    schema = engine.schema(engine.relation(select_star(table(fqn)).limit(0)))
            except MedallionError:
                continue  # a table its policy cannot apply to is not listed (it is refused)
            assert schema is not None
            out.append(
                {
                    "name": fqn,
                    "columns": [(f.name, f.type) for f in schema],
                    "view": fqn in views,
                }
            )
    finally:
        engine.close()
    return out


def visible_lineage(
    ws: Workspace, user: Identity, data: dict[str, Any], node: str | None
) -> dict[str, Any]:
    """`Project.lineage`'s answer with only the tables `user` may read: a listing shows no
    table the user could not query, not even as another table's input."""
    ok = policy_of(ws, user).readable

    def keep(value: Any) -> Any:
        return [n for n in value if ok(n)] if isinstance(value, list) else value

    if node is None:
        return {n: {k: keep(v) for k, v in entry.items()} for n, entry in data.items() if ok(n)}
    if not ok(data["node"]):
        raise AccessDeniedError(  # named as asked: `people` must not reveal `bronze.people`
            f"reading {node} is not allowed for {user.name}",
            hint="ask an admin for a grant on it (medallion.yml access.grants)",
        )
    return {k: keep(v) for k, v in data.items()}
