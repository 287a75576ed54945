"""The writer lock of a lakehouse on an object store: one lock object beside the tables,
`<storage>/_medallion/writer.lock`, so runs of project folders on different machines that
share the lakehouse are serialized (a local `flock` only serializes one machine's).

It is taken and kept with the store's conditional writes, which S3, ADLS/Blob, GCS and their
emulators all support (obstore's `PutMode`):

- take: create the object only if it does not exist (If-None-Match: *): of two machines
  racing, exactly one create succeeds;
- renew: while the holder lives, a thread rewrites the object every `lease / 3` seconds only if
  it is unchanged since the holder's last write (If-Match: its ETag), pushing `expires_at`;
- take over: an object whose lease has expired (its holder crashed or lost the network), or
  whose holder is a process on this host that no longer runs, is replaced only if it is still
  the one read (If-Match): of two machines taking over, exactly one succeeds;
- release: delete it, if it is still ours.

The object says who holds it (host, pid, command, start time) so a refused writer can say who is
in the way. A holder whose renewal finds the object changed (another machine took over after
its lease expired: a paused or partitioned process) has lost the lock; it says so when the run
releases it. Leases compare the holder's clock with the taker's: machines' clocks must agree to
well within a lease (60 s by default; `MEDALLION_STORE_LEASE_SECONDS`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from medallion.errors import LockError, StorageError
from medallion.storage.location import Location, store_error

LOCK_KEY = "_medallion/writer.lock"
DEFAULT_LEASE = 60.0


def lease_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get("MEDALLION_STORE_LEASE_SECONDS", DEFAULT_LEASE)))
    except ValueError:
        return DEFAULT_LEASE


class StoreLock:
    """The lakehouse's lock object on its store (see the module's docstring)."""

    def __init__(self, root: Location, command: str, *, lease: float | None = None) -> None:
        self.root = root
        self.where = root / LOCK_KEY
        self.key = self.where.key
        self.command = command
        self.lease = lease or lease_seconds()
        self.token = uuid.uuid4().hex
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: set when a renewal found the object replaced: another writer took over
        self.lost: str | None = None
        #: monotonic time of the last write of the lock object (taking it, a renewal)
        self.renewed = 0.0
        #: the holder whose expired lease (or dead process) this lock took over from
        self.took_over: dict[str, Any] | None = None

    # -- the object ------------------------------------------------------------------------

    @property
    def _store(self) -> Any:
        return self.root.store.object_store

    def _body(self) -> bytes:
        return json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "command": self.command,
                "started_at": self.started_at,
                "expires_at": time.time() + self.lease,
                "token": self.token,
            }
        ).encode()

    def _read(self) -> tuple[dict[str, Any], str | None] | None:
        """The lock object's holder and ETag; None when there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            result = obstore.get(self._store, self.key)
            body = bytes(result.bytes())
            etag = result.meta.get("e_tag")
        except NotFoundError:
            return None
        try:
            holder = json.loads(body or b"{}")
        except ValueError:
            holder = {}
        return (holder if isinstance(holder, dict) else {}), etag

    # -- taking and releasing ----------------------------------------------------------------

    def acquire(self, wait: float = 0.0, poll: float = 0.5) -> StoreLock:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                put = obstore.put(self._store, self.key, self._body(), mode="create")
                self._etag = put["e_tag"]
                break
            except AlreadyExistsError:
                pass
            except Exception as e:
                raise self._error(e) from None
            try:
                found = self._read()
            except Exception as e:
                raise self._error(e) from None
            if found is None:
                continue  # released between our create and our read: try again
            holder, etag = found
            if _expired(holder):
                try:
                    put = obstore.put(self._store, self.key, self._body(), mode={"e_tag": etag})
                    self._etag = put["e_tag"]
                    self.took_over = holder
                    break
                except PreconditionError:
                    continue  # another writer took over (or renewed) first
                except Exception as e:
                    raise self._error(e) from None
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g}s" if wait else ""
                raise LockError(
                    f"another medallion writer is running on the lakehouse {self.root}: "
                    f"{describe(holder)}{waited}",
                    hint="wait for it to finish, or pass --wait SECONDS; queries are not "
                    f"blocked. A crashed writer's lease ends {self.lease:g}s after its last "
                    "renewal",
                )
            time.sleep(poll)
        self.renewed = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name="medallion-lease", daemon=True)
        self._thread.start()
        _HELD[str(self.root).rstrip("/")] = self
        return self

    def ensure_held(self) -> None:
        """Raise a LockError unless this process still holds the lock with time to spare:
        asked before every Delta commit to the lakehouse, so a holder paused or cut off from
        the store past its lease (another writer may have taken over) stops before it
        commits, not after. Measured on this process's own clock since its last renewal."""
        if self.lost is None and time.monotonic() - self.renewed > self.lease * 2 / 3:
            self.lost = "nobody known (it could not renew its lease in time)"
        if self.lost is not None:
            raise LockError(
                f"this run no longer holds the writer lock of the lakehouse {self.root} "
                f"(lost to {self.lost}): it stopped before its next commit",
                hint="run again; `medallion status` shows who writes now",
            )

    def _renew(self) -> None:
        import obstore
        from obstore.exceptions import PreconditionError

        while not self._stop.wait(self.lease / 3):
            try:
                put = obstore.put(self._store, self.key, self._body(), mode={"e_tag": self._etag})
                self._etag = put["e_tag"]
                self.renewed = time.monotonic()
            except PreconditionError:
                found = self._read()
                self.lost = describe(found[0]) if found else "nobody (the lock object is gone)"
                return
            except Exception:  # a store that does not answer now may answer at the next try
                continue

    def release(self) -> None:
        import obstore

        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        _HELD.pop(str(self.root).rstrip("/"), None)
        if self.lost is None:
            try:
                # not a delete (which no condition guards: it could remove the lock of a
                # writer that took over a moment ago) but our object made expired, only if it
                # is still ours: the next writer takes it over at once
                body = json.loads(self._body())
                body["expires_at"] = 0
                obstore.put(
                    self._store, self.key, json.dumps(body).encode(), mode={"e_tag": self._etag}
                )
            except Exception:  # not ours any more, or a store that does not answer: it expires
                pass
        lost, self.lost = self.lost, None
        if lost is not None:
            raise LockError(
                f"this run lost the writer lock of the lakehouse {self.root} to {lost}: its "
                f"lease ({self.lease:g}s) ran out before it was renewed (the process was paused "
                "or cut off from the store)",
                hint="check `medallion status` and `medallion verify`; Delta commits never "
                "overwrite each other, but the two runs' work may have interleaved",
            )

    def _error(self, error: BaseException) -> StorageError:
        if isinstance(error, StorageError):
            return error
        return store_error(error, self.where, f"the writer lock of the lakehouse {self.root}")

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: the store locks this process holds, by lakehouse root
_HELD: dict[str, StoreLock] = {}


def ensure_held_for(path: object) -> None:
    """Before a commit to a table at `path` on a store: the lock this process holds on its
    lakehouse must still be held (`StoreLock.ensure_held`); no check when it holds none
    (a command that takes no writer lock)."""
    where = str(path)
    for root, lock in list(_HELD.items()):
        if where == root or where.startswith(root + "/"):
            lock.ensure_held()


def _expired(holder: dict[str, Any]) -> bool:
    """Whether a holder's lease has run out, or it is a process of this host that is gone."""
    try:
        if time.time() > float(holder.get("expires_at", 0)):
            return True
    except (TypeError, ValueError):
        return True
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder.get("pid") or 0), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError, OverflowError):
            return False
    return False


def describe(holder: dict[str, Any]) -> str:
    who = f"pid {holder.get('pid')}" if holder.get("pid") else "another process"
    if holder.get("host"):
        who += f" on {holder['host']}"
    what = f" ({holder['command']})" if holder.get("command") else ""
    since = f", since {holder['started_at']}" if holder.get("started_at") else ""
    return f"{who}{what}{since}"
