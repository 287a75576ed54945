"""Continuous mode (`medallion run --watch`): poll the sources and run when new input lands.

Each poll asks every selected source whether it has new input, without running anything
(`Project.pending_input`: a file source compares its files with those its bronze table records,
a database source `max(cursor)` with its watermark; a REST source cannot be asked, so it is
polled by running). When something is new, one ordinary incremental run follows — the same
run, the same exactly-once guarantees and the same run log as `medallion run`, so a watcher
killed at any instant loses and duplicates nothing. The first poll always runs (to catch up).

`max_runs` counts the runs of new input (or of an edit): users ask for "N runs when files land".
The run at start that found nothing new only catches up (a source that cannot be asked, work a
run left undone) and is not one of them; a run at start that found new input is.

The writer lock is taken per run, not for the life of the watcher, so `optimize`, `vacuum` or a
manual `run` can slip in between; a run that finds the lock held waits for the next poll.

Stopping: `stop` (a threading.Event, set by the CLI on Ctrl-C or SIGTERM) ends the loop after
the current run; a run is never cut short by it. When model files, checks or medallion.yml
change, the project is loaded again and a run follows (changed models rebuild, the others are
up to date), so a watcher picks up edits; a project that no longer loads is reported and the
watcher waits for the next edit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.errors import LockError, MedallionError

if TYPE_CHECKING:
    from medallion.project import Project
    from medallion.state.records import Reporter, RunResult


@dataclass
class WatchEvent:
    """What the watcher did: `run` (with its result and what triggered it), `error` (the
    project or a probe failed; the watcher goes on), `busy` (another writer held the lock)."""

    kind: str
    pending: dict[str, int | None] = field(default_factory=dict)
    result: RunResult | None = None
    message: str = ""


def code_stamp(root: Path, models: str) -> tuple[int, int]:
    """(newest modification time, file count) of what defines the project: a change means the
    project must be loaded again."""
    newest, count = 0, 0
    paths = [root / "medallion.yml", root / "checks.yml"]
    for folder in (root / models, root / "checks"):
        if folder.is_dir():
            paths.extend(p for p in folder.rglob("*") if p.is_file())
    for p in paths:
        try:
            newest = max(newest, p.stat().st_mtime_ns)
            count += 1
        except FileNotFoundError:
            pass
    return newest, count


def watch(
    project: Project,
    *,
    select: list[str] | None = None,
    interval: float = 5.0,
    max_runs: int | None = None,
    stop: threading.Event | None = None,
    command: str | None = None,
    reporter: Callable[[], Reporter | None] = lambda: None,
    on_event: Callable[[WatchEvent], None] = lambda e: None,
) -> list[RunResult]:
    """Poll every `interval` seconds and run when input is pending, until `stop` is set or
    `max_runs` runs of new input or of an edit (or attempts that failed with an error) have
    happened; the catch-up run at start that found nothing new does not count. Returns the
    results of the runs made (that one too); raises the error of an attempt that used up
    `max_runs`."""
    stop = stop or threading.Event()
    results: list[RunResult] = []
    stamp = code_stamp(project.root, project.config.models)
    first = True
    broken = False  # the project as edited does not load: wait for the next edit
    failed = 0  # attempts that ended in an error instead of a run (count towards max_runs)
    counted = 0  # runs of new input or of an edit (towards max_runs)
    while not stop.is_set():
        started = time.monotonic()
        try:
            now = code_stamp(project.root, project.config.models)
            edited = now != stamp
            if edited:
                stamp = now
                broken = True
                project = project.reload()
                project.validate()
                broken = False
            if broken:
                stop.wait(interval)
                continue
            pending = project.pending_input(select)
            # an edit runs too: changed models rebuild, the others are found up to date
            if first or pending or edited:
                result = project.run(select, trigger="watch", command=command, reporter=reporter())
                first = False
                results.append(result)
                counted += bool(pending or edited)
                on_event(WatchEvent("run", pending, result))
                if max_runs is not None and counted >= max_runs:
                    break
        except LockError as e:
            on_event(WatchEvent("busy", message=str(e)))
        except MedallionError as e:
            failed += 1
            if max_runs is not None and counted + failed >= max_runs:
                raise  # the attempts asked for are used up: the caller reports it and exits
            # the project does not load or run as it is (e.g. broken when the watcher
            # started): reported once, then nothing until the next edit
            broken = True
            on_event(WatchEvent("error", message=str(e)))
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
    return results
