"""The façade's stop button under the endpoint: `Project.query_reader(interrupt=...)` pressed
from another thread stops a query inside DuckDB, read as the project or as a user, and the
project answers the next query."""

from __future__ import annotations

import threading
import time

import pytest
from tests.serve.test_psycopg import HEAVY

from medallion.errors import QueryError
from medallion.project import Interrupt, Project


@pytest.mark.parametrize("as_user", [False, True], ids=["project", "user"])
def test_a_pressed_interrupt_stops_the_query_inside_duckdb(shop: Project, as_user: bool) -> None:
    user = shop.authenticate("alice") if as_user else None
    interrupt = Interrupt()
    timer = threading.Timer(1.0, interrupt.press)
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"(?i)interrupt"):
        shop.query_reader(HEAVY, None, user, interrupt=interrupt).read_all()
    timer.join()
    assert time.monotonic() - started < 15  # hours of work without the press
    assert interrupt.pressed
    assert shop.query("select count(*) as n from bronze.numbers").to_pylist() == [{"n": 1000}]


def test_pressing_after_the_query_ended_does_nothing(shop: Project) -> None:
    interrupt = Interrupt()
    rows = shop.query_reader("select 1 as x", interrupt=interrupt).read_all()
    interrupt.press()  # its engine is closed: nothing to stop, no error
    assert rows.to_pylist() == [{"x": 1}]
