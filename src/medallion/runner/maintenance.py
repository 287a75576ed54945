"""Maintenance commands as logged runs: restore, optimize, vacuum, drop (of orphan tables).

Each holds the writer lock, is recorded as a run (trigger `restore`, `optimize`, `vacuum` or
`drop`)
with one step per table, so the audit trail shows who rewrote what, as it does for builds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medallion.config.durations import DEFAULT_RETENTION_HOURS
from medallion.errors import SelectionError, suggest
from medallion.runner.lock import WriterLock
from medallion.state.records import RunResult, StepResult
from medallion.state.runlog import RunLog
from medallion.storage import maintenance

if TYPE_CHECKING:
    from medallion.workspace import Workspace


def resolve_table(ws: Workspace, name: str) -> str:
    """A stored table from `layer.name`, a bare name, or a quarantine table's name."""
    tables = ws.catalog.tables()
    if name in tables:
        return name
    matches = [t for t in tables if t.split(".", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise SelectionError(f"{name!r} is ambiguous: {', '.join(matches)}", hint="add the layer")
    guess = suggest(name, tables + [t.split(".", 1)[1] for t in tables])
    raise SelectionError(
        f"no table named {name!r} in storage",
        hint=f"did you mean {guess!r}?" if guess else "`medallion tables` lists them",
    )


def orphans_named(ws: Workspace, names: list[str]) -> list[str]:
    """The orphan tables `names` name (a table no model or source defines any more), with
    their quarantine tables; SelectionError for a table that has a model, a source or is a
    view: `drop` never removes what the project defines (ModelError while the models do not
    load: an orphan cannot be told then)."""
    from medallion.config.names import owner
    from medallion.governance.read import orphans

    ws.models  # noqa: B018 -- raises ModelError when a model file does not load
    orphaned = orphans(ws)
    found: list[str] = []
    for name in names:
        if name in ws.models and ws.models[name].kind == "view":
            raise SelectionError(f"{name} is a view model, not a stored table: nothing to drop")
        table = resolve_table(ws, name)
        if table not in orphaned:
            raise SelectionError(
                f"{table} is defined by this project (a model or a source): `medallion drop` "
                "removes only orphan tables",
                hint="remove its model file first; to rebuild it: medallion run --select "
                f"{table} --full-refresh",
            )
        for t in [table, *sorted(o for o in orphaned if owner(o) == table and o != table)]:
            if t not in found:
                found.append(t)
    return found


def drop(ws: Workspace, names: list[str], command: str, wait: float = 0.0) -> RunResult:
    """Remove the orphan tables `names` (and their quarantine tables) from storage."""
    tables = orphans_named(ws, names)

    def op(table: str, run_id: str, res: StepResult) -> None:
        maintenance.drop(ws.catalog.path(table))
        res.note = "dropped (an orphan: no model defines it)"

    return execute(ws, "drop", tables, op, command=command, wait=wait)


def execute(
    ws: Workspace,
    kind: str,
    tables: list[str],
    op: Callable[[str, str, StepResult], None],
    *,
    command: str,
    wait: float = 0.0,
) -> RunResult:
    """Run `op(table, run_id, step)` for each table as steps of one logged run, holding the
    writer lock (waiting up to `wait` seconds for it)."""
    with (
        WriterLock(ws.state_dir, command, lakehouse=ws.storage_root).acquire(wait),
        RunLog(
            ws.state, trigger=kind, command=command, selection=" ".join(tables), kind=kind
        ) as log,
    ):
        for table in tables:
            log.step(table, kind, lambda res, table=table: op(table, log.run_id, res))
        return log.finish("{n} table(s) failed")


def restore(
    ws: Workspace, name: str, target: int | datetime, command: str, wait: float = 0.0
) -> RunResult:
    table = resolve_table(ws, name)

    def op(table: str, run_id: str, res: StepResult) -> None:
        res.delta_version = maintenance.restore(ws.catalog.path(table), target, run_id)
        res.note = f"restored to {target}"
        res.details = {"restored_to": str(target)}

    return execute(ws, "restore", [table], op, command=command, wait=wait)


def optimize(
    ws: Workspace,
    names: list[str] | None,
    zorder: list[str] | None,
    command: str,
    wait: float = 0.0,
) -> RunResult:
    tables = [resolve_table(ws, n) for n in names] if names else ws.catalog.tables()

    def op(table: str, run_id: str, res: StepResult) -> None:
        out = maintenance.optimize(ws.catalog.path(table), run_id, zorder)
        res.delta_version = out.version
        res.details = {"files_removed": out.files_removed, "files_added": out.files_added}
        res.note = f"{out.files_removed} files compacted into {out.files_added}"

    return execute(ws, "optimize", tables, op, command=command, wait=wait)


def vacuum(
    ws: Workspace, names: list[str] | None, dry_run: bool, command: str, wait: float = 0.0
) -> RunResult:
    tables = [resolve_table(ws, n) for n in names] if names else ws.catalog.tables()
    retention = ws.retention_hours()

    def op(table: str, run_id: str, res: StepResult) -> None:
        hours = retention.get(table.split(".", 1)[0], DEFAULT_RETENTION_HOURS)
        if hours is None:
            res.note = "kept: this layer's retention is forever"
            res.details = {"retention_hours": None, "files": []}
            return
        files = maintenance.vacuum(ws.catalog.path(table), hours, run_id, dry_run)
        res.details = {"retention_hours": hours, "dry_run": dry_run, "files": files}
        verb = "would delete" if dry_run else "deleted"
        res.note = f"{verb} {len(files)} file(s) older than {hours} h"

    return execute(ws, "vacuum", tables, op, command=command, wait=wait)


def history_rows(ws: Workspace, name: str, limit: int | None) -> tuple[str, list[dict[str, Any]]]:
    table = resolve_table(ws, name)
    return table, maintenance.versions(ws.catalog.path(table), limit)
