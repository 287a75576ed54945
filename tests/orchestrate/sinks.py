"""Real servers on 127.0.0.1 that notifications are delivered to in tests.

`WebhookSink`: an HTTP(S) server (http.server) that records every request and answers 200, or
an error status for the first N requests (`fail_first`). `SmtpSink`: a real SMTP server
(aiosmtpd) with optional STARTTLS, implicit TLS and AUTH LOGIN/PLAIN against known users.
Both are context managers on a random free port:

    with WebhookSink(fail_first=2) as hook:
        ...  # post to hook.url + "/anything"
        [request] = hook.wait_for(1, timeout=10)
        request.body["event"]

    with SmtpSink(users={"bot": "s3cret"}, starttls=tls_context) as smtp:
        ...  # send to smtp.url("bot", "s3cret")
        [message] = smtp.wait_for(1)
        message["Subject"]
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    #: the body parsed as JSON (None when it is not JSON)
    body: Any
    raw: bytes
    #: the status the sink answered
    status: int


class WebhookSink:
    """An HTTP server on 127.0.0.1 that records requests. `requests`: those answered 2xx;
    `attempts`: every request, answered or refused. `fail_first`: answer `fail_status` to the
    first N requests. `tls`: a server SSLContext (then `url` is https://)."""

    def __init__(
        self, *, fail_first: int = 0, fail_status: int = 500, tls: ssl.SSLContext | None = None
    ) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.tls = tls
        self.requests: list[HttpRequest] = []
        self.attempts: list[HttpRequest] = []
        self._cond = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens (or, once stopped, listened) on."""
        assert self._port, "the sink is not started"
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer `status` to the next `n` requests."""
        with self._cond:
            self.fail_first = len(self.attempts) + n
            self.fail_status = status

    def hold(self) -> None:
        """Keep every request waiting for its answer until `release` (a slow endpoint)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[HttpRequest]:
        """The first `n` accepted requests, waiting for them up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the webhook sink got {len(self.requests)} accepted request(s) of {n} "
                        f"within {timeout:g} s ({len(self.attempts)} received in all)"
                    )
                self._cond.wait(left)
            return list(self.requests[:n])

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                sink._open.wait(60)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                with sink._cond:
                    failing = len(sink.attempts) < sink.fail_first
                    status = sink.fail_status if failing else 200
                    request = HttpRequest(
                        self.command, self.path, dict(self.headers.items()), body, raw, status
                    )
                    sink.attempts.append(request)
                    if not failing:
                        sink.requests.append(request)
                    sink._cond.notify_all()
                answer = b"ok" if status < 400 else b"sink told to fail"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PUT = do_GET = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._open.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SmtpSession:
    """How one message came in: over TLS or not, logged in as whom, with which mechanism."""

    mail_from: str
    rcpt_tos: list[str]
    tls: bool
    login: str | None
    mechanism: str | None


@dataclass
class SmtpSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd). `users`: name -> password; when given, a
    login is required and checked. `starttls`: a server SSLContext offered through STARTTLS;
    `implicit_tls`: one the connection starts with (smtps). `login_without_tls`: accept AUTH on
    a connection that did not start TLS. `mechanisms`: the AUTH mechanisms offered. `host`:
    the address to listen on (127.0.0.1; `outward_address()` for one that is not loopback).
    `fail_first`: refuse the first N messages with a temporary error."""

    users: dict[str, str] | None = None
    starttls: ssl.SSLContext | None = None
    implicit_tls: ssl.SSLContext | None = None
    login_without_tls: bool = False
    mechanisms: tuple[str, ...] = ("LOGIN", "PLAIN")
    #: the address it listens on
    host: str = "127.0.0.1"
    #: answer the first N messages with a temporary error (451)
    fail_first: int = 0
    #: messages refused that way
    refused: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    sessions: list[SmtpSession] = field(default_factory=list)
    #: AUTH attempts: (mechanism, login, accepted)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._controller: Any = None

    @property
    def port(self) -> int:
        assert self._controller is not None, "the sink is not started"
        return int(self._controller.port)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """smtp(s)://user:password@host:port (user and password percent-encoded)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        auth = ""
        if user is not None:
            auth = urllib.parse.quote(user, safe="")
            if password is not None:
                auth += ":" + urllib.parse.quote(password, safe="")
            auth += "@"
        return f"{scheme}://{auth}{self.host}:{self.port}"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `n` messages, waiting for them up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the SMTP sink got {len(self.messages)} message(s) of {n} within "
                        f"{timeout:g} s (logins: {self.logins})"
                    )
                self._cond.wait(left)
            return list(self.messages[:n])

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(
                    envelope.original_content or envelope.content, policy=email.policy.default
                )
                mechanism, login = session.auth_data or (None, None)
                with sink._cond:
                    if sink.refused < sink.fail_first:
                        sink.refused += 1
                        return "451 4.3.0 the sink was told to refuse this one, try again later"
                    sink.sessions.append(
                        SmtpSession(
                            envelope.mail_from,
                            list(envelope.rcpt_tos),
                            sink.implicit_tls is not None or session.ssl is not None,
                            login,
                            mechanism,
                        )
                    )
                    sink.messages.append(message)  # type: ignore[arg-type]
                    sink._cond.notify_all()
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            if not isinstance(data, LoginPassword):
                return AuthResult(success=False, handled=False)
            login = data.login.decode()
            ok = (sink.users or {}).get(login) == data.password.decode()
            with sink._cond:
                sink.logins.append((mechanism, login, ok))
            return AuthResult(success=ok, handled=False, auth_data=(mechanism, login))

        class _Controller(Controller):
            def _trigger_server(self) -> None:
                # bound to port 0: learn the port the OS chose before the first connection
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        excluded = [m for m in ("LOGIN", "PLAIN") if m not in self.mechanisms]
        kwargs: dict[str, Any] = {}
        if self.users is not None:
            kwargs.update(
                authenticator=authenticate,
                auth_required=True,
                # aiosmtpd counts only STARTTLS as TLS: an smtps connection is TLS already
                auth_require_tls=not (self.login_without_tls or self.implicit_tls),
                auth_exclude_mechanism=excluded,
            )
        if self.starttls is not None:
            kwargs["tls_context"] = self.starttls
        self._controller = _Controller(
            Handler(),
            hostname=self.host,
            port=0,
            ssl_context=self.implicit_tls,
            server_hostname="sink.localhost",
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def outward_address() -> str:
    """This machine's address on its default route (not loopback): what a test uses to reach
    a local server by an address that is not this machine's loopback. Nothing is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect only picks the route
            address = s.getsockname()[0]
        except OSError as e:
            raise AssertionError(f"this machine has no IPv4 address besides loopback: {e}") from e
    if address.startswith("127."):
        raise AssertionError("this machine has no IPv4 address besides loopback")
    return address


def tls_pair(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for localhost/127.0.0.1 under `folder` (the SQL endpoint's
    helper): (the server's context, a client context that trusts it and verifies as usual)."""
    from medallion.serve.pgwire.server import self_signed, tls_context

    cert, key = self_signed(folder)
    return tls_context(cert, key), ssl.create_default_context(cafile=str(cert))
