"""Publish targets: copy chosen tables to a warehouse database after a run (or on demand).

Each table is published as one step of a run (kind `publish`), so the run log shows what was
published where and when. A table whose Delta version was already published to a target is
skipped, once the target confirms it still holds that copy (the table's comment names the
version, its row count is the version's). The Delta version published is recorded in the
state database and in the target table's comment. With `access:` in medallion.yml, each
table gets its grants, row filter and masks in the transaction that loads it, and a last step
per target (`access.<target>`) brings every table and role of the target to the policy
(publish/access.py).
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from medallion.errors import ConfigError, PublishError
from medallion.state.records import StepResult

if TYPE_CHECKING:
    import psycopg

    from medallion.config.schema import PublishTable, PublishTarget
    from medallion.publish.access import Published, WarehouseAccess
    from medallion.state.runlog import RunLog
    from medallion.workspace import Workspace


def plan(ws: Workspace, target: PublishTarget, name: str) -> list[PublishTable]:
    """The target's entries with `layer.*` patterns expanded to the tables in storage."""
    from medallion.config.names import QUARANTINE_SUFFIX
    from medallion.config.schema import PublishTable

    stored = [t for t in ws.catalog.tables() if not t.endswith(QUARANTINE_SUFFIX)]
    known = set(stored) | set(ws.models) | set(ws.source_tables)
    out: list[PublishTable] = []
    for entry in target.entries():
        if any(ch in entry.table for ch in "*?["):
            matches = [t for t in stored if fnmatch.fnmatchcase(t, entry.table)]
            out.extend(entry.model_copy(update={"table": t}) for t in matches)
        elif entry.table not in known:
            from medallion.errors import suggest

            guess = suggest(entry.table, sorted(known))
            raise ConfigError(
                f"publish.{name} names unknown table {entry.table}",
                key=f"publish.{name}.tables",
                hint=f"did you mean {guess}?" if guess else "tables are <layer>.<name>",
            )
        else:
            out.append(PublishTable.model_validate(entry.model_dump()))
    return out


def publish_step(
    ws: Workspace,
    target_name: str,
    target: PublishTarget,
    entry: PublishTable,
    run_id: str,
    res: StepResult,
    *,
    force: bool = False,
) -> None:
    """Publish one table to one target (a step of a run)."""
    from medallion.connectors import postgres
    from medallion.connectors.retry import retrying
    from medallion.engine import attach
    from medallion.errors import mask_dsn
    from medallion.publish.postgres import publish_table
    from medallion.sqltree import select_star, table
    from medallion.storage import snapshot

    fqn = entry.table
    if not ws.catalog.exists(fqn):
        raise PublishError(
            f"{fqn} has not been built yet", hint=f"medallion run --select +{fqn.split('.', 1)[1]}"
        )
    snap = snapshot.snapshot(ws.catalog.path(fqn))
    name = entry.name or fqn.split(".", 1)[1]
    last = ws.state.published_version(target_name, fqn)
    changed = None
    if last == snap.version and not force:
        # the log says this version is there; the warehouse is asked too: a table dropped or
        # edited there since is published again, not reported as done. Asked once: a
        # warehouse that cannot answer leaves the step as it was before (nothing to copy)
        try:
            changed = _warehouse_differs(target, name, fqn, snap.version, snap.rows)
        except Exception as e:
            message = postgres.classify(e).message
            res.note = (
                f"v{snap.version} already published (not confirmed: the warehouse did not "
                f"answer: {message})"
            )
            res.rows_written = 0
            return
        if changed is None:
            res.note = f"v{snap.version} already published"
            res.rows_written = 0
            return

    secure = release = None
    if ws.config.access is not None:
        from medallion.publish.access import Published, WarehouseAccess

        warehouse = WarehouseAccess(ws.config.access, ws.config.name, target.schema_name)
        published = Published(fqn, target.schema_name, name, snap.schema)

        def secure(cur: psycopg.Cursor) -> None:
            warehouse.apply(cur, published)

        def release(cur: psycopg.Cursor) -> None:
            warehouse.release(cur, published)

    def load() -> int:
        conn = postgres.connect(target.dsn)
        try:
            engine = ws.new_engine()
            try:
                attach.table(engine, ws.lakehouse, fqn, snap.version)
                reader = engine.reader(engine.relation(select_star(table(fqn))))
                return publish_table(
                    conn,
                    schema_name=target.schema_name,
                    name=name,
                    reader=reader,
                    mode=entry.mode,
                    key=entry.key,
                    comment=f"{fqn} v{snap.version}, published by medallion run {run_id}",
                    secure=secure,
                    release=release,
                )
            finally:
                engine.close()
        finally:
            conn.close()

    rows = retrying(
        load,
        classify=postgres.classify,
        retries=target.retries,
        backoff=target.retry_backoff,
        what=f"publishing {fqn} to {target_name} ({mask_dsn(target.dsn)})",
        error=PublishError,
    )
    ws.state.set_published(target_name, fqn, snap.version, rows, run_id)
    res.rows_read = snap.rows
    res.rows_written = rows
    res.details = {
        "target": target_name,
        "table": f"{target.schema_name}.{name}",
        "mode": entry.mode,
        "version": snap.version,
    }
    res.note = f"-> {target.schema_name}.{name} ({entry.mode})" + (
        f"; published again: {changed}" if changed else ""
    )


def _warehouse_differs(
    target: PublishTarget, name: str, fqn: str, version: int, rows: int | None
) -> str | None:
    """Why the warehouse's copy of `fqn` is not version `version` as published (missing, replaced
    by another, rows added or deleted there); None when it is."""
    from medallion.connectors import postgres
    from medallion.publish.postgres import published_copy

    conn = postgres.connect(target.dsn)
    try:
        found = published_copy(conn, target.schema_name, name)
    finally:
        conn.close()
    where = f"{target.schema_name}.{name}"
    if found is None:
        return f"{where} was not in the warehouse"
    comment, n = found
    if not comment.startswith(f"{fqn} v{version},"):
        return f"{where} is not the copy medallion published"
    if rows is not None and n != rows:
        return f"{where} holds {n:,} rows, the published version {rows:,}"
    return None


def publish(
    ws: Workspace,
    log: RunLog,
    *,
    targets: list[str] | None = None,
    tables: list[str] | None = None,
    only_after_run: bool = False,
    force: bool = False,
) -> None:
    """Publish steps into the run `log` for the chosen targets (all, or only those with
    after_run), limited to `tables` if given."""
    chosen = targets or list(ws.config.publish)
    for name in chosen:
        if name not in ws.config.publish:
            raise ConfigError(
                f"no publish target named {name!r}",
                hint="targets: " + ", ".join(ws.config.publish) or "none configured",
            )
    plans = {
        name: plan(ws, ws.config.publish[name], name)
        for name in chosen
        if not only_after_run or ws.config.publish[name].after_run
    }
    published = {entry.table for entries in plans.values() for entry in entries}
    unknown = [t for t in tables or [] if t not in published]
    if unknown and not only_after_run:
        from medallion.errors import SelectionError, suggest

        guess = suggest(unknown[0], sorted(published))
        raise SelectionError(
            f"--table {unknown[0]}: no target chosen publishes it",
            hint=(f"did you mean {guess}? " if guess else "")
            + f"published: {', '.join(sorted(published)) or 'nothing'}",
        )
    # the ${VAR}s (a DSN) of the targets that publish something now must be set
    used = [
        n for n, entries in plans.items() if any(not tables or e.table in tables for e in entries)
    ]
    ws.config.require_env([("publish", name) for name in used])
    for name, entries in plans.items():
        target = ws.config.publish[name]
        chosen_entries = [e for e in entries if not tables or e.table in tables]
        for entry in chosen_entries:
            log.step(
                entry.table,
                "publish",
                lambda res, name=name, target=target, entry=entry: publish_step(
                    ws, name, target, entry, log.run_id, res, force=force
                ),
            )
        if chosen_entries and ws.config.access is not None:
            # every table of the target, also those skipped as unchanged: access: may have
            # changed without them
            log.step(
                f"access.{name}",
                "publish",
                lambda res, name=name, target=target, entries=entries: access_step(
                    ws, name, target, entries, res
                ),
            )


def access_step(
    ws: Workspace,
    target_name: str,
    target: PublishTarget,
    entries: list[PublishTable],
    res: StepResult,
) -> None:
    """Bring the target's roles, grants, row security policies and masked views to the
    project's `access:` (publish/access.py), in one transaction."""
    from medallion.connectors import postgres
    from medallion.connectors.retry import retrying
    from medallion.errors import mask_dsn

    warehouse, tables, notes = _warehouse_tables(ws, target_name, target, entries)

    def converge() -> list[str]:
        conn = postgres.connect(target.dsn)
        try:
            return warehouse.converge(conn, tables)
        finally:
            conn.close()

    notes += retrying(
        converge,
        classify=postgres.classify,
        retries=target.retries,
        backoff=target.retry_backoff,
        what=f"publishing the access policy to {target_name} ({mask_dsn(target.dsn)})",
        error=PublishError,
    )
    res.rows_written = 0
    res.details = {
        "target": target_name,
        "roles": sorted(warehouse.role(g) for g in warehouse.groups()),
        "tables": [f"{t.schema_name}.{t.name}" for t in tables],
        "notes": notes,
    }
    res.note = f"access: {len(warehouse.groups())} role(s), {len(tables)} table(s)" + (
        "; " + "; ".join(notes) if notes else ""
    )


def _warehouse_tables(
    ws: Workspace, target_name: str, target: PublishTarget, entries: list[PublishTable]
) -> tuple[WarehouseAccess, list[Published], list[str]]:
    """The target's access policy and its published tables (columns as published)."""
    from medallion.publish.access import Published, WarehouseAccess
    from medallion.storage import snapshot

    access = ws.config.access
    assert access is not None
    warehouse = WarehouseAccess(access, ws.config.name, target.schema_name)
    tables: list[Published] = []
    notes: list[str] = []
    for entry in entries:
        version = ws.state.published_version(target_name, entry.table)
        if version is None or not ws.catalog.exists(entry.table):
            notes.append(f"{entry.table} is not published yet")
            continue
        columns = snapshot.snapshot(ws.catalog.path(entry.table), version).schema
        name = entry.name or entry.table.split(".", 1)[1]
        tables.append(Published(entry.table, target.schema_name, name, columns))
    return warehouse, tables, notes


def grants_sql(ws: Workspace, targets: list[str] | None = None) -> str:
    """The SQL that publishing sets `access:` up with in each chosen target, from scratch, for
    review (`medallion publish --print-grants`); nothing is applied. The logins of the state
    database's viewers follow as comments: a DBA makes them (passwords never leave medallion)."""
    from medallion.publish.access import Published, WarehouseAccess, login_sql
    from medallion.state.identities import Identities
    from medallion.storage import snapshot

    if ws.config.access is None:
        raise ConfigError(
            "no access: in medallion.yml, so publishing sets no grants",
            hint="declare access: grants (README: Access control)",
        )
    chosen = targets or list(ws.config.publish)
    out: list[str] = []
    for name in chosen:
        if name not in ws.config.publish:
            raise ConfigError(
                f"no publish target named {name!r}",
                hint="targets: " + (", ".join(ws.config.publish) or "none configured"),
            )
        target = ws.config.publish[name]
        warehouse = WarehouseAccess(ws.config.access, ws.config.name, target.schema_name)
        tables = [
            Published(
                e.table,
                target.schema_name,
                e.name or e.table.split(".", 1)[1],
                snapshot.snapshot(ws.catalog.path(e.table)).schema,
            )
            for e in plan(ws, target, name)
            if ws.catalog.exists(e.table)
        ]
        out.append(f"-- publish target {name}: schema {target.schema_name}")
        out += [s + ";" for s in warehouse.statements(tables)]
        users = Identities(ws.state).list()
        out += ["-- logins (a DBA runs these, with a password of the user's choosing):"]
        out += ["-- " + s + ";" for s in login_sql(warehouse, users)]
    return "\n".join(out) + "\n"
