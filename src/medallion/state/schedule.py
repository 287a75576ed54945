"""What the scheduler remembers, in the state database: each pipeline's ticks, which pipelines
are paused, and freshness SLAs found breached.

A tick is one (pipeline, scheduled_for) pair, its primary key: the scheduler inserts a tick
before it runs it and never inserts it twice, so a scheduler restarted at any instant neither
loses a tick (it is still `pending`, or `running` with its run aborted) nor repeats one (it is
there, ended). Times are UTC ISO strings with microseconds, so they sort as text.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from medallion.state.store import pid_alive

if TYPE_CHECKING:
    from medallion.state.store import StateStore

#: a tick's statuses that are final
ENDED = ("success", "failed", "missed", "skipped", "interrupted")


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class Tick:
    pipeline: str
    scheduled_for: datetime
    trigger: str  # schedule | after | manual
    status: str  # pending | running | success | failed | missed | skipped | interrupted
    run_id: str | None = None
    attempt: int = 0
    upstream: str | None = None
    note: str | None = None
    started_at: str | None = None
    ended_at: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Tick:
        return cls(
            row["pipeline"],
            parse(row["scheduled_for"]),
            row["trigger"],
            row["status"],
            row["run_id"],
            row["attempt"],
            row["upstream"],
            row["note"],
            row["started_at"],
            row["ended_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "scheduled_for": iso(self.scheduled_for),
            "trigger": self.trigger,
            "status": self.status,
            "run_id": self.run_id,
            "attempt": self.attempt,
            "upstream": self.upstream,
            "note": self.note,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


class ScheduleLog:
    def __init__(self, state: StateStore) -> None:
        self.state = state

    # -- pipelines ---------------------------------------------------------------------------

    def first_seen(self, pipeline: str, now: datetime) -> datetime:
        """When the scheduler first saw the pipeline (recorded now if never): ticks before it
        are not owed, so a new pipeline does not catch up on its past."""
        with self.state.connect() as con:
            con.execute(
                "INSERT OR IGNORE INTO pipeline_state (pipeline, paused, first_seen)"
                " VALUES (?, 0, ?)",
                (pipeline, iso(now)),
            )
            row = con.execute(
                "SELECT first_seen FROM pipeline_state WHERE pipeline = ?", (pipeline,)
            ).fetchone()
        return parse(row["first_seen"])

    def paused(self) -> set[str]:
        with self.state.connect() as con:
            rows = con.execute("SELECT pipeline FROM pipeline_state WHERE paused = 1").fetchall()
        return {r["pipeline"] for r in rows}

    def set_paused(self, pipeline: str, paused: bool, now: datetime, by: str | None) -> None:
        with self.state.connect() as con:
            con.execute(
                "INSERT INTO pipeline_state (pipeline, paused, first_seen, changed_at, changed_by)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET"
                " paused = excluded.paused, changed_at = excluded.changed_at,"
                " changed_by = excluded.changed_by",
                (pipeline, int(paused), iso(now), iso(now), by),
            )

    # -- ticks -------------------------------------------------------------------------------

    def add(
        self,
        pipeline: str,
        scheduled_for: datetime,
        trigger: str,
        status: str = "pending",
        *,
        upstream: str | None = None,
        note: str | None = None,
    ) -> bool:
        """Record a tick; False when it is already recorded (it is never added twice)."""
        now = iso(datetime.now(UTC))
        ended = now if status in ENDED else None
        with self.state.connect() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO ticks (pipeline, scheduled_for, trigger, status,"
                " upstream, note, created_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (pipeline, iso(scheduled_for), trigger, status, upstream, note, now, ended),
            )
            return cur.rowcount == 1

    def at(self, pipeline: str, scheduled_for: datetime) -> Tick | None:
        """The pipeline's tick for that scheduled time, if one is recorded."""
        with self.state.connect() as con:
            row = con.execute(
                "SELECT * FROM ticks WHERE pipeline = ? AND scheduled_for = ?",
                (pipeline, iso(scheduled_for)),
            ).fetchone()
        return Tick.from_row(row) if row else None

    def last(self, pipeline: str, trigger: str | None = None) -> Tick | None:
        """The pipeline's latest tick (of `trigger`, if given)."""
        with self.state.connect() as con:
            row = con.execute(
                "SELECT * FROM ticks WHERE pipeline = ? AND (? IS NULL OR trigger = ?)"
                " ORDER BY scheduled_for DESC LIMIT 1",
                (pipeline, trigger, trigger),
            ).fetchone()
        return Tick.from_row(row) if row else None

    def open(self) -> list[Tick]:
        """Ticks not ended (pending, or running when a scheduler stopped), oldest first."""
        with self.state.connect() as con:
            rows = con.execute(
                "SELECT * FROM ticks WHERE status IN ('pending', 'running')"
                " ORDER BY scheduled_for, created_at"
            ).fetchall()
        return [Tick.from_row(r) for r in rows]

    def start(self, tick: Tick, attempt: int) -> bool:
        """Take a pending tick for this process; False when another process took it first."""
        with self.state.connect() as con:
            cur = con.execute(
                "UPDATE ticks SET status = 'running', attempt = ?, started_at = ?, pid = ?,"
                " host = ? WHERE pipeline = ? AND scheduled_for = ? AND status = 'pending'",
                (
                    attempt,
                    iso(datetime.now(UTC)),
                    os.getpid(),
                    socket.gethostname(),
                    tick.pipeline,
                    iso(tick.scheduled_for),
                ),
            )
        if cur.rowcount != 1:
            return False
        tick.status, tick.attempt = "running", attempt
        return True

    def owner_alive(self, tick: Tick) -> bool:
        """Whether the process running the tick (a manual `pipelines run`, another scheduler
        before this one) is still alive; another host's cannot be known, so it counts as
        alive."""
        with self.state.connect() as con:
            row = con.execute(
                "SELECT pid, host FROM ticks WHERE pipeline = ? AND scheduled_for = ?",
                (tick.pipeline, iso(tick.scheduled_for)),
            ).fetchone()
        if row is None or not row["pid"] or row["pid"] == os.getpid():
            return False
        if row["host"] != socket.gethostname():
            return True
        return pid_alive(int(row["pid"]))

    def end(
        self, tick: Tick, status: str, run_id: str | None = None, note: str | None = None
    ) -> None:
        with self.state.connect() as con:
            con.execute(
                "UPDATE ticks SET status = ?, run_id = coalesce(?, run_id), note = ?,"
                " ended_at = ? WHERE pipeline = ? AND scheduled_for = ?",
                (
                    status,
                    run_id,
                    note,
                    iso(datetime.now(UTC)),
                    tick.pipeline,
                    iso(tick.scheduled_for),
                ),
            )
        tick.status, tick.note = status, note
        tick.run_id = run_id or tick.run_id

    def run_of(self, tick: Tick) -> dict[str, Any] | None:
        """The latest run recorded for the tick (a scheduler that died mid-run left it)."""
        with self.state.connect() as con:
            self.state._abort_dead_runs(con)
            row = con.execute(
                "SELECT run_id, status, attempt, error FROM runs"
                " WHERE pipeline = ? AND scheduled_for = ? ORDER BY started_at DESC LIMIT 1",
                (tick.pipeline, iso(tick.scheduled_for)),
            ).fetchone()
        return dict(row) if row else None

    def history(self, pipeline: str | None = None, limit: int = 20) -> list[Tick]:
        """Ticks, newest first."""
        with self.state.connect() as con:
            rows = con.execute(
                "SELECT * FROM ticks WHERE ? IS NULL OR pipeline = ?"
                " ORDER BY scheduled_for DESC, created_at DESC LIMIT ?",
                (pipeline, pipeline, limit),
            ).fetchall()
        return [Tick.from_row(r) for r in rows]

    # -- freshness SLAs ----------------------------------------------------------------------

    def breaches(self) -> dict[str, dict[str, Any]]:
        with self.state.connect() as con:
            rows = con.execute("SELECT * FROM sla_breaches").fetchall()
        return {r["table_name"]: dict(r) for r in rows}

    def set_breached(
        self, table: str, since: datetime, last_written: datetime | None, notified: bool
    ) -> None:
        with self.state.connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO sla_breaches (table_name, since, last_written,"
                " notified_at) VALUES (?, ?, ?, ?)",
                (
                    table,
                    iso(since),
                    iso(last_written) if last_written else None,
                    iso(datetime.now(UTC)) if notified else None,
                ),
            )

    def clear_breach(self, table: str) -> None:
        with self.state.connect() as con:
            con.execute("DELETE FROM sla_breaches WHERE table_name = ?", (table,))

    def last_written(self, table: str) -> datetime | None:
        """When a run last wrote rows to `table` (layer.table), per the run log."""
        layer, name = table.split(".", 1)
        with self.state.connect() as con:
            row = con.execute(
                "SELECT max(started_at) AS at FROM run_steps WHERE layer = ? AND table_name = ?"
                " AND status = 'success' AND rows_written > 0",
                (layer, name),
            ).fetchone()
        return parse(row["at"]) if row and row["at"] else None
