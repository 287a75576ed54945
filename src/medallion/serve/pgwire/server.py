"""The listener: a thread per connection, the sessions by backend process id (for
CancelRequest), and TLS (a given certificate, or a self-signed one made once under the state
folder with the `openssl` command). A client on another host must negotiate TLS: a session
from a non-loopback address without it is refused before its login."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import ipaddress
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from medallion.serve.pgwire.backend import Backend
    from medallion.serve.pgwire.session import Session


class Server:
    def __init__(
        self,
        backend: Backend,
        *,
        host: str = "127.0.0.1",
        port: int = 5433,
        ssl_context: ssl.SSLContext | None = None,
        statement_timeout: float | None = None,
        max_rows: int | None = None,
        punch_list: Path | None = None,
        slots: int | None = None,
        slot_wait: float = 60.0,
    ) -> None:
        """`statement_timeout` (seconds) and `max_rows`, when given, are every user's (0: no
        limit); None leaves each user's to the backend (medallion.yml, per role). `slots`:
        how many statements work inside the engine at once (default: two a core, at least 4);
        `slot_wait`: how long a statement may wait for one (seconds). One user holds at most
        half the slots (at least one): a user whose statements are long (a runaway script, a
        dashboard left open) cannot lock the others out; a user alone still uses one a core.

        Why slots: every statement's work (parsing, the policy, opening its DuckDB, the
        query) is CPU-bound, and the sessions' threads would otherwise share the cores all at
        once: with 60 sessions, each statement takes about 60 times as long, and a statement
        timeout of 2 s cancels nearly all of them although each needs a few tenths of a
        second. With slots, the statements run a few at a time at full speed and the others
        wait their turn; a statement's timeout counts its time in a slot, not its wait, which
        `slot_wait` bounds (a client may cancel it too). The price: as many long statements
        as there are slots make the others wait (up to `slot_wait`). A statement whose client
        has gone (its connection closed) is stopped, and its slot freed, by the watchdog."""
        self.slots = max(1, slots or max(4, 2 * (os.cpu_count() or 2)))
        self.slots_per_user = max(1, self.slots // 2)
        self.slot_wait = slot_wait
        self._free_slots = self.slots
        self._held: collections.Counter[str] = collections.Counter()  # slots a user holds
        self._slot_queue: collections.deque[tuple[object, str]] = collections.deque()
        self._slot_turn = threading.Condition()
        self.backend = backend
        self.ssl_context = ssl_context
        self.statement_timeout = statement_timeout
        self.max_rows = max_rows
        self.punch_list = punch_list
        #: unknown users get a SCRAM exchange derived from this (it fails like a wrong password)
        self.secret = secrets.token_bytes(32)
        self._sessions: dict[int, Session] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        try:
            self.sock = socket.create_server((host, port), reuse_port=False, backlog=128)
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {e.strerror or e}",
                hint="another server uses the port: pick one with --sql-port",
            ) from None
        self.host, self.port = self.sock.getsockname()[:2]

    def serve_forever(self) -> None:
        from medallion.serve.pgwire.session import Session

        threading.Thread(target=self._watchdog, name="pgwire-watchdog", daemon=True).start()
        self.sock.settimeout(0.5)
        while not self._stopped.is_set():
            try:
                client, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopped.is_set():
                    break
                raise
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = Session(self, client, f"{addr[0]}:{addr[1]}")
            thread = threading.Thread(target=session.run, name=f"pgwire-{addr[1]}", daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, benchmarks)."""
        thread = threading.Thread(target=self.serve_forever, name="pgwire", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopped.set()
        self.sock.close()
        with self._lock:
            sessions = list(self._sessions.values())
        for s in sessions:  # each ends its statement and closes its engines
            s.cancel()
            with contextlib.suppress(OSError):
                s.conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    def _watchdog(self) -> None:
        """Stops statements past their deadline, or whose client has gone, inside the engine
        (a session's thread is blocked in DuckDB then, it cannot look itself)."""
        while not self._stopped.wait(0.2):
            now = time.monotonic()
            with self._lock:
                sessions = list(self._sessions.values())
            for session in sessions:
                session.watch(now)

    # -- sessions --------------------------------------------------------------------------

    def limits(self, user: str) -> tuple[float | None, int | None]:
        """`user`'s statement timeout and row cap (None: none): the server's, else theirs."""
        timeout, rows = self.backend.limits(user)
        if self.statement_timeout is not None:
            timeout = self.statement_timeout or None
        if self.max_rows is not None:
            rows = self.max_rows or None
        return timeout, rows

    def register(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.pid] = session

    def unregister(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.pid, None)

    def take_slot(self, user: str, check: Callable[[], None]) -> None:
        """Wait for a slot to work inside the engine for `user`, first come first served
        among the statements of users below their share (`slots_per_user`); `check`, called
        every few hundredths of a second while waiting, raises to stop waiting."""
        ticket = (object(), user)
        with self._slot_turn:
            self._slot_queue.append(ticket)
            try:
                while not (self._free_slots and self._next_slot() is ticket):
                    self._slot_turn.wait(0.05)
                    check()
                self._free_slots -= 1
                self._held[user] += 1
            finally:
                self._slot_queue.remove(ticket)
                self._slot_turn.notify_all()

    def _next_slot(self) -> tuple[object, str] | None:
        """The waiting statement whose turn is next: the first of a user below their share."""
        return next((t for t in self._slot_queue if self._held[t[1]] < self.slots_per_user), None)

    def give_slot(self, user: str) -> None:
        with self._slot_turn:
            self._free_slots += 1
            self._held[user] -= 1
            if not self._held[user]:
                del self._held[user]
            self._slot_turn.notify_all()

    def session(self, pid: int) -> Session | None:
        with self._lock:
            return self._sessions.get(pid)

    def cancel(self, pid: int, key: int) -> None:
        with self._lock:
            session = self._sessions.get(pid)
        if session is not None and secrets.compare_digest(
            session.key.to_bytes(4, "big"), key.to_bytes(4, "big", signed=True)
        ):
            session.cancel()


def loopback(host: str) -> bool:
    """Whether `host` (an address to listen on, or a client's) is this machine's loopback:
    localhost, 127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6 address (a dual-stack
    listener's peers). Nothing sent to or from it crosses a network."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"cannot load the TLS certificate {cert} with key {key}: {e}",
            hint="give a PEM certificate and its unencrypted PEM key (--tls-cert, --tls-key)",
        ) from None
    return ctx


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost under `folder`, made once (openssl)."""
    cert, key = folder / "server.crt", folder / "server.key"
    if cert.exists() and key.exists():
        return cert, key
    folder.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "3650",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        raise ConfigError(
            f"cannot make a self-signed TLS certificate with openssl: {e}",
            hint="install openssl, or give a certificate with --tls-cert and --tls-key",
        ) from None
    key.chmod(0o600)
    return cert, key


def fingerprint(cert: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
