"""The state database (SQLite, `<state>/state.db`): run log, step log, ingested-file cache.

SQLite because it needs no server, survives crashes (WAL), and any tool can read it. The schema is
versioned with `PRAGMA user_version`; `_MIGRATIONS[i]` upgrades from version i to i+1, so an old
project's state is upgraded in place and never silently reset.

What the state database is *not*: the source of truth for which data a table holds. That is the
Delta log (commit metadata and application transaction ids); the `ingested_files` table is a
cache of it that is checked against the table version on every run.

A state folder this user may not write (another user's project, a read-only mount) is still
read: the database is opened immutable, so `status`, `history` and `query` work; anything that
records (a run, a test) fails with one message naming the folder, not SQLite's.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medallion.errors import StateError, permission_problem, unwritable

_MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        started_at  TEXT NOT NULL,
        ended_at    TEXT,
        status      TEXT NOT NULL,          -- running | success | failed | aborted
        trigger     TEXT NOT NULL,          -- manual|schedule|after|watch|api|airflow|external|demo
        command     TEXT,                   -- e.g. "run --select +gold.sales"
        selection   TEXT,
        error       TEXT,
        pid         INTEGER,
        host        TEXT
    );
    CREATE TABLE run_steps (
        run_id            TEXT NOT NULL REFERENCES runs(run_id),
        step_no           INTEGER NOT NULL,
        step              TEXT NOT NULL,    -- ingest | model | view
        layer             TEXT NOT NULL,
        table_name        TEXT NOT NULL,
        status            TEXT NOT NULL,    -- running | success | failed | skipped
        rows_read         INTEGER,
        rows_written      INTEGER,
        rows_dropped      INTEGER,
        rows_quarantined  INTEGER,
        delta_version     INTEGER,
        started_at        TEXT,
        duration_s        REAL,
        error             TEXT,
        details           TEXT,             -- JSON: files ingested, upstream versions, ...
        PRIMARY KEY (run_id, step_no)
    );
    CREATE INDEX run_steps_table ON run_steps(layer, table_name);
    CREATE TABLE ingested_files (
        source         TEXT NOT NULL,
        path           TEXT NOT NULL,
        size           INTEGER NOT NULL,
        mtime_ns       INTEGER NOT NULL,
        delta_version  INTEGER NOT NULL,
        run_id         TEXT,
        PRIMARY KEY (source, path, size, mtime_ns)
    );
    CREATE TABLE ingest_cache (
        source         TEXT PRIMARY KEY,
        table_id       TEXT NOT NULL,       -- Delta table id: a re-created table resets the cache
        delta_version  INTEGER NOT NULL     -- the cache reflects the table up to this version
    );
    """,
    # 1 -> 2: the row ledger's input count, and check results
    """
    ALTER TABLE run_steps ADD COLUMN rows_in INTEGER;  -- rows the step had to place
    CREATE TABLE check_results (
        run_id        TEXT NOT NULL REFERENCES runs(run_id),
        step_no       INTEGER,
        table_name    TEXT NOT NULL,       -- <layer>.<table> (comma-separated for singular checks)
        name          TEXT NOT NULL,
        kind          TEXT NOT NULL,       -- expectation | not_null | unique | ... | singular
        severity      TEXT NOT NULL,       -- error | warn (expectations: their action)
        status        TEXT NOT NULL,       -- pass | warn | fail | error
        failing_rows  INTEGER,
        observed      REAL,
        message       TEXT,
        sample        TEXT,                -- JSON: up to 5 rows
        checked_at    TEXT NOT NULL
    );
    CREATE INDEX check_results_run ON check_results(run_id);
    CREATE INDEX check_results_check ON check_results(table_name, name);
    """,
    # 2 -> 3: watermarks / checkpoints (a mirror of what the Delta commits record), resets
    """
    CREATE TABLE checkpoints (
        node           TEXT NOT NULL,      -- <layer>.<table>
        input          TEXT NOT NULL,      -- an input table, or 'files' for a file source
        value          TEXT NOT NULL,      -- the input's Delta version consumed / files ingested
        delta_version  INTEGER,            -- the node's own version that recorded it
        run_id         TEXT,
        updated_at     TEXT NOT NULL,
        PRIMARY KEY (node, input)
    );
    CREATE TABLE resets (
        node          TEXT PRIMARY KEY,    -- rebuilt from all input on its next run
        requested_at  TEXT NOT NULL
    );
    CREATE TABLE ingest_rejects (
        source        TEXT PRIMARY KEY,
        batch         INTEGER NOT NULL     -- rejects of batches up to this one are in quarantine
    );
    """,
    # 3 -> 4: what was published where
    """
    CREATE TABLE publications (
        target         TEXT NOT NULL,
        table_name     TEXT NOT NULL,      -- <layer>.<table>
        delta_version  INTEGER NOT NULL,   -- the version now in the target
        rows           INTEGER,
        run_id         TEXT,
        published_at   TEXT NOT NULL,
        PRIMARY KEY (target, table_name)
    );
    """,
    # 4 -> 5: file identity is (path, size, content fingerprint), no longer the mtime
    """
    DROP TABLE ingested_files;
    CREATE TABLE ingested_files (
        source         TEXT NOT NULL,
        path           TEXT NOT NULL,
        size           INTEGER NOT NULL,
        fingerprint    TEXT NOT NULL,
        delta_version  INTEGER NOT NULL,
        run_id         TEXT,
        PRIMARY KEY (source, path, size, fingerprint)
    );
    DELETE FROM ingest_cache;
    """,
    # 5 -> 6: what a run did, so that `status` tells the last build from the last test; runs
    # recorded before say it by their trigger, or by their steps (a test run's are `test`)
    """
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
    UPDATE runs SET kind = CASE
        WHEN trigger IN ('publish', 'replay', 'restore', 'optimize', 'vacuum') THEN trigger
        WHEN EXISTS (SELECT 1 FROM run_steps s WHERE s.run_id = runs.run_id AND s.step = 'test')
            OR command = 'test' OR command LIKE 'medallion test%' THEN 'test'
        ELSE 'run' END;
    CREATE INDEX runs_kind ON runs(kind, started_at);
    """,
    # 6 -> 7: identities for access control (state/identities.py): never in the repository
    """
    CREATE TABLE users (
        name        TEXT PRIMARY KEY,
        role        TEXT NOT NULL,          -- admin | member | contributor | viewer
        verifier    TEXT,                   -- SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE user_groups (
        user_name   TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        group_name  TEXT NOT NULL,
        PRIMARY KEY (user_name, group_name)
    );
    CREATE TABLE group_roles (
        group_name  TEXT PRIMARY KEY,
        role        TEXT NOT NULL           -- members of the group have at least this role
    );
    CREATE TABLE api_tokens (
        token_id    TEXT PRIMARY KEY,       -- shown in listings (the secret is never stored)
        user_name   TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL UNIQUE,   -- sha256 hex of the secret
        created_at  TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at  TEXT
    );
    """,
    # 7 -> 8: the table versions a check read, so that the next run can check only the rows
    # written since a check passed (quality/scoped.py)
    """
    ALTER TABLE check_results ADD COLUMN versions TEXT;  -- JSON {table: Delta version}
    """,
    # 8 -> 9: a user's opt-in md5 password form for old drivers (state/identities.py)
    """
    ALTER TABLE users ADD COLUMN md5 TEXT;  -- 'md5' + md5(password + name), NULL: SCRAM only
    """,
    # 9 -> 10: pipelines (orchestrate/scheduler.py, state/schedule.py): where a run came from,
    # a step's attempts, the scheduler's ticks, paused pipelines, freshness SLA breaches
    """
    ALTER TABLE runs ADD COLUMN pipeline TEXT;
    ALTER TABLE runs ADD COLUMN attempt INTEGER;
    ALTER TABLE runs ADD COLUMN scheduled_for TEXT;     -- UTC ISO: the tick the run is for
    ALTER TABLE run_steps ADD COLUMN attempts INTEGER;  -- times the step ran (retries + 1)
    UPDATE runs SET trigger = 'manual' WHERE trigger = 'cli';  -- the pipelines' vocabulary
    CREATE INDEX runs_pipeline ON runs(pipeline, scheduled_for);
    CREATE TABLE ticks (
        pipeline      TEXT NOT NULL,
        scheduled_for TEXT NOT NULL,        -- UTC ISO
        trigger       TEXT NOT NULL,        -- schedule | after | manual | api
        status        TEXT NOT NULL,        -- pending | running | success | failed | missed
                                            -- | skipped | interrupted
        run_id        TEXT,
        attempt       INTEGER NOT NULL DEFAULT 0,
        upstream      TEXT,                 -- after: the pipeline whose end started it
        note          TEXT,
        created_at    TEXT NOT NULL,
        started_at    TEXT,
        ended_at      TEXT,
        PRIMARY KEY (pipeline, scheduled_for)
    );
    CREATE INDEX ticks_status ON ticks(status, scheduled_for);
    CREATE TABLE pipeline_state (
        pipeline      TEXT PRIMARY KEY,
        paused        INTEGER NOT NULL DEFAULT 0,
        first_seen    TEXT NOT NULL,        -- UTC ISO: ticks before it are not owed
        changed_at    TEXT,
        changed_by    TEXT
    );
    CREATE TABLE sla_breaches (
        table_name    TEXT PRIMARY KEY,     -- layer.table
        since         TEXT NOT NULL,        -- when the scheduler saw it breached
        last_written  TEXT,
        notified_at   TEXT
    );
    """,
    # 10 -> 11: which process runs a tick, so a scheduler starting meanwhile leaves it alone
    """
    ALTER TABLE ticks ADD COLUMN pid INTEGER;
    ALTER TABLE ticks ADD COLUMN host TEXT;
    """,
]


#: what the state folder holds, as messages name it
STATE_FOLDER = "the state folder (run log, checkpoints, writer lock)"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_run_id() -> str:
    """Sortable and readable: 20261122T101530-3f2a9c."""
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(3).hex()


#: what `end_step` may set
_STEP_END_COLUMNS = {
    "status",
    "attempts",
    "rows_read",
    "rows_written",
    "rows_dropped",
    "rows_quarantined",
    "rows_in",
    "delta_version",
    "duration_s",
    "error",
    "details",
}


@functools.lru_cache(maxsize=8)
def _step_update(columns: tuple[str, ...]) -> str:
    """UPDATE run_steps SET those columns of one step (built once per set of columns)."""
    import sqlglot.expressions as exp

    update = exp.update(
        "run_steps",
        {c: exp.Placeholder() for c in columns},
        where="run_id = ? AND step_no = ?",
    )
    return update.sql("sqlite")


class StateStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "state.db"
        self._migrated = False
        #: opened immutable: the folder may not be written (see the module's docstring)
        self.read_only = False
        #: the connection `session()` holds open, and the thread that owns it
        self._held: tuple[sqlite3.Connection, int] | None = None

    @contextmanager
    def session(self) -> Iterator[None]:
        """Within the block, this thread's state reads and writes share one connection (a run
        makes some 100 of them: opening each one costs more than its statement)."""
        if self._held is not None:
            yield
            return
        con = self._open()
        self._held = (con, threading.get_ident())
        try:
            yield
        finally:
            self._held = None
            con.close()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        held = self._held
        shared = held is not None and held[1] == threading.get_ident()
        con = held[0] if held is not None and shared else self._open()
        try:
            yield con
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        finally:
            if not shared:
                con.close()
            elif con.in_transaction:  # a statement failed inside BEGIN ... COMMIT
                con.rollback()

    def _error(self, e: sqlite3.DatabaseError | OSError) -> StateError:
        why = permission_problem(e)
        if why is None and not os.access(self.folder, os.W_OK):
            why = "permission denied"  # SQLite says "unable to open database file"
        if why is not None:
            return self._unwritable(why)
        damaged = any(m in str(e) for m in ("not a database", "malformed", "corrupt"))
        return StateError(
            f"state database error: {e}",
            file=self.path,
            hint="the file is damaged: move it away (medallion starts a new one; tables in "
            "storage are not affected, only the run history is lost)"
            if damaged
            else None,
        )

    def _unwritable(self, why: str) -> StateError:
        error = unwritable(StateError, STATE_FOLDER, self.folder, "state", why)
        assert isinstance(error, StateError)
        return error

    def _open(self) -> sqlite3.Connection:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._error(e) from None
        # a folder this user may not write: read what is there (immutable: SQLite then needs
        # neither a lock nor the WAL's shared-memory file, which it could not create)
        self.read_only = self.path.exists() and not os.access(self.folder, os.W_OK)
        try:
            if self.read_only:
                uri = f"{self.path.resolve().as_uri()}?immutable=1"
                con = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            else:
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise StateError(f"cannot open state database: {e}", file=self.path) from None
        con.row_factory = sqlite3.Row
        try:
            if not self.read_only:
                con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            if not self._migrated:
                self._migrate(con)
        except sqlite3.DatabaseError as e:
            con.close()
            raise self._error(e) from None
        except BaseException:
            con.close()
            raise
        return con

    def _migrate(self, con: sqlite3.Connection) -> None:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise StateError(
                f"state database is from a newer medallion (schema {version})",
                file=self.path,
                hint="upgrade medallion",
            )
        if version < len(_MIGRATIONS) and self.read_only:
            raise self._unwritable("permission denied; it needs an upgrade to this medallion")
        for i in range(version, len(_MIGRATIONS)):
            con.execute("BEGIN IMMEDIATE")
            # statement by statement: executescript() would commit our open transaction
            for statement in _split(_MIGRATIONS[i]):
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {i + 1}")
            con.execute("COMMIT")
        self._migrated = True

    # -- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        trigger: str,
        command: str,
        selection: str | None,
        kind: str = "run",
        pipeline: str | None = None,
        attempt: int | None = None,
        scheduled_for: str | None = None,
    ) -> None:
        """Record a run starting. `kind`: what it does — run (ingest and build), test, publish,
        replay, restore, optimize, vacuum. A pipeline's run also records the pipeline, the
        tick it is for and its attempt."""
        with self.connect() as con:
            self._abort_dead_runs(con)
            con.execute(
                "INSERT INTO runs (run_id, started_at, status, trigger, command, selection,"
                " pid, host, kind, pipeline, attempt, scheduled_for)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    utcnow(),
                    trigger,
                    command,
                    selection,
                    os.getpid(),
                    socket.gethostname(),
                    kind,
                    pipeline,
                    attempt,
                    scheduled_for,
                ),
            )

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET ended_at = ?, status = ?, error = ? WHERE run_id = ?",
                (utcnow(), status, error, run_id),
            )

    def _abort_dead_runs(self, con: sqlite3.Connection) -> None:
        """Runs still marked running whose process is gone (killed, crashed) become 'aborted'."""
        if self.read_only:  # recorded by the next command that may write
            return
        host = socket.gethostname()
        for row in con.execute(
            "SELECT run_id, pid, host FROM runs WHERE status = 'running'"
        ).fetchall():
            if row["host"] == host and row["pid"] and not pid_alive(row["pid"]):
                con.execute(
                    "UPDATE runs SET status = 'aborted', ended_at = ?,"
                    " error = 'process ended without finishing the run' WHERE run_id = ?",
                    (utcnow(), row["run_id"]),
                )
                con.execute(
                    "UPDATE run_steps SET status = 'aborted'"
                    " WHERE run_id = ? AND status = 'running'",
                    (row["run_id"],),
                )

    def start_step(self, run_id: str, step_no: int, step: str, layer: str, table: str) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT INTO run_steps (run_id, step_no, step, layer, table_name, status,"
                " started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (run_id, step_no, step, layer, table, utcnow()),
            )

    def end_step(self, run_id: str, step_no: int, **values: Any) -> None:
        """Record a step's end: its status and any of rows_*, delta_version, duration_s, error,
        details (a dict, stored as JSON)."""
        unknown = set(values) - _STEP_END_COLUMNS
        if unknown:
            raise ValueError(f"unknown step columns {unknown}")
        if isinstance(values.get("details"), dict | list):
            values["details"] = json.dumps(values["details"], default=str)
        with self.connect() as con:
            con.execute(_step_update(tuple(values)), (*values.values(), run_id, step_no))

    def add_skipped_step(
        self, run_id: str, step_no: int, step: str, layer: str, table: str, reason: str
    ) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT INTO run_steps (run_id, step_no, step, layer, table_name, status,"
                " started_at, duration_s, error) VALUES (?, ?, ?, ?, ?, 'skipped', ?, 0, ?)",
                (run_id, step_no, step, layer, table, utcnow(), reason),
            )

    def runs(self, limit: int = 20, kind: str | None = None) -> list[dict[str, Any]]:
        """The latest runs, newest first; with `kind`, only runs of that kind (see start_run)."""
        with self.connect() as con:
            self._abort_dead_runs(con)
            rows = con.execute(
                "SELECT * FROM runs WHERE ? IS NULL OR kind = ?"
                " ORDER BY started_at DESC, run_id DESC LIMIT ?",
                (kind, kind, limit),
            ).fetchall()
        return [dict(r) for r in rows]

    def run_summaries(self, limit: int = 10) -> list[dict[str, Any]]:
        """Recent runs with step counts and rows written, newest first."""
        with self.connect() as con:
            self._abort_dead_runs(con)
            rows = con.execute(
                """
                SELECT r.*,
                       count(s.step_no) AS steps,
                       sum(s.status = 'failed') AS failed_steps,
                       sum(s.status = 'skipped') AS skipped_steps,
                       coalesce(sum(s.rows_written), 0) AS rows_written
                FROM runs r LEFT JOIN run_steps s ON s.run_id = r.run_id
                GROUP BY r.run_id
                ORDER BY r.started_at DESC, r.run_id DESC
                LIMIT ?
                """,
                (limit,),
            ).fetchall()
        return [dict(r) for r in rows]

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.connect() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT * FROM run_steps WHERE run_id = ? ORDER BY step_no", (run_id,)
            ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            if d.get("details"):
                d["details"] = json.loads(d["details"])
            out.append(d)
        return out

    # -- check results ---------------------------------------------------------------------

    def record_checks(self, run_id: str, step_no: int | None, results: list[Any]) -> None:
        """Store CheckResult-like objects (see medallion.quality.checks)."""
        if not results:
            return
        now = utcnow()
        with self.connect() as con:
            con.executemany(
                "INSERT INTO check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        step_no,
                        r.table,
                        r.name,
                        r.kind,
                        r.severity,
                        r.status,
                        int(r.failing_rows) if r.failing_rows is not None else None,
                        float(r.observed) if r.observed is not None else None,
                        r.message,
                        json.dumps(r.sample, default=str) if r.sample else None,
                        now,
                        json.dumps(r.versions) if getattr(r, "versions", None) else None,
                    )
                    for r in results
                ],
            )

    def check_results(self, run_id: str) -> list[dict[str, Any]]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT * FROM check_results WHERE run_id = ? ORDER BY rowid", (run_id,)
            ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["sample"] = json.loads(d["sample"]) if d.get("sample") else []
            d["versions"] = json.loads(d["versions"]) if d.get("versions") else {}
            out.append(d)
        return out

    def checked(self, table: str) -> set[str]:
        """Names of the checks of `table` whose latest result passed (or only warned): those
        need not run again while their tables are unchanged. One that failed runs again, so
        its failure is not forgotten by the next run."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT name, status FROM check_results WHERE table_name = ? "
                "ORDER BY checked_at, rowid",
                (table,),
            ).fetchall()
        latest = {name: status for name, status in rows}
        return {name for name, status in latest.items() if status in ("pass", "warn")}

    def passed_at(self, table: str) -> dict[str, dict[str, int]]:
        """Check name -> the table versions it read, for the checks of `table` whose latest
        result passed and recorded them: what a run may check only the changes since."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT name, status, versions FROM check_results WHERE table_name = ? "
                "ORDER BY checked_at, rowid",
                (table,),
            ).fetchall()
        latest = {name: (status, versions) for name, status, versions in rows}
        return {
            name: json.loads(versions)
            for name, (status, versions) in latest.items()
            if status == "pass" and versions
        }

    def check_history(self, table: str, name: str, window: int) -> list[float]:
        """Observed values of a check in earlier successful runs, newest first (anomalies)."""
        with self.connect() as con:
            rows = con.execute(
                """
                SELECT c.observed FROM check_results c JOIN runs r ON r.run_id = c.run_id
                WHERE c.table_name = ? AND c.name = ? AND c.observed IS NOT NULL
                  AND r.status = 'success' AND c.status IN ('pass', 'warn')
                ORDER BY c.checked_at DESC LIMIT ?
                """,
                (table, name, window),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def ledger(self, limit_runs: int | None = None) -> list[dict[str, Any]]:
        """Steps of the recent runs that built tables (ingest or model steps; not `test`,
        `optimize`, `publish` ...), with their row counts, newest run first (for `verify`)."""
        with self.connect() as con:
            rows = con.execute(
                """
                SELECT s.*, r.started_at AS run_started, r.status AS run_status
                FROM run_steps s JOIN runs r ON r.run_id = s.run_id
                WHERE s.run_id IN (
                    SELECT run_id FROM runs WHERE run_id IN (
                        SELECT run_id FROM run_steps WHERE step IN ('ingest', 'model'))
                    ORDER BY started_at DESC LIMIT ?)
                ORDER BY r.started_at DESC, s.step_no
                """,
                (limit_runs if limit_runs is not None else -1,),
            ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            if d.get("details"):
                d["details"] = json.loads(d["details"])
            out.append(d)
        return out

    # -- publications --------------------------------------------------------------------

    def published_version(self, target: str, table: str) -> int | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT delta_version FROM publications WHERE target = ? AND table_name = ?",
                (target, table),
            ).fetchone()
        return row[0] if row else None

    def set_published(self, target: str, table: str, version: int, rows: int, run_id: str) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO publications VALUES (?, ?, ?, ?, ?, ?)",
                (target, table, version, rows, run_id, utcnow()),
            )

    def publications(self) -> list[dict[str, Any]]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM publications ORDER BY target, table_name")
            return [dict(r) for r in rows.fetchall()]

    # -- checkpoints and resets -------------------------------------------------------------

    def set_checkpoints(
        self, node: str, values: dict[str, str], delta_version: int | None, run_id: str
    ) -> None:
        """Mirror what `node`'s latest commit consumed (called after that commit)."""
        now = utcnow()
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("DELETE FROM checkpoints WHERE node = ?", (node,))
            con.executemany(
                "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                [(node, i, v, delta_version, run_id, now) for i, v in values.items()],
            )
            con.execute("COMMIT")

    def checkpoints(self) -> list[dict[str, Any]]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM checkpoints ORDER BY node, input").fetchall()
        return [dict(r) for r in rows]

    def request_reset(self, node: str) -> None:
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("DELETE FROM checkpoints WHERE node = ?", (node,))
            con.execute("INSERT OR REPLACE INTO resets VALUES (?, ?)", (node, utcnow()))
            con.execute("COMMIT")

    def pending_resets(self) -> set[str]:
        with self.connect() as con:
            return {r[0] for r in con.execute("SELECT node FROM resets").fetchall()}

    def clear_reset(self, node: str) -> None:
        with self.connect() as con:
            con.execute("DELETE FROM resets WHERE node = ?", (node,))

    def rejects_done(self, source: str) -> int | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT batch FROM ingest_rejects WHERE source = ?", (source,)
            ).fetchone()
        return row[0] if row else None

    def set_rejects_done(self, source: str, batch: int) -> None:
        with self.connect() as con:
            con.execute("INSERT OR REPLACE INTO ingest_rejects VALUES (?, ?)", (source, batch))

    # -- ingested files (a cache of what bronze commits record) ---------------------------

    def ingest_cache(self, source: str) -> tuple[str, int] | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT table_id, delta_version FROM ingest_cache WHERE source = ?", (source,)
            ).fetchone()
        return (row["table_id"], row["delta_version"]) if row else None

    def ingested_files(self, source: str, latest: bool = False) -> set[tuple[str, int, str]]:
        """Identities (path, size, fingerprint) of the files ingested; `latest`: only each
        path's last ingested version (what a source with `on_rewrite: replace` holds)."""
        query = "SELECT path, size, fingerprint FROM ingested_files f WHERE source = ?"
        if latest:
            query += (
                " AND delta_version = (SELECT max(delta_version) FROM ingested_files g"
                " WHERE g.source = f.source AND g.path = f.path)"
            )
        with self.connect() as con:
            rows = con.execute(query, (source,)).fetchall()
        return {(r["path"], r["size"], r["fingerprint"]) for r in rows}

    def record_ingested(
        self,
        source: str,
        table_id: str,
        version: int,
        files: list[tuple[str, int, int, int, str | None]],
        *,
        reset: bool = False,
    ) -> None:
        """Add files (path, size, fingerprint, delta_version, run_id) and mark the cache current up
        to `version`; `reset` first forgets the source's files (after an overwrite)."""
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            if reset:
                con.execute("DELETE FROM ingested_files WHERE source = ?", (source,))
            # a version ingested again (a file reverted to earlier content) keeps its latest
            # commit: under `on_rewrite: replace` that is the version bronze holds
            con.executemany(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(source, path, size, fingerprint) DO UPDATE"
                " SET delta_version = excluded.delta_version, run_id = excluded.run_id"
                " WHERE excluded.delta_version > ingested_files.delta_version",
                [(source, *f) for f in files],
            )
            con.execute(
                "INSERT INTO ingest_cache VALUES (?, ?, ?) ON CONFLICT(source) DO UPDATE"
                " SET table_id = excluded.table_id, delta_version = excluded.delta_version",
                (source, table_id, version),
            )
            con.execute("COMMIT")

    def forget_source(self, source: str) -> None:
        with self.connect() as con:
            con.execute("DELETE FROM ingested_files WHERE source = ?", (source,))
            con.execute("DELETE FROM ingest_cache WHERE source = ?", (source,))


def _split(script: str) -> list[str]:
    """Statements of a migration script (no ';' inside our DDL strings)."""
    return [s.strip() for s in script.split(";") if s.strip() and not _only_comments(s)]


def _only_comments(stmt: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in stmt.splitlines())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
