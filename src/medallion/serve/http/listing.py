"""The table listing the API answers from, remembered between requests while no table changes:
`project.tables()` reads every table's Delta log, about a millisecond a table."""

from __future__ import annotations

import os
import threading
import time
from typing import Any


class Listing:
    """`project.tables()` (every table's Delta log read: about 1 ms a table) remembered until a
    table's log changes. The key is each table folder's `_delta_log` modification time; a log
    changed within the last second is not trusted to have ticked its clock (a second commit in
    the same tick would leave the time unchanged), so such a listing is not kept."""

    SETTLE_NS = 1_000_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[tuple[str, int], ...] | None = None
        self._rows: list[Any] = []
        self._project: Any = None

    def rows(self, project: Any) -> list[Any]:
        key = self._fingerprint(project)
        with self._lock:
            if key is not None and key == self._key and project is self._project:
                return self._rows
        rows = project.tables()
        with self._lock:
            # a project loaded again (an edited model) lists anew: descriptions, views
            self._key, self._rows, self._project = key, rows, project
        return rows

    def _fingerprint(self, project: Any) -> tuple[tuple[str, int], ...] | None:
        catalog = project.catalog
        try:
            stamps = tuple(
                (fqn, os.stat(os.path.join(catalog.path(fqn), "_delta_log")).st_mtime_ns)
                for fqn in catalog.tables()
            )
        except (OSError, TypeError):  # storage that is not a local folder: not remembered
            return None
        if any(t > time.time_ns() - self.SETTLE_NS for _, t in stamps):
            return None
        return stamps
