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
