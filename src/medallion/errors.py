"""One error hierarchy for everything a user can get wrong or the environment can break.

Every error carries where it happened (file and line, model, config key, source) and what to do
about it, so the CLI can print one readable message instead of a traceback. Code that catches a
library exception (DuckDB, deltalake, YAML, pydantic) re-raises it as one of these, with the
location filled in.
"""

from __future__ import annotations

import re
from pathlib import Path


class MedallionError(Exception):
    """Root of all errors medallion raises on purpose. `str(err)` is the full user message."""

    #: process exit code the CLI uses for this kind of error
    exit_code = 1
    #: the failure may pass by itself (a server restarting, a dropped connection): a pipeline
    #: with `retry_on: transient` runs the step again
    transient = False
    #: the data itself failed (an expectation with action: fail): running again cannot help
    data_failure = False

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
        model: str | None = None,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        message = mask_secrets(message)
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        self.key = key
        self.model = model
        self.source = source
        self.hint = mask_secrets(hint) if hint else hint

    @property
    def location(self) -> str:
        """`file:line:col`, or the model/source name when there is no file."""
        if self.file:
            loc = display_path(self.file)
            if self.line:
                loc += f":{self.line}"
                if self.column:
                    loc += f":{self.column}"
            return loc
        if self.model:
            return f"model {self.model}"
        if self.source:
            return f"source {self.source}"
        return ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "key": self.key,
            "model": self.model,
            "source": self.source,
            "hint": self.hint,
        }


class ConfigError(MedallionError):
    """medallion.yml (or a model header) is missing, not YAML, or does not validate."""


class ProjectNotFoundError(ConfigError):
    """No medallion.yml in the directory or any parent."""


class ProjectUnavailableError(ConfigError):
    """A running server's project was edited and no longer loads: it refuses every request
    until the files load again (failing closed, never serving the previous policy)."""


class ModelError(MedallionError):
    """A model file cannot be loaded: bad header, SQL syntax, unknown table, cycle."""


class CompileError(MedallionError):
    """`medallion compile`: models the requested dialect cannot express (each one listed)."""


class SelectionError(MedallionError):
    """A `--select` expression names nothing or is malformed."""

    exit_code = 2


class SourceError(MedallionError):
    """A source cannot be read: missing file, unreadable format, bad encoding."""


class ExecutionError(MedallionError):
    """A model failed while running (a runtime SQL error, a Python model raised)."""


class StorageError(MedallionError):
    """A Delta table cannot be read or written."""


class QueryError(MedallionError):
    """`medallion query` got SQL it cannot run (syntax error, unknown table, not read-only)."""


class StateError(MedallionError):
    """The state database is unreadable or from an incompatible version."""


class PublishError(MedallionError):
    """A table could not be published; the target keeps its previous content."""


class AccessDeniedError(MedallionError):
    """The read policy refuses a table to the user reading it."""

    exit_code = 77  # EX_NOPERM


class ScramError(MedallionError):
    """A SCRAM-SHA-256 login failed: malformed message, wrong proof, or a bad verifier text.
    Here (not in governance/scram.py, which re-exports it) so the SQL endpoint, a face, can
    catch a failed login without importing governance."""

    exit_code = 77  # EX_NOPERM: a failed login


class LockError(MedallionError):
    """Another process holds the project's writer lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class TemplateError(MedallionError):
    """Unknown template, or a project folder that would be overwritten."""


def display_path(path: str) -> str:
    """Paths under the current folder are shown relative to it (shorter, and what users typed);
    an object-store URL as it is."""
    if "://" in path:
        return path
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


def display_value(value: object) -> str:
    """A data value in a message, written as SQL writes it: 6586.39, 'text' (quoted, so that
    'NULL' and NULL differ), NULL, true, 2024-01-01, 2024-01-01 10:00:00, 3 days 01:00:00,
    [1, 2], {'a': 1}. Messages show values users know from their SQL and files, never Python's
    reprs (Decimal('6586.39'), datetime.date(2024, 1, 1), None)."""
    import math
    from datetime import date, datetime, time, timedelta
    from decimal import Decimal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value) if math.isfinite(value) else ("-" if value < 0 else "") + "Infinity"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return interval_text(0, value.days, (value.seconds * 10**6 + value.microseconds) * 1000)
    if isinstance(value, bytes | bytearray):
        return "'" + "".join(f"\\x{b:02x}" for b in value) + "'"
    if all(hasattr(value, f) for f in ("months", "days", "nanoseconds")):  # an Arrow interval
        return interval_text(value.months, value.days, value.nanoseconds)  # type: ignore[attr-defined]
    if isinstance(value, dict):
        items = ", ".join(f"{display_value(str(k))}: {display_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(display_value(v) for v in value) + "]"
    return str(value)


def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """An interval as DuckDB prints one: `1 year 2 months 3 days 01:00:00.5` (`00:00:00` when
    empty). Arrow has no text form of intervals (a CSV writer cannot cast one)."""
    parts = []
    years = int(months / 12)  # towards zero, as DuckDB: -14 months is -1 year -2 months
    months -= years * 12
    for n, unit in ((years, "year"), (months, "month"), (days, "day")):
        if n:
            parts.append(f"{n} {unit}{'s' if abs(n) != 1 else ''}")
    if nanoseconds or not parts:
        sign = "-" if nanoseconds < 0 else ""
        micros, _ = divmod(abs(nanoseconds), 1000)
        seconds, frac = divmod(micros, 10**6)
        minutes, secs = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        clock = f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"
        if frac:
            clock += f".{frac:06d}".rstrip("0")
        parts.append(clock)
    return " ".join(parts)


#: how the OS, SQLite and delta-rs say a file may not be written (EACCES, EPERM, EROFS)
_PERMISSION = re.compile(
    r"permission denied|read-only file system|operation not permitted|readonly database"
    r"|os error (13|30|1)\b",
    re.IGNORECASE,
)


def permission_problem(error: BaseException | str) -> str | None:
    """Why `error` is a folder this user may not write ('permission denied', 'read-only file
    system'), or None when it is something else."""
    import errno

    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (error.strerror or "permission denied").lower()
    m = _PERMISSION.search(str(error))
    if m is None:
        return None
    said = m.group(0).lower()
    return {
        "os error 13": "permission denied",
        "os error 30": "read-only file system",
        "os error 1": "operation not permitted",
        "readonly database": "read-only database",
    }.get(said, said)


def unwritable(
    kind: type[MedallionError],
    what: str,
    folder: str | Path,
    setting: str,
    why: str,
    verb: str = "write",
) -> MedallionError:
    """One message for a folder medallion must write (or read) and may not (its permissions, a
    read-only mount): what could not be written, where, why, and the two ways out. `setting`
    is the key of medallion.yml that moves the folder (storage, state)."""
    shown = display_path(str(folder))
    able, mode = ("writable", "u+w") if verb == "write" else ("readable", "u+r")
    return kind(
        f"cannot {verb} {what}: {shown} is not {able} for this user ({why})",
        key=setting,
        hint=f"make {shown} {able} for the user running medallion (e.g. chmod -R {mode} "
        f"{shown}), or set `{setting}:` in medallion.yml to a folder you may {verb}",
    )


#: a line of a Rust backtrace ("  12: start_thread", "     at ./nptl/...") or its heading
_BACKTRACE_LINE = re.compile(r"^\s*(\d+: |at |Stack backtrace:)")


def without_backtrace(text: str) -> str:
    """An error's text without the Rust backtrace delta-rs may append to it."""
    kept = [line for line in text.splitlines() if not _BACKTRACE_LINE.match(line)]
    return "\n".join(kept).strip()


def first_line(err: BaseException) -> str:
    """The first line of an error's text: engines' errors repeat context over several lines,
    the first one says what is wrong."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def suggest(word: str, candidates: object) -> str | None:
    """'did you mean ...' for a misspelt key or name; None when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)  # type: ignore[union-attr]
    return matches[0] if matches else None


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset in text."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


# libpq's key=value form: a value in quotes may hold spaces (and escaped quotes); an unclosed
# quote runs to the end
_KV_PASSWORD_RE = re.compile(
    r"""(password\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\S+)""", re.I
)


def _userinfo_end(rest: str) -> int:
    """Where the user:password of a URL's text after '://' ends (its '@'), -1 if none: the
    last '@' before the query (a password may hold '@', '/', '#'; a query value may hold '@'),
    else the first '@' (a '?' in the password, no query)."""
    query = rest.find("?")
    head = rest if query < 0 else rest[:query]
    at = head.rfind("@")
    return at if at >= 0 else rest.find("@")


def mask_dsn(dsn: str) -> str:
    """A connection string with its password replaced by *** (every message shows DSNs so).
    In a URL, all between the user's ':' and the '@' before the host, whatever it holds."""
    if "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        at = _userinfo_end(rest)
        colon = rest.find(":", 0, at) if at >= 0 else -1
        if colon >= 0:
            dsn = f"{scheme}://{rest[: colon + 1]}***{rest[at:]}"
    return _KV_PASSWORD_RE.sub(r"\1***", dsn)


def ambiguous_userinfo(dsn: str) -> bool:
    """A URL DSN whose user or password holds an unescaped '@', '/', '?' or '#': drivers end
    the password there and then show its tail as the host, port or database in their errors."""
    if "://" not in dsn:
        return False
    rest = dsn.split("://", 1)[1]
    at = _userinfo_end(rest)
    return at >= 0 and any(c in rest[:at] for c in "@/?#")


#: credentials in use (object-store keys, SAS tokens, secrets): never shown in a message
_SECRETS: set[str] = set()
# a SAS token's signature (and an account key given as AccountKey=) wherever it appears
_SAS_RE = re.compile(r"((?:^|[?&;\s])(?:sig|AccountKey|SharedAccessSignature)=)[^&;\s\"']+", re.I)


def register_secret(value: str) -> None:
    """From now on, `value` is replaced by *** in every MedallionError's message and hint."""
    if value and len(value) >= 8:  # real secrets are long; a short one would mask words
        _SECRETS.add(value)
        # a SAS token also appears without its leading '?'
        if value.startswith("?"):
            _SECRETS.add(value[1:])


def mask_secrets(text: str) -> str:
    """`text` with every registered secret, and any SAS signature, replaced by ***."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _SAS_RE.sub(r"\1***", text) if "=" in text else text
