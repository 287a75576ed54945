"""Retrying what is worth retrying, as types: a driver's error is classified as a
`TransientError` (the server is not reachable yet, restarting, dropped the connection: retried
with exponential backoff) or a `TerminalError` (a wrong password, a missing table, a syntax error:
reported at once), each with a message without secrets and a hint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from medallion.errors import MedallionError, SourceError

T = TypeVar("T")


class Classified(Exception):
    """A driver's error, classified: its message (secrets masked) and a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class TransientError(Classified):
    """A failure that may pass: connection refused or reset, server restarting or shutting down."""


class TerminalError(Classified):
    """A failure retrying cannot fix: authentication, a missing table, a syntax error."""


#: a driver's classifier: any exception -> TransientError or TerminalError
Classifier = Callable[[BaseException], Classified]


def retrying(
    action: Callable[[], T],
    *,
    classify: Classifier,
    retries: int,
    backoff: float,
    what: str,
    error: type[MedallionError] = SourceError,
    on_retry: Callable[[int, BaseException], None] | None = None,
    **where: Any,
) -> T:
    """Run `action`, retrying transient failures with exponential backoff (capped at 60 s); a
    terminal failure, or the last transient one, becomes `error` with a clear message. `action`
    must be safe to repeat: it commits nothing unless it completes."""
    attempt = 0
    while True:
        try:
            return action()
        except MedallionError:
            raise
        except Exception as e:
            failure = e if isinstance(e, Classified) else classify(e)
            transient = isinstance(failure, TransientError)
            if transient and attempt < retries:
                if on_retry is not None:
                    on_retry(attempt, e)
                time.sleep(min(backoff * (2**attempt), 60.0))
                attempt += 1
                continue
            message, hint = failure.message, failure.hint
            if transient:
                message = f"{what} failed after {attempt} retries: {message}"
                hint = hint or "is the database server running and reachable?"
            else:
                message = f"{what} failed: {message}"
            failed = error(message, hint=hint, **where)
            failed.transient = transient
            raise failed from None
