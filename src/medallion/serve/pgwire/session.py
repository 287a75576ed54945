"""One client connection: startup (TLS, SCRAM), then simple and extended query until it leaves.

Statements run in this connection's thread, inside the engine only in one of the server's
slots (a few statements at once, the others waiting their turn: see Server); rows stream from
the Backend's RecordBatchReader batch by batch (never read whole), each batch encoded to
DataRows (or COPY's CopyData) and sent before the next is read. A CancelRequest or the
statement timeout stops a statement inside DuckDB: each statement runs with an `Interrupt` the
session presses (a CancelRequest arrives on another connection's
thread; the server's watchdog thread presses at the deadline, and again while the statement
still runs, since DuckDB forgets a press that lands between two of its statements)."""

from __future__ import annotations

import contextlib
import itertools
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.errors import (
    AccessDeniedError,
    MedallionError,
    ProjectUnavailableError,
    QueryError,
    ScramError,
    StorageError,
    first_line,
)
from medallion.project import Interrupt
from medallion.serve.pgwire import statements, types
from medallion.serve.pgwire.protocol import (
    CANCEL_REQUEST,
    GSSENC_REQUEST,
    PROTOCOL_V3,
    SSL_REQUEST,
    ClientGone,
    Connection,
    PgError,
    Reader,
    cstr,
    startup_params,
)
from medallion.serve.pgwire.server import loopback

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

    from medallion.serve.pgwire.server import Server

_pids = itertools.count(1000)

#: settings reported to the client after login (ParameterStatus) and shown by SHOW
DEFAULT_SETTINGS = {
    "server_version": "16.4",
    "server_version_num": "160004",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "TimeZone": "UTC",
    "is_superuser": "off",
    "application_name": "",
    "default_transaction_read_only": "on",
    "in_hot_standby": "off",
    "search_path": '"$user", public',
    "transaction_isolation": "repeatable read",
    "extra_float_digits": "1",
    "max_identifier_length": "63",
    "lc_messages": "C",
}
_REPORTED = (
    "server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle",
    "integer_datetimes", "standard_conforming_strings", "TimeZone", "is_superuser",
    "application_name", "default_transaction_read_only", "in_hot_standby",
)  # fmt: skip


class Cancelled(Exception):
    pass


@dataclass
class Prepared:
    text: str
    param_oids: list[int]
    keyword: str


@dataclass
class Portal:
    stmt: Prepared
    sql: str
    result_formats: list[int]
    reader: pa.RecordBatchReader | None = None
    cols: list[types.Column] | None = None
    pending: list[bytes] = field(default_factory=list)
    sent: int = 0
    done: bool = False
    tag: str | None = None  # the command tag of a session command (no rows)
    row: list[str] | None = None  # SHOW's one row
    fetch: tuple[Portal, int] | None = None  # FETCH n FROM a DECLAREd cursor
    interrupt: Interrupt | None = None  # stops the query of `reader` inside its engine
    copy: statements.CopyOut | None = None  # COPY ... TO STDOUT: the rows as CopyData


class Session:
    def __init__(self, server: Server, sock: Any, peer: str) -> None:
        self.server = server
        self.backend = server.backend
        self.conn = Connection(sock)
        self.peer = peer
        self.pid = next(_pids)
        self.key = secrets.randbits(31)
        self.user = ""
        #: what the login's password proved (LoginExchange.stamp; None: trusted, no password)
        self.password_stamp: str | None = None
        self.settings = dict(DEFAULT_SETTINGS)
        self.in_transaction = False
        self.failed = False  # in an aborted transaction block, or skipping to Sync
        self.prepared: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self._catalog: Any = None
        self._catalog_stamp: object = None
        self._stale_catalogs: list[Any] = []
        self._cancel = threading.Event()
        self._deadline: float | None = None
        #: the user's statement timeout (seconds) and row cap, set at login (None: none)
        self.timeout: float | None = None
        self.max_rows: int | None = None
        #: the statement inside the engine right now (what a cancel or the timeout stops)
        self._running: Interrupt | None = None
        self._running_lock = threading.Lock()
        self._waiting = False  # for a slot

    # -- the connection's life -------------------------------------------------------------

    def run(self) -> None:
        try:
            try:
                if not self._startup():
                    return
            except ProjectUnavailableError as e:  # edited files that do not load: fail closed
                self._fatal(PgError("57P03", e.message, hint=e.hint))
                return
            self.server.register(self)
            try:
                self._loop()
            finally:
                self.server.unregister(self)
        except (ClientGone, ConnectionError, OSError):
            pass
        finally:
            for catalog in [*self._stale_catalogs, self._catalog]:
                if catalog is not None:
                    catalog.close()
            if hasattr(self.conn.sock, "unwrap"):  # TLS: close_notify, as PostgreSQL sends
                with contextlib.suppress(OSError, ValueError):
                    self.conn.sock.settimeout(1.0)  # the client may be gone already
                    self.conn.sock.unwrap()
            with contextlib.suppress(OSError):
                self.conn.sock.close()

    def cancel(self) -> None:
        """A CancelRequest (or the server stopping), from another thread: the statement
        running stops inside the engine, and a statement between batches at the next one."""
        self._cancel.set()
        self._press()

    def watch(self, now: float) -> None:
        """The server's watchdog, every few tenths of a second: a statement still inside
        the engine (or waiting for a slot) whose client has gone is cancelled; one past its
        deadline, or cancelled, is pressed (again)."""
        if self._running is None and not self._waiting:
            return
        if not self._cancel.is_set() and _client_gone(self.conn.sock):
            self._cancel.set()  # the statement fails, its error cannot be sent: the session ends
        if self._cancel.is_set() or (self._deadline is not None and now > self._deadline):
            self._press()

    def _press(self) -> None:
        with self._running_lock:
            running = self._running
        if running is not None:
            running.press()

    @contextlib.contextmanager
    def _inside(self, interrupt: Interrupt | None) -> Iterator[None]:
        """While the engine works for a statement (its start, each batch read), in one of the
        server's slots (see Server): the time waiting for one does not count against the
        statement timeout; the server's `slot_wait` bounds it."""
        self._waiting = True
        try:
            self._take_slot()
        finally:
            self._waiting = False
        try:
            with self._running_lock:
                self._running = interrupt
            try:
                yield
            finally:
                with self._running_lock:
                    self._running = None
        finally:
            self.server.give_slot(self.user)

    def _take_slot(self) -> None:
        started = time.monotonic()

        def check() -> None:
            if self._cancel.is_set():
                raise PgError("57014", "canceling statement due to user request")
            waited = time.monotonic() - started
            if waited > self.server.slot_wait:
                raise PgError(
                    "57014",
                    f"canceling statement: it waited {waited:.1f} s for one of the endpoint's "
                    f"{self.server.slots} statement slots",
                    hint="the endpoint runs as many statements at once as it has slots (two a "
                    "core); the others wait their turn: the server is busy, try again",
                )

        self.server.take_slot(self.user, check)
        if self._deadline is not None:  # the timeout counts the work, not the wait
            self._deadline += time.monotonic() - started

    def _statement_timeout(self) -> float | None:
        """The user's limit, or the client's own `SET statement_timeout` when it is shorter: a
        client may tighten its limit (as drivers and pools do), never loosen it."""
        own = statements.pg_duration(self.settings.get("statement_timeout") or "0")
        return min((t for t in (self.timeout, own) if t), default=None)

    def _stopped(self) -> PgError | None:
        """57014 when the statement that just failed was cancelled or timed out: it failed
        because it was stopped, whatever the engine's error says."""
        if self._cancel.is_set():
            return PgError("57014", "canceling statement due to user request")
        if self._deadline is not None and time.monotonic() > self._deadline:
            return PgError("57014", "canceling statement due to statement timeout")
        return None

    def _startup(self) -> bool:
        conn = self.conn
        while True:
            code, body = conn.read_startup()
            if code == SSL_REQUEST:
                if self.server.ssl_context is None or conn.pending():
                    conn.send_raw(b"N")
                    conn.flush()
                    continue
                conn.send_raw(b"S")
                conn.flush()
                conn.sock = self.server.ssl_context.wrap_socket(conn.sock, server_side=True)
                continue
            if code == GSSENC_REQUEST:
                conn.send_raw(b"N")
                conn.flush()
                continue
            if code == CANCEL_REQUEST:
                pid, key = struct.unpack("!ii", body[:8])
                self.server.cancel(pid, key)
                return False
            if code != PROTOCOL_V3:
                major, minor = code >> 16, code & 0xFFFF
                self._fatal(PgError("0A000", f"unsupported frontend protocol {major}.{minor}"))
                return False
            break
        params = startup_params(body)
        self.user = params.get("user", "")
        client = params.get("application_name", "")
        host = self.peer.rsplit(":", 1)[0]
        if not hasattr(conn.sock, "unwrap") and not loopback(host):
            # before any password exchange: rows (masked or not) and an md5 digest would
            # cross the network in clear, as HTTP refuses plain http off loopback
            self.backend.log_login(
                self.user, False, self.peer, client, "none", error="no TLS from another host"
            )
            self._fatal(
                PgError(
                    "28000",
                    f"connection from {host} without TLS refused: this endpoint requires "
                    "encryption from other hosts",
                    hint="connect with sslmode=require (or verify-full with the server's "
                    "certificate, whose fingerprint `medallion serve` prints)",
                )
            )
            return False
        if not self.user:
            self._fatal(PgError("28000", "no PostgreSQL user name specified in startup packet"))
            return False
        if not self._authenticate(client):
            return False
        self.timeout, self.max_rows = self.server.limits(self.user)
        database = params.get("database") or self.user
        if database != self.backend.database:
            self._fatal(
                PgError(
                    "3D000",
                    f'database "{database}" does not exist',
                    hint=f'this endpoint serves the medallion project "{self.backend.database}": '
                    f"connect to database {self.backend.database}",
                )
            )
            return False
        for name, value in params.items():
            if name in ("user", "database", "replication"):
                continue
            if name == "options":
                continue
            try:
                self._set(name, value)
            except PgError as err:  # an unknown TimeZone given at startup: FATAL, as PostgreSQL
                self._fatal(err)
                return False
        self.settings["session_id"] = f"{self.pid:x}.{self.key:x}"
        for name in _REPORTED:
            conn.parameter_status(name, self.settings[name])
        conn.send(b"K", struct.pack("!ii", self.pid, self.key))
        conn.ready(b"I")
        return True

    def _authenticate(self, client: str) -> bool:
        conn = self.conn
        host = self.peer.rsplit(":", 1)[0]  # "127.0.0.1:5555", "::1:5555"
        method = "SCRAM-SHA-256"
        try:
            # an unknown user gets an exchange that fails like a wrong password: the client
            # cannot tell which names exist
            exchange = self.backend.login_exchange(self.user, self.server.secret, host)
            method = exchange.mechanism
            self.password_stamp = exchange.stamp
            if method == "trust":
                conn.auth(0)
                self.backend.log_login(self.user, True, self.peer, client, method)
                return True
            if method == "md5":
                conn.auth(5, exchange.salt)
                kind, body = conn.read_message()
                if kind != b"p":
                    raise ScramError("expected a password message")
                exchange.server_final(body)
                conn.auth(0)
                self.backend.log_login(self.user, True, self.peer, client, method)
                return True
            conn.auth(10, cstr(exchange.mechanism) + b"\0")
            kind, body = conn.read_message()
            if kind != b"p":
                raise ScramError("expected a SASL initial response")
            r = Reader(body)
            mechanism = r.cstr()
            if mechanism != exchange.mechanism:
                raise ScramError(f"SASL mechanism {mechanism} is not supported")
            length = r.i32()
            server_first = exchange.server_first(r.bytes(length))
            conn.auth(11, server_first.encode())
            kind, body = conn.read_message()
            if kind != b"p":
                raise ScramError("expected a SASL response")
            server_final = exchange.server_final(body)
        except ScramError:
            self.backend.log_login(self.user, False, self.peer, client, method)
            self._fatal(PgError("28P01", f'password authentication failed for user "{self.user}"'))
            return False
        conn.auth(12, server_final.encode())
        conn.auth(0)
        self.backend.log_login(self.user, True, self.peer, client, method)
        return True

    def _fatal(self, err: PgError) -> None:
        err.severity = "FATAL"
        self.conn.error(err)
        self.conn.flush()

    def _status(self) -> bytes:
        if self.in_transaction:
            return b"E" if self.failed else b"T"
        return b"I"

    def _loop(self) -> None:
        conn = self.conn
        skipping = False  # after an error in the extended protocol, until Sync
        while True:
            kind, body = conn.read_message()
            if kind == b"X":
                return
            if kind == b"Q":
                skipping = False
                self._simple(Reader(body).cstr())
                conn.ready(self._status())
                continue
            if kind == b"S":
                skipping = False
                if not self.in_transaction:
                    self._close_unnamed()
                conn.ready(self._status())
                continue
            if kind == b"H":
                conn.flush()
                continue
            if skipping:
                continue
            try:
                if kind == b"P":
                    self._parse(body)
                elif kind == b"B":
                    self._bind(body)
                elif kind == b"D":
                    self._describe(body)
                elif kind == b"E":
                    self._execute(body)
                elif kind == b"C":
                    self._close(body)
                elif kind in (b"d", b"c", b"f"):
                    pass  # COPY data: never asked for
                else:
                    raise PgError("08P01", f"unexpected message type {kind!r}")
            except Exception as e:
                conn.error(_unexpected(e))
                skipping = True
                if self.in_transaction:
                    self.failed = True

    def _close_unnamed(self) -> None:
        portal = self.portals.pop("", None)
        if portal is not None and portal.reader is not None:
            portal.reader.close()

    # -- simple query ----------------------------------------------------------------------

    def _simple(self, sql: str) -> None:
        stmts = statements.split(sql)
        if not stmts:
            self.conn.send(b"I")
            return
        for stmt in stmts:
            try:
                if self.failed and stmt.keyword not in ("ROLLBACK", "ABORT", "COMMIT", "END"):
                    raise PgError(
                        "25P02",
                        "current transaction is aborted, commands ignored until end of "
                        "transaction block",
                    )
                portal = self._start(Prepared(stmt.text, [], stmt.keyword), [], [])
                rows = portal.reader is not None or portal.row is not None or portal.fetch
                if rows and portal.copy is None:
                    self.conn.send(b"T", types.row_description(self._cols(portal)))
                self._stream(portal, 0)
            except Exception as e:
                self.conn.error(_unexpected(e))
                if self.in_transaction:
                    self.failed = True
                return  # the statements after an error are not run (as PostgreSQL)

    # -- extended query --------------------------------------------------------------------

    def _parse(self, body: bytes) -> None:
        r = Reader(body)
        name = r.cstr()
        text = r.cstr()
        oids = [r.i32() for _ in range(r.i16())]
        stmts = statements.split(text)
        if len(stmts) > 1:
            raise PgError("42601", "cannot insert multiple commands into a prepared statement")
        stmt = stmts[0] if stmts else statements.Statement("", "")
        n = statements.count_params(stmt.text)
        oids += [0] * (n - len(oids))
        self.prepared[name] = Prepared(stmt.text, oids, stmt.keyword)
        self.conn.send(b"1")

    def _bind(self, body: bytes) -> None:
        r = Reader(body)
        portal_name = r.cstr()
        name = r.cstr()
        stmt = self.prepared.get(name)
        if stmt is None:
            raise PgError("26000", f'prepared statement "{name}" does not exist')
        formats = [r.i16() for _ in range(r.i16())]
        values = []
        for i in range(r.i16()):
            length = r.i32()
            data = None if length < 0 else r.bytes(length)
            fmt = formats[0] if len(formats) == 1 else formats[i] if i < len(formats) else 0
            oid = stmt.param_oids[i] if i < len(stmt.param_oids) else 0
            try:
                values.append(types.decode_param(data, oid, fmt == 1))
            except (ValueError, struct.error) as e:
                raise PgError("22P02", f"invalid value for parameter ${i + 1}: {e}") from None
        result_formats = [r.i16() for _ in range(r.i16())]
        if self.failed and stmt.keyword not in ("ROLLBACK", "ABORT", "COMMIT", "END"):
            raise PgError("25P02", "current transaction is aborted")
        old = self.portals.pop(portal_name, None)
        if old is not None and old.reader is not None:
            old.reader.close()
        self.portals[portal_name] = self._start(stmt, values, result_formats)
        self.conn.send(b"2")

    def _describe(self, body: bytes) -> None:
        r = Reader(body)
        what = r.bytes(1)
        name = r.cstr()
        if what == b"S":
            stmt = self.prepared.get(name)
            if stmt is None:
                raise PgError("26000", f'prepared statement "{name}" does not exist')
            self.conn.send(
                b"t",
                struct.pack("!h", len(stmt.param_oids))
                + b"".join(struct.pack("!i", o or types.TEXT) for o in stmt.param_oids),
            )
            # the columns: the statement run with NULL parameters, no row read
            portal = self._start(stmt, [None] * len(stmt.param_oids), [])
            self._describe_portal(portal)
            if portal.reader is not None:
                portal.reader.close()
            return
        portal = self.portals.get(name)
        if portal is None:
            raise PgError("34000", f'portal "{name}" does not exist')
        self._describe_portal(portal)

    def _describe_portal(self, portal: Portal) -> None:
        if portal.copy is not None or (
            portal.reader is None and portal.row is None and portal.fetch is None
        ):
            self.conn.send(b"n")
        else:
            self.conn.send(b"T", types.row_description(self._cols(portal)))

    def _execute(self, body: bytes) -> None:
        r = Reader(body)
        name = r.cstr()
        max_rows = r.i32()
        portal = self.portals.get(name)
        if portal is None:
            raise PgError("34000", f'portal "{name}" does not exist')
        self._stream(portal, max_rows)

    def _close(self, body: bytes) -> None:
        r = Reader(body)
        what = r.bytes(1)
        name = r.cstr()
        if what == b"S":
            self.prepared.pop(name, None)
        else:
            portal = self.portals.pop(name, None)
            if portal is not None and portal.reader is not None:
                portal.reader.close()
        self.conn.send(b"3")

    # -- running a statement ---------------------------------------------------------------

    def _start(self, stmt: Prepared, values: list[Any], formats: list[int]) -> Portal:
        """A portal for the statement: a session command answered, or its rows about to
        stream (the query has started)."""
        portal = Portal(stmt, stmt.text, formats)
        kw = stmt.keyword
        if not kw:
            portal.tag = ""
            return portal
        if kw in statements.SESSION_COMMANDS:
            refused = statements.refuse_setting(stmt.text, kw, self.user)
            if refused is not None:  # an attempt on the engine or on who the session is
                session = self.settings | {"peer": self.peer}
                self.backend.log_refused(self.user, stmt.text, refused.message, session)
                raise refused
            self._session_command(stmt, portal)
            return portal
        if kw in ("DECLARE", "FETCH", "MOVE"):
            return self._cursor(stmt, values, portal)
        if kw in ("PREPARE", "EXECUTE", "DEALLOCATE"):
            return self._prepared_sql(stmt, portal)
        copy = statements.parse_copy(stmt.text) if kw == "COPY" else None
        if copy is not None:  # COPY (query) TO STDOUT: the query's rows, checked as a SELECT
            inner = statements.split(copy.query)
            if len(inner) != 1:
                raise PgError("42601", "COPY takes one query")
            started = self._start(Prepared(inner[0].text, [], inner[0].keyword), values, [])
            if started.reader is None:
                raise PgError("0A000", f"COPY of {inner[0].keyword} is not supported")
            started.copy = copy
            return started
        if kw in statements.WRITES:
            refused = statements.refuse_write(statements.Statement(stmt.text, kw))
            # a write (COPY ... TO, ATTACH, INSTALL, PRAGMA too) is a denied attempt: audited
            session = self.settings | {"peer": self.peer}
            self.backend.log_refused(self.user, stmt.text, refused.message, session)
            raise refused
        self._cancel.clear()
        timeout = self._statement_timeout()
        self._deadline = time.monotonic() + timeout if timeout else None
        bound = statements.bind(stmt.text, values, "postgres")
        cancelled = statements.cancel_call(bound, self.pid)
        if cancelled is not None:
            portal.reader = self._cancel_backend(cancelled.pid)
        elif statements.is_catalog(stmt.text):
            portal.interrupt = Interrupt()
            portal.reader = self._catalog_query(bound, portal.interrupt)
        else:
            portal.interrupt = Interrupt()
            portal.reader = self._query(stmt.text, values, portal.interrupt)
        portal.tag = "SELECT"
        return portal

    def _query(self, sql: str, values: list[Any], interrupt: Interrupt) -> pa.RecordBatchReader:
        try:
            session = self.settings | {"peer": self.peer, "password_stamp": self.password_stamp}
            with self._inside(interrupt):  # DuckDB runs the query's first batch already
                return self.backend.execute(self.user, sql, values, session, interrupt)
        except PgError:  # stopped before it ran (waiting for a slot)
            raise
        except MedallionError as e:
            stopped = self._stopped() if interrupt.pressed else None
            if stopped is not None:
                raise stopped from None
            if isinstance(e, AccessDeniedError):
                # the read policy refuses what it cannot check, a typo included; a statement
                # that does not parse is still a syntax error to the client (it reveals nothing)
                code = "42601" if "does not parse" in e.message else "42501"
                raise PgError(code, e.message, hint=e.hint) from None
            if isinstance(e, QueryError | StorageError):
                raise _sql_error(e) from None
            if isinstance(e, ProjectUnavailableError):
                raise PgError("57P03", e.message, hint=e.hint) from None
            raise PgError("XX000", e.message, hint=e.hint) from None

    def _catalog_query(self, sql: str, interrupt: Interrupt) -> pa.RecordBatchReader:
        """A query of the catalog, on the session's own engine: in a slot and stopped by a
        cancel or the statement timeout, as any statement."""
        catalog = self.catalog()
        interrupt.bind(catalog.engine)
        try:
            with self._inside(interrupt):
                return catalog.query(sql)
        except Exception as e:  # DuckDB's own errors too: the catalog's engine is a bare one
            stopped = self._stopped() if interrupt.pressed else None
            if stopped is not None:
                raise stopped from None
            if isinstance(e, QueryError | StorageError):
                raise _sql_error(e) from None
            raise

    def _cancel_backend(self, pid: int | None) -> pa.RecordBatchReader:
        """pg_cancel_backend(pid) as PostgreSQL answers: the statement of a session of the
        same user is cancelled (true), and an admin's (as a role with pg_signal_backend) of
        any session; another user's is 42501; a pid that is no session a warning and false;
        NULL (a statement described before it is bound) NULL."""
        import pyarrow as pa

        target = None if pid is None else self.server.session(pid)
        if pid is None:
            pass
        elif target is None:
            self.conn.notice(f"PID {pid} is not a PostgreSQL backend process", severity="WARNING")
        elif target.user != self.user and not self.backend.signals_any(self.user):
            raise PgError(
                "42501",
                "permission denied to cancel query",
                hint="Only roles with privileges of the role whose query is being canceled "
                'or with privileges of the "pg_signal_backend" role may cancel this query.',
            )
        elif target is self:
            raise PgError("57014", "canceling statement due to user request")
        else:
            target.cancel()
        answer = None if pid is None else target is not None
        batch = pa.record_batch([pa.array([answer], type=pa.bool_())], names=["pg_cancel_backend"])
        return pa.RecordBatchReader.from_batches(batch.schema, [batch])

    def catalog(self) -> Any:
        stamp = self.backend.catalog_stamp()
        if self._catalog is not None and stamp != self._catalog_stamp:
            # the project was loaded again (an access: edit, a new model): the listing anew;
            # the old one closes with the session (a portal may still read from it)
            self._stale_catalogs.append(self._catalog)
            self._catalog = None
        if self._catalog is None:
            from medallion.serve.pgwire.catalog import Catalog

            self._catalog_stamp = stamp
            self._catalog = Catalog(
                self.backend.new_session_engine(),
                self.backend.tables(self.user),
                database=self.backend.database,
                user=self.user,
                settings={k: v for k, v in self.settings.items() if k != "session_id"},
                punch_list=self.server.punch_list,
                pid=self.pid,
            )
        return self._catalog

    def _prepared_sql(self, stmt: Prepared, portal: Portal) -> Portal:
        """PREPARE name [(types)] AS query, EXECUTE name [(values)], DEALLOCATE name: SQL's
        prepared statements, in the namespace of the protocol's (as PostgreSQL keeps them).
        EXECUTE runs the query as Bind would, through the same checks as any statement."""
        if stmt.keyword == "PREPARE":
            parsed = statements.parse_prepare(stmt.text)
            if parsed is None:
                raise PgError("42601", "syntax error in PREPARE: expected PREPARE name AS query")
            name, oids, query = parsed
            inner = statements.split(query)
            if len(inner) != 1:
                raise PgError("42601", "PREPARE takes one statement")
            kw = inner[0].keyword
            if kw in statements.WRITES:
                refused = statements.refuse_write(inner[0])
                session = self.settings | {"peer": self.peer}
                self.backend.log_refused(self.user, stmt.text, refused.message, session)
                raise refused
            if kw in statements.SESSION_COMMANDS or kw in ("PREPARE", "EXECUTE", "DEALLOCATE"):
                raise PgError("42601", f"cannot prepare {kw}")
            if name in self.prepared:
                raise PgError("42P05", f'prepared statement "{name}" already exists')
            oids += [0] * (statements.count_params(inner[0].text) - len(oids))
            self.prepared[name] = Prepared(inner[0].text, oids, kw)
            portal.tag = "PREPARE"
            return portal
        if stmt.keyword == "DEALLOCATE":
            name = statements.parse_deallocate(stmt.text)
            if name == "all":
                self.prepared.clear()
            elif self.prepared.pop(name, None) is None:
                raise PgError("26000", f'prepared statement "{name}" does not exist')
            portal.tag = "DEALLOCATE ALL" if name == "all" else "DEALLOCATE"
            return portal
        executed = statements.parse_execute(stmt.text)
        if executed is None:
            raise PgError("42601", "syntax error in EXECUTE: expected EXECUTE name (values)")
        name, args = executed
        prepared = self.prepared.get(name)
        if prepared is None:
            raise PgError("26000", f'prepared statement "{name}" does not exist')
        if prepared.keyword in ("PREPARE", "EXECUTE", "DEALLOCATE"):
            # a protocol-level statement may be one (Parse takes any text): EXECUTE of an
            # EXECUTE would run itself without end; PREPARE refuses to make one so
            raise PgError(
                "42P14",
                f'prepared statement "{name}" is a {prepared.keyword}: EXECUTE cannot run it',
                hint="EXECUTE runs a prepared query",
            )
        if len(args) != len(prepared.param_oids):
            raise PgError(
                "42601",
                f'wrong number of parameters for prepared statement "{name}"',
                hint=f"it takes {len(prepared.param_oids)}, EXECUTE gave {len(args)}",
            )
        values = []
        for i, ((text, written), oid) in enumerate(zip(args, prepared.param_oids, strict=True)):
            try:
                data = None if text is None else text.encode()
                values.append(types.decode_param(data, oid or written, False))
            except ValueError as e:
                raise PgError("22P02", f"invalid value for parameter ${i + 1}: {e}") from None
        return self._start(prepared, values, portal.result_formats)

    def _cursor(self, stmt: Prepared, values: list[Any], portal: Portal) -> Portal:
        """DECLARE name CURSOR FOR query, FETCH n FROM name, MOVE n IN name: a cursor is a
        portal the client reads in steps (psycopg's named cursors describe it as a portal)."""
        if stmt.keyword == "DECLARE":
            declared = statements.parse_declare(stmt.text)
            if declared is None:
                raise PgError("42601", "syntax error in DECLARE: expected DECLARE name CURSOR FOR")
            name, binary, query = declared
            if name in self.portals:
                raise PgError("42P03", f'cursor "{name}" already exists')
            inner = statements.split(query)[0]
            self.portals[name] = self._start(
                Prepared(inner.text, [], inner.keyword), values, [1] if binary else []
            )
            portal.tag = "DECLARE CURSOR"
            return portal
        fetched = statements.parse_fetch(stmt.text)
        if fetched is None:
            raise PgError("42601", f"syntax error in {stmt.keyword}")
        count, name = fetched
        target = self.portals.get(name)
        if target is None:
            raise PgError("34000", f'cursor "{name}" does not exist')
        if stmt.keyword == "MOVE":
            moved = self._rows(target, count, send=False)
            portal.tag = f"MOVE {moved}"
            return portal
        portal.fetch = (target, count)
        return portal

    def _zone(self) -> str | None:
        """The session's TimeZone when timestamptz text must be converted to it (None: UTC)."""
        zone = self.settings.get("TimeZone") or "UTC"
        return None if zone == "UTC" else zone

    def _cols(self, portal: Portal) -> list[types.Column]:
        if portal.fetch is not None:
            return self._cols(portal.fetch[0])
        if portal.cols is None:
            if portal.row is not None:
                import pyarrow as pa

                schema = pa.schema([(portal.row[0], pa.string())])
            else:
                assert portal.reader is not None
                schema = portal.reader.schema
            portal.cols = types.columns(schema, portal.result_formats, self._zone())
        return portal.cols

    def _stream(self, portal: Portal, max_rows: int) -> None:
        conn = self.conn
        if portal.fetch is not None:
            target, count = portal.fetch
            conn.command_complete(f"FETCH {self._rows(target, count)}")
            return
        if portal.reader is None:
            if portal.row is not None:
                if not portal.done:
                    import pyarrow as pa

                    batch = pa.record_batch([pa.array([portal.row[1]])], names=[portal.row[0]])
                    conn.send_raw(types.data_rows(batch, self._cols(portal))[0])
                    portal.done = True
                conn.command_complete("SHOW")
            elif portal.tag == "":
                conn.send(b"I")
            else:
                conn.command_complete(portal.tag or "")
            return
        if portal.copy is not None:
            if not portal.done and not portal.sent:
                cols = self._cols(portal)
                conn.send(b"H", struct.pack("!bh", 0, len(cols)) + b"\0\0" * len(cols))
                if portal.copy.header:
                    conn.send(b"d", types.copy_header(cols, portal.copy))
            self._rows(portal, 0)
            conn.send(b"c")
            conn.command_complete(f"COPY {portal.sent}")
            return
        sent = self._rows(portal, max_rows)
        if max_rows > 0 and sent >= max_rows and (portal.pending or not portal.done):
            conn.send(b"s")  # PortalSuspended: Execute again for more
            return
        conn.command_complete(f"SELECT {portal.sent}")

    def _rows(self, portal: Portal, max_rows: int, send: bool = True) -> int:
        """Send up to `max_rows` rows of the portal (all when 0); how many were sent."""
        conn = self.conn
        cols = self._cols(portal)
        cap = self.max_rows
        sent_now = 0
        assert portal.reader is not None
        try:
            while True:
                if portal.pending:
                    take = len(portal.pending) if max_rows <= 0 else max_rows - sent_now
                    chunk, portal.pending = portal.pending[:take], portal.pending[take:]
                    if send:
                        conn.send_raw(b"".join(chunk))
                    sent_now += len(chunk)
                    portal.sent += len(chunk)
                    if max_rows > 0 and sent_now >= max_rows:
                        return sent_now
                if portal.done:
                    return sent_now
                if self._cancel.is_set():
                    raise PgError("57014", "canceling statement due to user request")
                if self._deadline is not None and time.monotonic() > self._deadline:
                    raise PgError("57014", "canceling statement due to statement timeout")
                try:
                    with self._inside(portal.interrupt):
                        batch = portal.reader.read_next_batch()
                except StopIteration:
                    portal.done = True
                    continue
                if cap and portal.sent + len(portal.pending) + batch.num_rows > cap:
                    raise PgError(
                        "54000",
                        f"the result has more than {cap} rows, the endpoint's row cap",
                        hint="add a LIMIT or aggregate; the cap is max_rows in medallion.yml's "
                        "serve: block (per role under roles:) or `medallion serve --max-rows`",
                    )
                if max_rows > 0:
                    portal.pending = _split_rows(batch, cols)
                    continue
                if portal.copy is not None:
                    data, n = types.copy_rows(batch, cols, portal.copy), batch.num_rows
                else:
                    data, n = types.data_rows(batch, cols)
                if send:
                    conn.send_raw(data)
                portal.sent += n
                sent_now += n
        except (QueryError, StorageError) as e:
            portal.reader.close()
            raise self._stopped_portal(portal) or _sql_error(e) from None
        except OSError as e:
            portal.reader.close()
            if isinstance(e, ConnectionError):
                raise
            raise self._stopped_portal(portal) or PgError("XX000", str(e).splitlines()[0]) from None
        except PgError:
            portal.reader.close()
            raise
        except Exception:  # DuckDB's own (a catalog query's engine is a bare one)
            portal.reader.close()
            stopped = self._stopped_portal(portal)
            if stopped is not None:
                raise stopped from None
            raise

    def _stopped_portal(self, portal: Portal) -> PgError | None:
        pressed = portal.interrupt is not None and portal.interrupt.pressed
        return self._stopped() if pressed else None

    # -- session commands ------------------------------------------------------------------

    def _session_command(self, stmt: Prepared, portal: Portal) -> None:
        kw = stmt.keyword
        portal.tag = statements.SESSION_COMMANDS[kw]
        if kw in ("BEGIN", "START"):
            if self.in_transaction:
                self.conn.notice("there is already a transaction in progress")
            self.in_transaction = True
        elif kw in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            portal.tag = "ROLLBACK" if self.failed else portal.tag
            self.in_transaction = False
            self.failed = False
        elif kw == "SET":
            parsed = statements.parse_set(stmt.text)
            if parsed is not None:
                self._set(*parsed, report=True)
        elif kw == "RESET":
            name = statements.parse_reset(stmt.text)
            if name == "all":
                self.settings.update(DEFAULT_SETTINGS)
            else:
                self._set(name, "", report=True)
        elif kw == "SHOW":
            name = statements.parse_show(stmt.text)
            shown = {k.lower(): (k, v) for k, v in self.settings.items()}
            if name not in shown:
                raise PgError("42704", f'unrecognized configuration parameter "{name}"')
            portal.row = [shown[name][0], shown[name][1]]
        elif kw == "CLOSE":
            name = statements.parse_close(stmt.text)
            closing = list(self.portals) if name == "all" else [name]
            for n in closing:
                cursor = self.portals.pop(n, None)
                if cursor is None:
                    raise PgError("34000", f'cursor "{n}" does not exist')
                if cursor.reader is not None:
                    cursor.reader.close()
        elif kw == "DISCARD":
            self.prepared.clear()
            for p in self.portals.values():
                if p.reader is not None:
                    p.reader.close()
            self.portals.clear()
            self.settings.update(DEFAULT_SETTINGS)

    def _set(self, name: str, value: str, report: bool = False) -> None:
        canonical = {k.lower(): k for k in DEFAULT_SETTINGS}
        key = canonical.get(name.lower(), name.lower())
        if key == "TimeZone" and value:
            value = _time_zone(value)
        if (
            key == "client_encoding"
            and value
            and value.upper().replace("-", "")
            not in (
                "UTF8",
                "UNICODE",
            )
        ):
            raise PgError("22023", f"client_encoding {value} is not supported: use UTF8")
        if key == "client_encoding":
            value = "UTF8"
        if key == "statement_timeout" and value:
            try:
                statements.pg_duration(value)
            except ValueError:
                raise PgError(
                    "22023",
                    f'invalid value for parameter "statement_timeout": "{value}"',
                    hint="milliseconds (5000) or a number and a unit: 5s, 2min",
                ) from None
        self.settings[key] = value if value else DEFAULT_SETTINGS.get(key, "")
        if report and key in _REPORTED:
            self.conn.parameter_status(key, self.settings[key])


#: names of UTC itself: timestamptz is written as it is stored (+00), no conversion
_UTC_NAMES = ("UTC", "GMT", "ETC/UTC", "ETC/GMT", "Z", "UCT", "ZULU", "UNIVERSAL")


def _time_zone(value: str) -> str:
    """A TimeZone a client sets, checked: an IANA name (Europe/Paris) or UTC; 22023 otherwise,
    as PostgreSQL answers an unknown zone."""
    import zoneinfo

    name = value.strip().strip("'\"")
    if name.upper() in _UTC_NAMES:
        return "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PgError(
            "22023",
            f'invalid value for parameter "TimeZone": "{value}"',
            hint="an IANA time zone name such as Europe/Paris, or UTC",
        ) from None
    return name


def _unexpected(e: Exception) -> PgError:
    """An error as the client is told it: ours as they are, anything else as an internal
    error (logged with its traceback: it is a bug of the endpoint), the session going on."""
    if isinstance(e, PgError):
        return e
    if isinstance(e, ClientGone | ConnectionError):
        raise e
    import logging

    logging.getLogger("medallion.serve").exception("internal error in a session")
    return PgError("XX000", f"internal error of the medallion endpoint: {first_line(e)}")


def _client_gone(sock: Any) -> bool:
    """Whether the client closed its connection (or it broke), looked at without reading:
    the session's thread reads it once its statement ends. A client that sent more
    (pipelined messages, a Terminate before closing) is still seen gone by the hang-up."""
    import select
    import socket

    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        hangup = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)
        poller = select.poll()
        poller.register(fd, select.POLLIN | hangup)
        events = poller.poll(0)
        if not events:
            return False
        if events[0][1] & hangup:
            return True
        # readable: data, or the end of the stream (where POLLRDHUP is missing); the raw
        # socket is peeked at (a TLS socket refuses flags), and left open
        raw = socket.socket(fileno=fd)
        try:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        finally:
            raw.detach()
    except OSError:
        return True


def _split_rows(batch: pa.RecordBatch, cols: list[types.Column]) -> list[bytes]:
    """A batch's DataRows one by one (for Execute with a row limit)."""
    out = []
    for i in range(batch.num_rows):
        out.append(types.data_rows(batch.slice(i, 1), cols)[0])
    return out


def _sql_error(e: MedallionError) -> PgError:
    """A query's error with the SQLSTATE PostgreSQL would give."""
    text = e.message
    low = text.lower()
    if (
        "unknown table" in low
        or "unknown layer" in low
        or "not qualified" in low
        or ("does not exist" in low and "table" in low)
    ):
        code = "42P01"
    elif "syntax error" in low or "cannot analyse" in low:
        code = "42601"
    elif "read-only" in low:
        code = "25006"
    elif "not allowed" in low or "permission" in low or "outside_files" in low:
        code = "42501"
    elif "column" in low and ("not found" in low or "does not have" in low):
        code = "42703"
    else:
        code = "XX000"
    where = ""
    if e.line:
        where = f" (line {e.line}{f', column {e.column}' if e.column else ''})"
    return PgError(code, text + where, hint=e.hint)
