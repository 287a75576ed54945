"""The access audit: an append-only Delta table `system.access_audit` under the state folder.

Every login (ok or failed), query (its text, the tables it read, the policies applied, rows
returned, duration), denied query (with the reason), and user, group or token change is one row.
The columns follow Databricks' `system.access.audit` (event_time, user, source address, client,
session, service, action, request, response status/rows/error), flattened: `request` is JSON
text. Events are buffered and appended in batches (one Delta commit per batch: a commit per
query would grow the log by a file per query); the buffer is written when it holds
`BATCH_EVENTS`, when `BATCH_SECONDS` passed since the last write, on `flush()` and at exit.

Append-only: medallion never rewrites or deletes its rows (vacuum and optimize do not touch the
state folder). Whoever can write the state folder can, which is the boundary the README states.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import threading
import time
import uuid
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import StorageError

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_EVENTS = 200
BATCH_SECONDS = 2.0
AUDIT_TABLE = "system.access_audit"


def audit_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("event_time", pa.timestamp("us", tz="UTC")),
            ("event_id", pa.string()),
            ("user", pa.string()),
            ("source_address", pa.string()),
            ("client", pa.string()),
            ("session", pa.string()),
            ("service", pa.string()),  # cli | sql | http
            ("action", pa.string()),  # query | login | user_add | token_create | ...
            ("request", pa.string()),  # JSON: statement, tables, policies, as_of, ...
            ("response_status", pa.string()),  # ok | denied | refused | error | failed
            ("response_rows", pa.int64()),
            ("response_error", pa.string()),
            ("duration_ms", pa.float64()),
        ]
    )


_LOGS: weakref.WeakSet[AuditLog] = weakref.WeakSet()


def _flush_all() -> None:
    for log in list(_LOGS):
        # at exit the command's own output and exit status come first; the façade flushes
        # (and says what failed) wherever a command waits for its audit to be written
        with contextlib.suppress(Exception):
            log.flush()


atexit.register(_flush_all)


class AuditLog:
    """The audit table of one project (`<state>/system/access_audit`)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "system" / "access_audit"
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._timer: threading.Timer | None = None
        _LOGS.add(self)

    def record(
        self,
        *,
        user: str | None,
        action: str,
        status: str,
        service: str = "cli",
        request: dict[str, Any] | None = None,
        rows: int | None = None,
        error: str | None = None,
        duration_ms: float | None = None,
        source: str | None = None,
        client: str | None = None,
        session: str | None = None,
    ) -> None:
        """Buffer one event (written in the next batch)."""
        event = {
            "event_time": datetime.now(UTC),
            "event_id": uuid.uuid4().hex,
            "user": user,
            "source_address": source,
            "client": client,
            "session": session,
            "service": service,
            "action": action,
            "request": json.dumps(request or {}, default=str, sort_keys=True),
            "response_status": status,
            "response_rows": rows,
            "response_error": error,
            "duration_ms": duration_ms,
        }
        with self._lock:
            self._buffer.append(event)
            due = (
                len(self._buffer) >= BATCH_EVENTS or time.monotonic() - self._last >= BATCH_SECONDS
            )
            if not due and self._timer is None:
                # a quiet server still writes its last events within BATCH_SECONDS
                self._timer = threading.Timer(BATCH_SECONDS, self._timed_flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
        with contextlib.suppress(Exception):  # kept in the buffer; the next flush retries
            self.flush()

    def flush(self) -> None:
        """Append the buffered events as one Delta commit."""
        import pyarrow as pa

        from medallion.storage import tables

        with self._lock:
            events, self._buffer = self._buffer, []
            self._last = time.monotonic()
            if not events:
                return
            data = pa.Table.from_pylist(events, schema=audit_schema())
            try:
                tables.write(
                    self.path,
                    data.to_reader(),
                    mode="append",
                    run_id="access-audit",
                    description="medallion access audit (append-only)",
                    crash_point=False,
                )
            except Exception:
                self._buffer[:0] = events  # kept for the next try
                raise

    def read(self, user: str | None = None, since: datetime | None = None) -> pa.Table:
        """The audit's rows (flushed first), oldest first; of one user, since a time."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from medallion.storage import snapshot, tables

        self.flush()
        if not tables.is_delta_table(self.path):
            return audit_schema().empty_table()
        try:
            data = snapshot.dataset(self.path).to_table()
        except Exception as e:
            raise StorageError(f"cannot read the access audit: {e}", file=self.path) from None
        if user is not None:
            data = data.filter(pc.equal(data["user"], user))
        if since is not None:
            stamp = pa.scalar(since.astimezone(UTC), type=pa.timestamp("us", tz="UTC"))
            data = data.filter(pc.greater_equal(data["event_time"], stamp))
        return data.sort_by("event_time").select(audit_schema().names)
