"""What input is waiting, without running anything: the question `run --watch` polls.

A file source lists its files and compares them with those its bronze table records
(fingerprints are cached for the life of the process, so an unchanged folder costs a directory
listing); a database source compares `max(cursor)` with its watermark; a REST source cannot be
asked, so it always may have new rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.errors import MedallionError

if TYPE_CHECKING:
    from medallion.workspace import Workspace


def pending_input(ws: Workspace, select: list[str] | None = None) -> dict[str, int | None]:
    """Selected sources with new input: source -> number of new files (file sources) or None
    (database and REST sources whose new rows are counted only by extracting them)."""
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import last_watermark, new_files
    from medallion.ingest.sources import cursor_kind

    graph = ws.graph
    plan = set(graph.select(select))
    found: dict[str, int | None] = {}
    for name, source in ws.config.sources.items():
        fqn = f"{ws.config.layers[0]}.{name}"
        if fqn not in plan:
            continue
        path = ws.catalog.path(fqn)
        if isinstance(source, FileSource):
            try:
                _, new = new_files(ws.root, source, name, ws.state, path)
            except MedallionError:
                continue  # no file matches yet: nothing to do until one lands
            if new:
                found[name] = len(new)
        else:
            try:
                if cursor_kind(source).has_new_rows(source, last_watermark(path), ws.root):
                    found[name] = None
            except Exception:  # unreachable now: let a run retry it and report clearly
                found[name] = None
    return found


def unmatched(ws: Workspace, name: str) -> MedallionError | None:
    """Why a run could not find source `name`'s files (a path that matches no file, a `${VAR}`
    that left it empty), or None (found, or not a file source). `pending_input` passes over
    this (a watcher waits for files to land); `plan` and `validate` say it."""
    from medallion.config.schema import FileSource
    from medallion.ingest.files.discover import discover

    source = ws.config.sources[name]
    if not isinstance(source, FileSource):
        return None
    if any(tuple(u.loc[:2]) == ("sources", name) for u in ws.config.unset_variables):
        return None  # its path is not known yet: the unset variable is said where it is needed
    try:
        discover(ws.root, source, name)
    except MedallionError as e:
        return e
    return None


def unmatched_sources(ws: Workspace, select: list[str] | None = None) -> dict[str, MedallionError]:
    """The selected sources a run would stop on before reading anything: source -> why."""
    plan = set(ws.graph.select(select))
    layer = ws.config.landing_layer
    found = {name: unmatched(ws, name) for name in ws.config.sources if f"{layer}.{name}" in plan}
    return {name: e for name, e in found.items() if e is not None}
