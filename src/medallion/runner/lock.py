"""One writer per project: an exclusive lock on `<state>/writer.lock` (and, for a lakehouse on an
object store, its lock object there: `storage/storelock.py`).

The lock is an `flock` on the file, so the kernel releases it when the holder exits for any
reason — including `kill -9` — and a dead holder can never block the project. The file also holds
who took it (pid, host, command, start time) so a second writer can say who is in the way. When
the previous holder died without cleaning up, its details are still in the file; the next writer
sees the lock is free, notes that the previous holder is gone, and takes over.

Readers (`medallion query`, `tables`, `status`) never take the lock: Delta snapshots are
immutable, so a query sees the last committed version of every table, never a partial write.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medallion.errors import LockError, StateError, permission_problem, unwritable
from medallion.state.store import STATE_FOLDER

LOCK_FILE = "writer.lock"


@dataclass
class Holder:
    pid: int | None
    host: str | None
    command: str | None
    started_at: str | None

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else "another process"
        what = f" ({self.command})" if self.command else ""
        # the host always: a state folder on a shared disk can be locked from another machine,
        # and a pid alone does not say which one to look at
        on = f" on {self.host}" if self.host else ""
        since = f", since {self.started_at}" if self.started_at else ""
        return f"{who}{what}{on}{since}"


class WriterLock:
    def __init__(
        self,
        state_dir: Path,
        command: str,
        *,
        file: str = LOCK_FILE,
        what: str = "another medallion writer is running",
        hint: str = "wait for it to finish, or pass --wait SECONDS; queries are not blocked",
        lakehouse: object = None,
    ) -> None:
        """`file`, `what` and `hint`: the same kind of lock for another single holder (the
        scheduler's `scheduler.lock`), and how a refusal says who holds it. `lakehouse`: the
        storage root; on an object store the lock also takes the lakehouse's lock object
        there (`storage.storelock`), which serializes project folders on other machines."""
        from medallion.storage.location import Location
        from medallion.storage.storelock import StoreLock

        self.store_lock = StoreLock(lakehouse, command) if isinstance(lakehouse, Location) else None
        self.path = state_dir / file
        self.command = command
        self.what = what
        self.hint = hint
        self._fd: int | None = None
        #: details of a holder that died while holding the lock, if we took over from one
        self.took_over: Holder | None = None

    def holder(self) -> Holder:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            data = {}
        return Holder(
            data.get("pid"), data.get("host"), data.get("command"), data.get("started_at")
        )

    def acquire(self, wait: float = 0.0, poll: float = 0.2) -> WriterLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            why = permission_problem(e)
            if why is None:
                raise
            raise unwritable(StateError, STATE_FOLDER, self.path.parent, "state", why) from None
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    waited = f" after waiting {wait:g}s" if wait else ""
                    raise LockError(
                        f"{self.what}: {holder.describe()}{waited}",
                        file=self.path,
                        hint=self.hint,
                    ) from None
                time.sleep(poll)
        previous = self.holder()
        if previous.pid and not _alive(previous):
            self.took_over = previous
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": self.command,
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            ).encode(),
        )
        os.fsync(fd)
        self._fd = fd
        if self.store_lock is not None:
            try:
                # the time already waited for the local lock counts against `wait`
                self.store_lock.acquire(max(0.0, deadline - time.monotonic()))
            except BaseException:
                self.release()
                raise
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if self.store_lock is not None:
                self.store_lock.release()
        finally:
            self._release_local()

    def _release_local(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _alive(holder: Holder) -> bool:
    """Whether the recorded holder still runs (only knowable on the same host)."""
    if holder.host and holder.host != socket.gethostname():
        return True
    try:
        os.kill(int(holder.pid or 0), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
