"""MySQL / MariaDB connections for database sources: parse the DSN, connect, classify errors.

Transient (retried with exponential backoff, connectors.retry): the server cannot be reached
(2003), went away or dropped the connection mid-query (2006, 2013, 2055), is shutting down
(1053), has too many connections (1040) or killed the query (1927).
Terminal (a clear error at once): access denied (1044, 1045), unknown database (1049), a
missing table (1146), a syntax error in a configured query (1064), a missing privilege (1142).
Messages never carry the password.

The driver is PyMySQL (pure Python, no client library to install); it returns rows as Python
tuples, which the extractor turns into Arrow batches column by column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from medallion.connectors.retry import Classified, TerminalError, TransientError
from medallion.errors import SourceError, ambiguous_userinfo, mask_dsn

if TYPE_CHECKING:
    import pymysql

TRANSIENT = {1040, 1053, 1927, 2003, 2006, 2013, 2055}
AUTH = {1044, 1045}
MISSING = {1146, 1049}


def parse_dsn(dsn: str) -> dict[str, Any]:
    """`mysql://user:password@host:3306/database?unix_socket=/path&charset=utf8mb4` as
    PyMySQL connect() arguments."""
    parts = urlsplit(dsn)
    if ambiguous_userinfo(dsn):
        raise SourceError(
            f"the DSN's user or password holds an unescaped '@', '/', '?' or '#': {mask_dsn(dsn)}",
            hint="percent-encode it in the URL (@ as %40, / as %2F, ? as %3F, # as %23)",
        )
    if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
        raise SourceError(
            f"not a MySQL DSN: {mask_dsn(dsn)}",
            hint="write mysql://user:${MYSQL_PASSWORD}@host:3306/database",
        )
    args: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else "",
        "database": parts.path.lstrip("/") or None,
    }
    for key, values in parse_qs(parts.query).items():
        if key in ("unix_socket", "charset"):
            args[key] = values[-1]
        elif key == "connect_timeout":
            args[key] = int(values[-1])
    return args


def connect(dsn: str) -> pymysql.Connection:
    """An unbuffered (streaming) connection with the session in UTC, so TIMESTAMP values
    arrive as UTC."""
    import pymysql
    import pymysql.cursors

    args = {"charset": "utf8mb4", "connect_timeout": 10, **parse_dsn(dsn)}
    return pymysql.connect(
        **args,
        cursorclass=pymysql.cursors.SSCursor,
        autocommit=False,
        init_command="SET time_zone = '+00:00'",
    )


def _code(error: BaseException) -> int | None:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_transient(error: BaseException) -> bool:
    import pymysql

    if isinstance(error, pymysql.err.OperationalError | pymysql.err.InterfaceError):
        code = _code(error)
        return code is None or code in TRANSIENT
    return isinstance(error, ConnectionError | TimeoutError)


def describe(error: BaseException) -> tuple[str, str | None]:
    """(message, hint) for a MySQL error, without secrets."""
    code = _code(error)
    args = getattr(error, "args", ())
    text = str(args[1]) if len(args) > 1 else str(error) or type(error).__name__
    text = mask_dsn(text)
    if code in AUTH:
        return f"access denied: {text}", "check the user and password in the DSN"
    if code == 1146:
        return text, "check the table (database.table) exists"
    if code == 1049:
        return text, "check the database name in the DSN"
    if code == 1142:
        return text, "the user lacks the SELECT privilege on the table"
    return text, None


def classify(error: BaseException) -> Classified:
    """A MySQL (PyMySQL) error as transient or terminal, described without secrets."""
    message, hint = describe(error)
    return (TransientError if is_transient(error) else TerminalError)(message, hint)
