"""Fault injection for crash tests: `MEDALLION_FAULT=<point>` kills the process (SIGKILL, like
`kill -9`) when it reaches that point, so tests can interrupt a run at exact places and check
that re-running it neither duplicates nor loses a row.

Points: `mid-write:<table>` (after the first batch streamed into a table's writer, before its
commit), `after-commit:<table>` (after a step's commit, before the next step), and
`after-bronze:<table>` (after a bronze commit, before its quarantine commit). Unset, a check is
one dictionary lookup.

`<point>@term` sends the process one SIGTERM there instead (a user stopping `run --watch` at that
instant: the run must finish), `<point>@term2` two (stop now: the run is cut short there).
"""

from __future__ import annotations

import os
import signal

ENV = "MEDALLION_FAULT"


def fault_point(name: str) -> None:
    value = os.environ.get(ENV)
    if value is None or not value.startswith(name):
        return
    if value == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif value in (f"{name}@term", f"{name}@term2"):
        for _ in range(2 if value.endswith("2") else 1):
            os.kill(os.getpid(), signal.SIGTERM)
