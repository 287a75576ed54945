"""PostgreSQL connections for database sources and publish targets: connect, and classify errors.

Transient (retried with exponential backoff): the server is not accepting connections yet,
refused or reset the connection, or shut down mid-query (SQLSTATE classes 08 and 57P0x).
Terminal (a clear error at once): authentication (28xxx), a missing table or schema (42P01,
3F000), a syntax error in a configured query (42601), permissions (42501), and a DSN libpq
refuses before it tries the network (an unknown option, an invalid value: `sslmode=bogus`, a
port `1:2`): waiting does not fix the configuration.
Connection strings may carry passwords: messages show them with the password masked.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from medallion.connectors.retry import Classified, TerminalError, TransientError
from medallion.errors import ambiguous_userinfo, mask_dsn

if TYPE_CHECKING:
    import psycopg


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: connection problems and server shutdowns."""
    import psycopg

    if _bad_dsn(error):
        return False
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        state = getattr(error, "sqlstate", None)
        if state is None:
            text = str(error).lower()
            # a host name that does not exist (not "Temporary failure in name resolution")
            permanent = (
                "password authentication failed",
                "does not exist",
                "no password",
                "name or service not known",
            )
            return not any(p in text for p in permanent)
        return state.startswith("08") or state.startswith("57P")
    return isinstance(error, ConnectionError | TimeoutError)


def _bad_dsn(error: BaseException) -> bool:
    """libpq refused the connection string itself: psycopg says "connection is bad" when the
    connection failed before any attempt to reach a server (a network failure is "connection
    failed"), and a ProgrammingError for an unknown URI parameter."""
    import psycopg

    text = str(error)
    return (
        isinstance(error, psycopg.OperationalError) and text.startswith("connection is bad:")
    ) or (isinstance(error, psycopg.ProgrammingError) and "invalid URI query parameter" in text)


def describe(error: BaseException) -> tuple[str, str | None]:
    """(message, hint) for a database error, without secrets."""
    state = getattr(error, "sqlstate", None) or ""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = mask_dsn(text)
    # libpq quotes the DSN's text it could not parse, which may be a password's tail
    text = re.sub(r'(missing "=" after )"[^"]*"', r'\1"***"', text)
    if _bad_dsn(error):
        return (
            f"the DSN is not valid: {text.removeprefix('connection is bad: ')}",
            "fix the option in the DSN (the PostgreSQL connection string in medallion.yml)",
        )
    if "name or service not known" in text.lower():
        return text, "check the host name in the DSN"
    if state.startswith("28") or "password authentication failed" in text:
        return f"authentication failed: {text}", "check the user and password in the DSN"
    if state == "42P01" or state == "3F000":
        return text, "check the table (schema.table) exists in that database"
    if state == "42501":
        return text, "the user lacks a privilege (SELECT on the table, CREATE in the schema)"
    if state == "3D000":
        return text, "check the database name in the DSN"
    return text, None


def classify(error: BaseException) -> Classified:
    """A PostgreSQL (psycopg) error as transient or terminal, described without secrets."""
    message, hint = describe(error)
    return (TransientError if is_transient(error) else TerminalError)(message, hint)


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    import psycopg

    refuse_ambiguous(dsn)

    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)


def refuse_ambiguous(dsn: str) -> None:
    """A URL DSN with an unescaped '@' in its user or password is refused before connecting:
    the driver would take the password's tail for the host and show it in its error."""
    if ambiguous_userinfo(dsn):
        raise TerminalError(
            f"the DSN's user or password holds an unescaped '@', '/', '?' or '#': {mask_dsn(dsn)}",
            "percent-encode it in the URL (@ as %40, / as %2F, ? as %3F, # as %23), or use the "
            "key=value form: host=... user=... password='...'",
        )
