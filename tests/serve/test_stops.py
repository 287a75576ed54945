"""What stops a statement besides its own end: its client gone (the watchdog frees its slot), a
user's share of the slots (one user cannot hold them all), an admin's pg_cancel_backend of any
session, and the timeout and cancel of a query answered by the catalog."""

from __future__ import annotations

import socket
import threading
import time

import psycopg
import pytest
from tests.serve.conftest import Endpoint, start
from tests.serve.test_access import connect

from medallion.project import Project

HEAVY = (  # 10^12 rows: it runs until it is stopped
    "select sum(a.n * b.n + c.n * d.n) from bronze.numbers a, bronze.numbers b, "
    "bronze.numbers c, bronze.numbers d"
)


def in_background(
    con: psycopg.Connection, sql: str
) -> tuple[threading.Thread, list[BaseException]]:
    failed: list[BaseException] = []

    def run() -> None:
        try:
            con.execute(sql)
        except psycopg.Error as e:
            failed.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failed


def test_a_statement_whose_client_has_gone_is_stopped_and_frees_its_slot(shop: Project) -> None:
    server = start(shop, slots=2, slot_wait=20.0)
    try:
        endpoint = Endpoint(server, shop, shop.root)
        # two users fill both slots and vanish: one closes its connection (psycopg sends a
        # Terminate first), the other's socket is shut down as a killed process's is
        for user in ("alice", "bob"):
            password = "other pass" if user == "bob" else None
            con = psycopg.connect(
                endpoint.dsn(user=user, **({"password": password} if password else {})),
                autocommit=True,
            )
            con.pgconn.send_query(HEAVY.encode())
            con.pgconn.flush()
            time.sleep(1.0)
            if user == "bob":
                sock = socket.socket(fileno=con.pgconn.socket)
                sock.shutdown(socket.SHUT_RDWR)
                sock.detach()
            con.close()
        # the watchdog stops both (a few tenths of a second each): val runs at once
        with connect(endpoint, "val") as val:
            started = time.monotonic()
            assert val.execute("select count(*) from gold.sales_by_day").fetchone() == (3,)
            assert time.monotonic() - started < 15
        deadline = time.monotonic() + 30
        while server._free_slots != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server._free_slots == 2
    finally:
        server.stop()


def test_one_user_holds_at_most_half_the_slots(shop: Project) -> None:
    server = start(shop, slots=2, slot_wait=3.0)
    try:
        endpoint = Endpoint(server, shop, shop.root)
        with (
            connect(endpoint, "alice") as first,
            connect(endpoint, "alice") as second,
            connect(endpoint, "val") as val,
        ):
            running, failed_first = in_background(first, HEAVY)
            time.sleep(1.0)
            waiting, failed_second = in_background(second, HEAVY)
            time.sleep(1.0)
            # alice's second statement waits for her share, not the other user's slot
            assert val.execute("select count(*) from gold.sales_by_day").fetchone() == (3,)
            waiting.join(timeout=60)
            assert isinstance(failed_second[0], psycopg.errors.QueryCanceled)
            assert "statement slots" in str(failed_second[0])
            first.cancel_safe()
            running.join(timeout=60)
            assert isinstance(failed_first[0], psycopg.errors.QueryCanceled)
            # alone again, alice runs
            second.rollback()
            assert second.execute("select 1").fetchone() == (1,)
    finally:
        server.stop()


def test_an_admin_cancels_any_users_statement(endpoint: Endpoint) -> None:
    with connect(endpoint, "alice") as busy, connect(endpoint, "ada") as ada:
        pid = busy.info.backend_pid
        thread, failed = in_background(busy, HEAVY)
        time.sleep(1.0)
        try:
            assert ada.execute("select pg_cancel_backend(%s)", (pid,)).fetchone() == (True,)
        finally:  # stopped either way (the test fails, it does not hang)
            busy.cancel_safe()
            thread.join(timeout=60)
        assert not thread.is_alive()
        assert isinstance(failed[0], psycopg.errors.QueryCanceled)


# a catalog query (a table function, no table) that runs for minutes unless stopped
SERIES = "select count(*) from generate_series(1, 30000000000) g(x) where x % 7 = 3"


def test_the_statement_timeout_stops_a_catalog_query(endpoint: Endpoint) -> None:
    with connect(endpoint, "val") as con:
        con.execute("set statement_timeout = '1s'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            con.execute(SERIES)
        assert time.monotonic() - started < 20
        con.rollback()
        assert con.execute("select 1").fetchone() == (1,)


def test_a_cancel_stops_a_catalog_query(endpoint: Endpoint) -> None:
    with connect(endpoint, "val") as con:
        timer = threading.Timer(1.0, con.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="user request"):
            con.execute(SERIES)
        assert time.monotonic() - started < 20
        timer.join()
