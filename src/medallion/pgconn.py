"""PostgreSQL connections for database sources and publish targets: connect, classify errors,
retry what is transient.

Transient (retried with exponential backoff): the server is not accepting connections yet,
refused or reset the connection, or shut down mid-query (SQLSTATE classes 08 and 57P0x).
Immediate (a clear error at once): authentication (28xxx), a missing table or schema (42P01,
3F000), a syntax error in a configured query (42601), permissions (42501).
Connection strings may carry passwords: messages show them with the password masked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from medallion.errors import MedallionError, SourceError

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

# user:password@ up to the last '@' of the authority: an unescaped '@' in the password (which
# should be written %40) must not leave the rest of the password shown
_PASSWORD_RE = re.compile(r"(://[^:/@]+:)([^/?#]*)(@)")


def mask(dsn: str) -> str:
    """The DSN with its password replaced by ***."""
    masked = _PASSWORD_RE.sub(r"\1***\3", dsn)
    return re.sub(r"(password=)\S+", r"\1***", masked)


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: connection problems and server shutdowns."""
    import psycopg

    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        state = getattr(error, "sqlstate", None)
        if state is None:
            text = str(error).lower()
            permanent = ("password authentication failed", "does not exist", "no password")
            return not any(p in text for p in permanent)
        return state.startswith("08") or state.startswith("57P")
    return isinstance(error, ConnectionError | TimeoutError)


def describe(error: BaseException) -> tuple[str, str | None]:
    """(message, hint) for a database error, without secrets."""
    state = getattr(error, "sqlstate", None) or ""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = mask(text)
    if state.startswith("28") or "password authentication failed" in text:
        return f"authentication failed: {text}", "check the user and password in the DSN"
    if state == "42P01" or state == "3F000":
        return text, "check the table (schema.table) exists in that database"
    if state == "42501":
        return text, "the user lacks a privilege (SELECT on the table, CREATE in the schema)"
    if state == "3D000":
        return text, "check the database name in the DSN"
    return text, None


def retrying(
    action: Callable[[], T],
    *,
    retries: int,
    backoff: float,
    what: str,
    error: type[MedallionError] = SourceError,
    on_retry: Callable[[int, BaseException], None] | None = None,
    transient: Callable[[BaseException], bool] | None = None,
    explain: Callable[[BaseException], tuple[str, str | None]] | None = None,
    **where: Any,
) -> T:
    """Run `action`, retrying transient database failures with exponential backoff (capped at
    60 s); a permanent failure, or the last transient one, becomes `error` with a clear message.
    `action` must be safe to repeat: it commits nothing unless it completes. `transient` and
    `explain` classify and describe errors of another driver (default: PostgreSQL's)."""
    transient = transient or is_transient
    explain = explain or describe
    attempt = 0
    while True:
        try:
            return action()
        except MedallionError:
            raise
        except Exception as e:
            if transient(e) and attempt < retries:
                if on_retry is not None:
                    on_retry(attempt, e)
                time.sleep(min(backoff * (2**attempt), 60.0))
                attempt += 1
                continue
            message, hint = explain(e)
            if transient(e):
                message = f"{what} failed after {attempt} retries: {message}"
                hint = hint or "is the database server running and reachable?"
            else:
                message = f"{what} failed: {message}"
            raise error(message, hint=hint, **where) from None


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    import psycopg

    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
