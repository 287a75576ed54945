"""Who is calling: HTTP Basic (checked against the user's SCRAM verifier, the SQL endpoint's
password), a bearer API token (`medallion tokens create`), or the UI's session cookie.

A request without credentials, or with wrong ones, gets 401 with `WWW-Authenticate: Basic`, so
a browser or Excel's "From Web" asks for a user and password; every failed attempt is written
to the access audit (action login, status failed, service http), as the SQL endpoint writes its
own. A session cookie is HttpOnly and SameSite=Strict; each POST made with it must carry the
session's CSRF token in the `X-CSRF-Token` header or, from an HTML form, its `csrf_token`
field. Whatever the credentials, an unsafe request
whose `Origin` is another site is refused: a browser that remembers Basic credentials would
otherwise send them with a form another site posts. `serve.trust` (passwordless loopback
logins) applies to the SQL endpoint only: every HTTP request proves who it is.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import HTTPException, Request

from medallion.errors import AccessDeniedError, MedallionError
from medallion.project import Project
from medallion.serve.http.listing import Listing
from medallion.serve.live import LiveProject

SESSION_COOKIE = "medallion_session"
CSRF_HEADER = "X-CSRF-Token"
#: the CSRF token's field in an HTML form (pages that post without JavaScript)
CSRF_FIELD = "csrf_token"
#: how long a UI session lasts without a request
SESSION_IDLE_SECONDS = 8 * 3600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Session:
    user: str
    csrf: str
    expires: float
    #: the user's `password_stamp` at sign-in: a password set or cleared since (by the CLI
    #: in another process too) ends the session
    stamp: str = ""


@dataclass
class Sessions:
    """The UI's sessions, in this process only: a restart signs everyone out, and a stolen
    state folder holds none."""

    sessions: dict[str, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, user: str, stamp: str) -> tuple[str, Session]:
        key = secrets.token_urlsafe(32)
        expires = time.monotonic() + SESSION_IDLE_SECONDS
        session = Session(user, secrets.token_urlsafe(32), expires, stamp)
        with self.lock:
            now = time.monotonic()
            for k in [k for k, s in self.sessions.items() if s.expires < now]:
                del self.sessions[k]
            self.sessions[key] = session
        return key, session

    def get(self, key: str) -> Session | None:
        with self.lock:
            session = self.sessions.get(key)
            if session is None or session.expires < time.monotonic():
                self.sessions.pop(key, None)
                return None
            session.expires = time.monotonic() + SESSION_IDLE_SECONDS
            return session

    def close(self, key: str) -> None:
        with self.lock:
            self.sessions.pop(key, None)


@dataclass
class Api:
    """What the routes share: the (live) project, the sessions, the secret that makes an unknown
    user's password check cost what a known one's does."""

    live: LiveProject
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sessions: Sessions = field(default_factory=Sessions)
    listing: Listing = field(default_factory=Listing)
    #: every user's limits when given (`medallion serve --statement-timeout/--max-rows`; 0: no
    #: limit); None: each user's from medallion.yml's serve: block, by role
    statement_timeout: float | None = None
    max_rows: int | None = None

    @property
    def project(self) -> Project:
        """The project as its files are now: each request is checked against the `access:`
        policy medallion.yml holds when it arrives (ProjectUnavailableError, refusing it,
        while the files do not load)."""
        return self.live.current()

    def limits(self, role: str) -> tuple[float | None, int | None]:
        """Seconds a statement may run and rows it may return for a user of `role`."""
        timeout, rows = self.project.config.serve.limits(role)
        if self.statement_timeout is not None:
            timeout = self.statement_timeout or None
        if self.max_rows is not None:
            rows = self.max_rows or None
        return timeout, rows


def api(request: Request) -> Api:
    return request.app.state.api  # type: ignore[no-any-return]


def peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        401, detail=detail, headers={"WWW-Authenticate": 'Basic realm="medallion", charset="UTF-8"'}
    )


def failed_login(request: Request, name: str, method: str, error: str) -> HTTPException:
    api(request).project.audit_login(
        name,
        False,
        peer(request),
        request.headers.get("user-agent"),
        service="http",
        error=error,
        method=method,
    )
    return _unauthorized(error)


def _basic(request: Request, credentials: str) -> Any:
    try:
        text = base64.b64decode(credentials, validate=True).decode("utf-8")
        name, password = text.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise failed_login(request, "", "basic", "malformed Basic credentials") from None
    identity = api(request).project.check_password(name, password, api(request).secret)
    if identity is None:
        raise failed_login(request, name, "basic", "password authentication failed")
    return identity


def _bearer(request: Request, token: str) -> Any:
    identity = api(request).project.verify_token(token.strip())
    if identity is None:
        # the secret is never written anywhere; the audit says a token was refused
        raise failed_login(request, "", "token", "unknown or revoked API token")
    return identity


def _cookie(request: Request, key: str, form_token: str | None = None) -> Any:
    a = api(request)
    session = a.sessions.get(key)
    if session is None:
        raise _unauthorized("the session has ended: sign in again")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or form_token or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise HTTPException(
                403,
                detail=f"missing or wrong CSRF token: send the session's in {CSRF_HEADER} "
                f"(or a form's {CSRF_FIELD} field)",
            )
    identity = a.project.authenticate(session.user)
    if identity is None:  # removed since sign-in
        a.sessions.close(key)
        raise _unauthorized(f"user {session.user} no longer exists")
    if identity.password_stamp != session.stamp:  # the password proved is not the user's now
        a.sessions.close(key)
        raise _unauthorized(f"the password of {session.user} changed: sign in again")
    return identity


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-site request (curl, Excel, a same-site GET)
        return True
    parts = urlsplit(origin)
    return parts.netloc.lower() == (request.headers.get("host") or "").lower()


def is_form(request: Request) -> bool:
    """Whether the body is an HTML form's (a page without JavaScript posts these)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind in ("application/x-www-form-urlencoded", "multipart/form-data")


async def current_user(request: Request) -> Any:  # an Identity: faces see it through the façade
    """The caller (FastAPI dependency); 401 (audited) without valid credentials, 403 for an
    unsafe request from another site or a cookie session's POST without its CSRF token (the
    `X-CSRF-Token` header, or an HTML form's `csrf_token` field)."""
    form_token = None
    unsafe = request.method not in SAFE_METHODS
    if unsafe and CSRF_HEADER not in request.headers and is_form(request):
        value = (await request.form()).get(CSRF_FIELD)  # kept: the route reads it again
        form_token = value if isinstance(value, str) else None
    # a password check (PBKDF2) and the state database: off the event loop
    return await anyio.to_thread.run_sync(identify, request, form_token)


def identify(request: Request, form_token: str | None = None) -> Any:
    """`current_user` without the form: who sent `request` (`form_token`: the CSRF token a
    form carried)."""
    if request.method not in SAFE_METHODS and not same_origin(request):
        raise HTTPException(403, detail="cross-site request refused (its Origin is another site)")
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            return _basic(request, value.strip())
        if scheme.lower() == "bearer":
            return _bearer(request, value)
        # the header may be a bare secret (a token pasted without `Bearer `): never echoed
        known = re.fullmatch(r"[A-Za-z-]{1,20}", scheme) is not None and bool(value)
        named = scheme.lower() if known else "unknown"
        raise failed_login(request, "", named, f"unsupported authorization scheme {named!r}")
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        return _cookie(request, key, form_token)
    raise _unauthorized("sign in: HTTP Basic, a bearer API token, or a session")


def at_least(user: Any, role: str) -> None:
    """403 unless `user`'s effective role is `role` or higher."""
    if not Project.role_at_least(user, role):
        raise HTTPException(403, detail=f"{role} role or higher needed (you are {user.role})")


def session_payload(user: Any, session: Session) -> dict[str, Any]:
    return {"user": user.name, "role": user.role, "csrf_token": session.csrf}


def audit_action(
    request: Request,
    user: Any,
    action: str,
    detail: dict[str, Any],
    refused: HTTPException | MedallionError | None = None,
) -> None:
    """Record what a caller changed or started (a run, a pause, a replay, a user) in the access
    audit as `http_<action>`, with who asked (`by`): the façade's own row names the OS user the
    server runs as. `refused`: the error that refused the request (status denied for a
    missing permission, refused otherwise, its message as the reason)."""
    status, error = "ok", None
    if isinstance(refused, HTTPException):
        status = "denied" if refused.status_code == 403 else "refused"
        error = str(refused.detail)
    elif isinstance(refused, MedallionError):
        status = "denied" if isinstance(refused, AccessDeniedError) else "refused"
        error = refused.message
    api(request).project.audit_change(
        f"http_{action}", {**detail, "by": user.name}, "http", status=status, error=error
    )
