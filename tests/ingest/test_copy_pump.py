"""The pump that moves a PostgreSQL COPY result into pyarrow's CSV reader through a pipe.

Its source here is a generator standing in for psycopg's COPY iterator (one row per chunk, as
psycopg yields them); the end-to-end behaviour against a real server is in tests/pg."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow.csv as pacsv
import pytest

from medallion.ingest.database import PUMP_BYTES, _Pump


class Dropped(Exception):
    """What psycopg raises when the server goes away mid-COPY."""


def rows(n: int, fail_after: int | None = None) -> Iterator[bytes]:
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise Dropped("server closed the connection unexpectedly")
        yield f"{i},name {i}\n".encode()


def test_every_row_arrives_through_the_pipe() -> None:
    n = 200_000  # several PUMP_BYTES writes
    assert n * 12 > 2 * PUMP_BYTES
    pump = _Pump(b"id,name\n", rows(n))
    table = pacsv.read_csv(pump.file)
    pump.check()
    assert table.num_rows == n
    assert table.column("id").to_pylist()[-1] == n - 1


def test_a_failure_at_a_row_boundary_is_raised_not_read_as_the_end() -> None:
    """The pipe then ends cleanly after whole rows (those written before the failure): only
    check() tells it from the real end."""
    pump = _Pump(b"id,name\n", rows(200_000, fail_after=150_000))
    table = pacsv.read_csv(pump.file)  # reads as a complete, shorter file
    assert 0 < table.num_rows < 150_000
    with pytest.raises(Dropped):
        pump.check()


def test_closing_early_stops_a_pump_blocked_on_a_full_pipe() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 1000 + b"\n"

    pump = _Pump(b"", endless())
    pump.file.read(10)
    done = threading.Event()
    threading.Thread(target=lambda: (pump.close(), done.set()), daemon=True).start()
    assert done.wait(10), "the pump did not stop"
    assert pump.close() is None  # its broken pipe is not a failure of the source
