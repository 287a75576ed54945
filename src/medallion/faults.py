"""Fault injection for crash tests, and Ctrl-C reaching the threads that stream rows.

`MEDALLION_FAULT=<point>` kills the process (SIGKILL, like `kill -9`) when it reaches that
point, so tests can interrupt a run at exact places and check that re-running it neither
duplicates nor loses a row.

Points: `mid-write:<table>` (after the first batch streamed into a table's writer, before its
commit), `after-commit:<table>` (after a step's commit, before the next step), and
`after-bronze:<table>` (after a bronze commit, before its quarantine commit). Unset, a check is
one dictionary lookup.

`<point>@term` sends the process one SIGTERM there instead (a user stopping `run --watch` at that
instant: the run must finish), `<point>@term2` two (stop now: the run is cut short there).
`<point>@pause` stops there: it writes `medallion fault: paused at <point>` on stderr and waits
for a signal — a test then sends SIGINT (Ctrl-C) or SIGKILL at that exact instant.

Interruption. Python runs a signal's handler on the main thread only, and only once that thread
runs Python again: while it waits in the Delta writer (Rust) for the rows a worker thread streams,
Ctrl-C used to wait for the whole write — and its commit — before it stopped anything. After
`watch_interrupts()` (the CLI's entry point calls it), the C-level handler also writes the
signal's number to a pipe that any thread can look at: `raise_if_interrupted()`, called for each
batch a writer pulls, stops the stream there, so nothing is committed.
"""

from __future__ import annotations

import os
import signal
import sys
import time

ENV = "MEDALLION_FAULT"

#: the read end of the pipe the C signal handler writes signal numbers to (watch_interrupts)
_wakeup: int | None = None
_interrupted = False


def fault_point(name: str) -> None:
    value = os.environ.get(ENV)
    if value is None or not value.startswith(name):
        return
    if value == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif value in (f"{name}@term", f"{name}@term2"):
        for _ in range(2 if value.endswith("2") else 1):
            os.kill(os.getpid(), signal.SIGTERM)
    elif value == f"{name}@pause":
        sys.stderr.write(f"medallion fault: paused at {name}\n")
        sys.stderr.flush()
        while True:  # the main thread gets KeyboardInterrupt from the handler, a worker below
            raise_if_interrupted()
            time.sleep(0.02)


def watch_interrupts() -> None:
    """Let every thread see Ctrl-C (see the module's docstring). Call from the main thread of
    a process that has no other use for `signal.set_wakeup_fd` (an asyncio loop has)."""
    global _wakeup
    if _wakeup is not None:
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread (an embedding caller): Ctrl-C is theirs to handle
        os.close(read)
        os.close(write)
        return
    _wakeup = read


def interrupted() -> bool:
    """Whether Ctrl-C was pressed (SIGINT arrived while it means KeyboardInterrupt: not in
    `run --watch`, whose first Ctrl-C lets the current run finish)."""
    global _interrupted
    if _interrupted or _wakeup is None:
        return _interrupted
    try:
        received = os.read(_wakeup, 512)
    except (BlockingIOError, OSError):
        return False
    if signal.SIGINT in received and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        _interrupted = True
    return _interrupted


def forget_interrupt() -> None:
    """Ctrl-C has done its work (a server stopped everything it ran): what the process still
    writes on its way out (the access audit's last events) is not interrupted."""
    global _interrupted
    interrupted()  # a signal still waiting in the pipe is consumed with the rest
    _interrupted = False


def raise_if_interrupted() -> None:
    if interrupted():
        raise KeyboardInterrupt
