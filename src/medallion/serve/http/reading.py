"""One governed read for the API: a SQL text run as the caller through the façade's user-aware
read path (allow-list, grants, masks, row filters, audit with service `http`), under the
caller's limits from medallion.yml's serve: block (statement timeout, row cap), streamed in a
format. The first batch is read before the response starts, so a refused or broken query is a
proper 4xx with its message, not a 200 with a broken body."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request
from fastapi.responses import StreamingResponse
from sqlglot import exp

from medallion.errors import MedallionError
from medallion.project import Interrupt, Project
from medallion.serve.http import formats
from medallion.serve.http.auth import api, peer

if TYPE_CHECKING:
    import pyarrow as pa


TIMEOUT_MESSAGE = "canceling statement due to statement timeout"


def table_ref(layer: str, name: str) -> exp.Table:
    """`"layer"."name"` as a SQLGlot table (quoted: a name from a URL is never SQL)."""
    return exp.table_(
        exp.to_identifier(name, quoted=True), db=exp.to_identifier(layer, quoted=True)
    )


def cap_message(cap: int) -> str:
    return (
        f"the result has more than {cap} rows, your row cap: add a limit or aggregate "
        "(max_rows in medallion.yml's serve: block, per role under roles:)"
    )


def stream(
    request: Request,
    user: Any,
    sql: str,
    fmt: str,
    filename: str,
    *,
    as_of: int | str | None = None,
    params: Sequence[Any] | None = None,
) -> StreamingResponse:
    project = api(request).project
    # named as this API spells it, not as the CLI's --as-of
    when = None if as_of is None else Project.parse_as_of(as_of, "as_of")
    timeout, cap = api(request).limits(user.role)
    interrupt = Interrupt()
    deadline = time.monotonic() + timeout if timeout else None
    timer = _Timeout(timeout, interrupt) if timeout else None
    try:
        reader = project.query_reader(
            sql,
            when,
            user,
            service="http",
            client=request.headers.get("user-agent"),
            source=peer(request),
            params=list(params) if params else None,
            interrupt=interrupt,
        )
        try:
            first = reader.read_next_batch()
        except StopIteration:
            first = None
    except MedallionError:
        if timer is not None:
            timer.cancel()
        if interrupt.pressed:
            raise HTTPException(408, detail=TIMEOUT_MESSAGE) from None
        raise
    if cap and first is not None and first.num_rows > cap:
        reader.close()
        if timer is not None:
            timer.cancel()
        raise HTTPException(413, detail=cap_message(cap))

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        try:
            if first is None:
                return
            yield first
            rows += first.num_rows
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise StreamCut(TIMEOUT_MESSAGE)
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except MedallionError as e:
                    raise StreamCut(TIMEOUT_MESSAGE if interrupt.pressed else e.message) from None
                rows += batch.num_rows
                if cap and rows > cap:
                    raise StreamCut(cap_message(cap))
                yield batch
        finally:
            if timer is not None:
                timer.cancel()
            reader.close()

    return formats.response(batches(), reader.schema, fmt, filename)


class StreamCut(Exception):
    """A read that failed after its first rows were sent: the response is cut short (the
    connection closes before the body's end), so the client cannot take it for a whole one."""


class QuietStreamCuts(logging.Filter):
    """For uvicorn's error log: a StreamCut is one line saying why, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None and not isinstance(error, StreamCut):
            error = error.__cause__ or error.__context__
            if isinstance(error, BaseExceptionGroup):
                error = next((e for e in error.exceptions if isinstance(e, StreamCut)), None)
        if isinstance(error, StreamCut):
            record.msg, record.args = "a response was cut short: %s", (str(error),)
            record.exc_info = record.exc_text = None
        return True


class _Timeout:
    """Presses `interrupt` once `seconds` have passed, and again every 0.1 s until cancelled:
    an engine forgets a press that lands between two of its statements (engine.base.Interrupt),
    so one press could be lost."""

    def __init__(self, seconds: float, interrupt: Interrupt) -> None:
        self._done = threading.Event()
        self._interrupt = interrupt
        self._seconds = seconds
        threading.Thread(target=self._run, name="medallion-http-timeout", daemon=True).start()

    def _run(self) -> None:
        if self._done.wait(self._seconds):
            return
        # the read fails within moments of a press that lands; pressing stops after 10 s in
        # any case (a response whose body was never read is never cancelled)
        for _ in range(100):
            self._interrupt.press()
            if self._done.wait(0.1):
                return

    def cancel(self) -> None:
        self._done.set()
