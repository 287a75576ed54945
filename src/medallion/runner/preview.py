"""`medallion plan`: a run's plan told step by step, without running it.

Sources: the new files waiting in the landing folder (database and REST sources can only say
they may have new rows). Models: what their table needs (medallion.runner.stale), and which
upstream steps of the same run will hand them new rows — an up-to-date model downstream of a
source with new files is rebuilt or gets new rows once that source is ingested. A full refresh
of an scd2 table says how many closed versions it would drop (read from the table: the run
refuses it unless confirmed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.runner.pending import pending_input, unmatched
from medallion.state.records import PlanEntry, RunPlan

if TYPE_CHECKING:
    from medallion.runner.plan import Plan
    from medallion.workspace import Workspace


def preview(ws: Workspace, plan: Plan) -> RunPlan:
    pending = pending_input(ws, plan.select) if plan.steps else {}
    writes: set[str] = set()  # nodes whose step would change their table (or may)
    fails: dict[str, str] = {}  # node whose step would fail or be skipped -> the failing one
    entries: list[PlanEntry] = []
    for step in plan.steps:
        upstream = _upstream(ws, step.node)
        after = [n for n in upstream if n in writes]
        failed_up = [n for n in upstream if n in fails]
        if failed_up:
            # the run skips what reads a failed step: said so, rather than what it would do
            root = fails[step.node] = fails[failed_up[0]]
            entries.append(
                PlanEntry(step.node, step.kind, "skipped", f"upstream {root} would fail")
            )
            continue
        if step.kind == "ingest":
            name = step.node.split(".", 1)[1]
            entry = PlanEntry(step.node, "ingest", "up to date")
            changed = _declared_change(ws, name, step.node)
            problem = unmatched(ws, name)
            if problem is not None:
                entry.action, entry.why = "fails", problem.message
                fails[step.node] = step.node
            elif step.full_refresh and (missing := _missing_files(ws, name, step.node)):
                entry.action, entry.why = "refused", missing
                fails[step.node] = step.node  # the ingest step fails: what reads it is skipped
            elif step.full_refresh:
                entry.action = "full refresh"
            elif changed is not None:
                entry.action, entry.why = "refused", f"{changed}: needs --full-refresh {name}"
            elif name in pending:
                new = pending[name]
                entry.new_files = new
                entry.action = "new input" if new is not None else "may have new rows"
                entry.why = (
                    f"{new} new file{'s' if new != 1 else ''}"
                    if new is not None
                    else "checked when it runs"
                )
                replacing = _replacing(ws, name, step.node) if new else 0
                if replacing:
                    entry.why += (
                        f" ({replacing} rewritten: {'its' if replacing == 1 else 'their'} "
                        "earlier rows will be replaced)"
                    )
            if entry.action != "full refresh" and (hint := _encoding_hint(ws, name, step.node)):
                entry.why = f"{entry.why}; {hint}" if entry.why else hint
        elif step.kind == "view":
            entry = PlanEntry(step.node, "view", "view", after=after)
            if after:
                writes.add(step.node)  # what reads the view reads its inputs' new rows
            entries.append(entry)
            continue
        else:
            state = plan.states[step.node]
            entry = PlanEntry(
                step.node,
                "model",
                state.action,
                state.why,
                diff=state.diff,
                new_rows=state.new_rows,
                rows=state.rows,
                after=after,
                confirm=step.confirm,
            )
            if step.full_refresh and (drops := _dropped_history(ws, step.node, state.rows)):
                entry.why = f"{entry.why}: {drops}"
            if state.action == "up to date" and after:
                incremental = ws.models[step.node].config.incremental
                entry.action = "incremental" if incremental else "rebuild"
                entry.why = "new data upstream"
        if entry.action not in ("up to date", "refused", "fails"):
            writes.add(step.node)
        entries.append(entry)
    return RunPlan(entries, plan.select)


def _dropped_history(ws: Workspace, node: str, rows: int | None) -> str | None:
    """What a rebuild of scd2 model `node` (its table holding `rows`) would drop: its closed
    versions, which no input holds."""
    from medallion.build.incremental.scd2 import (
        HISTORY_NOT_IN_INPUTS,
        closed_versions,
        versions_of_keys,
    )
    from medallion.models.kinds import SCD2Kind

    kind = ws.models[node].config.kind_config
    if not isinstance(kind, SCD2Kind) or not rows:
        return None
    versions, n_keys = closed_versions(ws.catalog.path(node), kind.unique_key)
    if not versions:
        return None
    # a declared valid_from may give a key's rebuilt version a closed one's: the run tells
    up_to = "up to " if kind.valid_from else ""
    return f"would drop {up_to}{versions_of_keys(versions, n_keys)}, {HISTORY_NOT_IN_INPUTS}"


def _declared_change(ws: Workspace, name: str, node: str) -> str | None:
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import declared_change

    source = ws.config.sources[name]
    if not isinstance(source, FileSource):
        return None
    return declared_change(name, source, ws.catalog.path(node))


def _encoding_hint(ws: Workspace, name: str, node: str) -> str | None:
    """A file source whose `encoding:` changed since rows of it were read, with a quarantine:
    its rows quarantined as not valid in the old encoding are read again only by a full
    refresh (the files were ingested: a run does not read them again)."""
    from medallion.config.names import quarantine_of
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import encoding_change

    source = ws.config.sources[name]
    if not isinstance(source, FileSource) or not ws.catalog.exists(quarantine_of(node)):
        return None
    before = encoding_change(source, ws.catalog.path(node))
    if before is None:
        return None
    return (
        f"rows were read as {before}, encoding is now {source.encoding or 'utf-8'}: rows "
        f"quarantined as not valid {before} are read again by `medallion run --full-refresh "
        f"{name}`"
    )


def _missing_files(ws: Workspace, name: str, node: str) -> str | None:
    """Why a full refresh of file source `name` is refused: files bronze holds rows of are gone
    from the landing folder (`run` needs --allow-missing-files to delete their rows)."""
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import ingested_files, new_files

    source = ws.config.sources[name]
    if not isinstance(source, FileSource):
        return None
    path = ws.catalog.path(node)
    files, _ = new_files(ws.root, source, name, ws.state, path, full_refresh=True)
    held = {rel for rel, _, _ in ingested_files(ws.state, name, path)}
    gone = sorted(held - {f.rel for f in files})
    if not gone:
        return None
    shown = ", ".join(gone[:3]) + (f" and {len(gone) - 3:,} more" if len(gone) > 3 else "")
    return (
        f"{len(gone):,} of the {len(held):,} files it holds rows of are gone ({shown}): "
        "`run --full-refresh` needs --allow-missing-files to delete their rows"
    )


def _replacing(ws: Workspace, name: str, node: str) -> int:
    """How many of a file source's new files are rewritten paths whose earlier rows the run
    will remove (`on_rewrite: replace`)."""
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import new_files, rewritten

    source = ws.config.sources[name]
    if not isinstance(source, FileSource) or source.on_rewrite != "replace":
        return 0
    path = ws.catalog.path(node)
    _, new = new_files(ws.root, source, name, ws.state, path)
    return len(rewritten(source, name, new, ws.state, path))


def _upstream(ws: Workspace, node: str) -> list[str]:
    """The nodes `node` reads, looking through views (a view's own inputs are what change)."""
    graph = ws.graph
    found: list[str] = []
    todo = list(graph.up.get(node, []))
    while todo:
        dep = todo.pop(0)
        if dep in found:
            continue
        found.append(dep)
        if dep in ws.models and ws.models[dep].kind == "view":
            todo.extend(graph.up.get(dep, []))
    return found
