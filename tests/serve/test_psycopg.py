"""psycopg 3 against the endpoint: server-side parameters (extended protocol), prepared
statements, binary results, SQL cursors, session commands, errors with their SQLSTATE, cancel,
the statement timeout and row cap, and many sessions at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from tests.serve.conftest import Endpoint, start

from medallion.project import Project

ROWS = [
    (1, "alice", Decimal("10.50"), datetime(2024, 1, 1, 10, 0), True, date(2024, 1, 1), "[1, 2]"),
    (2, "bob", Decimal("20.25"), datetime(2024, 1, 2, 11, 30), False, date(2024, 1, 2), "[2, 4]"),
    (3, "alice", Decimal("5.00"), datetime(2024, 1, 3, 9, 15), True, date(2024, 1, 3), "[3, 6]"),
]
SELECT = "select * from silver.orders"


def connect(endpoint: Endpoint, **kw: str) -> psycopg.Connection:
    return psycopg.connect(endpoint.dsn(**kw), connect_timeout=10)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_types_and_server_side_parameters(endpoint: Endpoint, binary: bool) -> None:
    with connect(endpoint) as con:
        cur = con.cursor(binary=binary)
        cur.execute(f"{SELECT} order by order_id")
        assert cur.fetchall() == ROWS
        assert [d.name for d in cur.description] == [
            "order_id", "customer", "amount", "ordered_at", "paid", "order_date", "pair",
        ]  # fmt: skip
        cur.execute(
            f"{SELECT} where customer = %s and amount > %s and ordered_at >= %s "
            "and order_date <= %s and paid = %s order by order_id",
            ("alice", Decimal("6"), datetime(2024, 1, 1), date(2024, 1, 3), True),
        )
        assert cur.fetchall() == [ROWS[0]]
        cur.execute(
            "select total, orders from gold.sales_by_customer where customer = %s", ("bob",)
        )
        assert cur.fetchall() == [(Decimal("20.25"), 1)]


def test_values_postgres_writes_its_own_way(endpoint: Endpoint) -> None:
    """timestamptz with an offset, floats' Infinity and NaN, NULL, negative decimals."""
    with connect(endpoint) as con:
        for binary in (False, True):
            row = (
                con.cursor(binary=binary)
                .execute(
                    "select ordered_at::timestamptz as t, 'inf'::double as i, "
                    "'-inf'::double as m, null::integer as z, -amount as neg, 1.5::real as r "
                    "from silver.orders where order_id = 2"
                )
                .fetchone()
            )
            assert row is not None
            assert row[0] == datetime(2024, 1, 2, 11, 30, tzinfo=UTC)
            assert row[1] == float("inf") and row[2] == float("-inf")
            assert row[3] is None
            assert row[4] == Decimal("-20.25")
            assert row[5] == 1.5


def test_prepared_statement_runs_again_with_new_parameters(endpoint: Endpoint) -> None:
    with connect(endpoint) as con:
        cur = con.cursor()
        for order_id in (1, 2, 3, 2):
            cur.execute(f"{SELECT} where order_id = %s", (order_id,), prepare=True)
            assert cur.fetchall() == [ROWS[order_id - 1]]


def test_named_cursor_fetches_in_steps(endpoint: Endpoint) -> None:
    with connect(endpoint) as con, con.cursor(name="steps") as cur:
        cur.execute("select n from bronze.numbers order by n")
        assert cur.fetchmany(3) == [(0,), (1,), (2,)]
        cur.scroll(10)
        assert cur.fetchone() == (13,)
        assert len(cur.fetchall()) == 1000 - 14


def test_several_statements_in_one_query_are_answered_each(endpoint: Endpoint) -> None:
    with connect(endpoint) as con:
        con.autocommit = True
        cur = con.execute(
            "select 1 as a; select customer from gold.sales_by_customer where orders = 1; "
            "show timezone"
        )
        assert cur.fetchall() == [(1,)]
        assert cur.nextset() and cur.fetchall() == [("bob",)]
        assert cur.nextset() and cur.fetchall() == [("UTC",)]


def test_session_commands_are_answered(endpoint: Endpoint) -> None:
    with connect(endpoint) as con:
        con.autocommit = True
        for sql in ("BEGIN", "COMMIT", "BEGIN", "ROLLBACK", "DISCARD ALL", "RESET ALL"):
            con.execute(sql)
        con.execute("SET application_name = 'probe'")
        assert con.execute("SHOW application_name").fetchone() == ("probe",)
        assert con.info.parameter_status("application_name") == "probe"
        assert con.info.parameter_status(
            "server_version",
        ).startswith("16.")
        assert con.info.parameter_status("integer_datetimes") == "on"
        assert con.info.parameter_status("TimeZone") == "UTC"
        con.execute("SET statement_timeout TO 0")
        con.execute("RESET application_name")
        assert con.execute("SHOW application_name").fetchone() == ("",)
    with connect(endpoint) as con:  # not autocommit: psycopg wraps statements in BEGIN
        cur = con.execute("select count(*), sum(amount) from silver.orders")
        assert cur.fetchone() == (3, Decimal("35.75"))
        assert [d.name for d in cur.description] == ["count", "sum"]
        con.commit()


@pytest.mark.parametrize(
    ("sql", "error", "sqlstate"),
    [
        ("insert into silver.orders values (4)", psycopg.errors.ReadOnlySqlTransaction, "25006"),
        ("create table gold.x as select 1", psycopg.errors.ReadOnlySqlTransaction, "25006"),
        # a missing table is refused as a denied one (names cannot be probed), an
        # unqualified name too
        ("select * from gold.nope", psycopg.errors.InsufficientPrivilege, "42501"),
        ("select * from orders", psycopg.errors.InsufficientPrivilege, "42501"),
        ("selec * from silver.orders", psycopg.errors.SyntaxError, "42601"),
        ("select * from pg_catalog.pg_nonsense", psycopg.errors.UndefinedTable, "42P01"),
    ],
)
def test_errors_carry_their_sqlstate(
    endpoint: Endpoint, sql: str, error: type[Exception], sqlstate: str
) -> None:
    with connect(endpoint) as con:
        with pytest.raises(error) as raised:
            con.execute(sql)
        assert raised.value.sqlstate == sqlstate
        con.rollback()
        assert con.execute("select 1").fetchone() == (1,)  # the session goes on


def test_an_unknown_catalog_probe_goes_to_the_punch_list(endpoint: Endpoint) -> None:
    punch_list = endpoint.project.state_dir / "serve" / "catalog-punchlist.log"
    with connect(endpoint) as con, pytest.raises(psycopg.errors.UndefinedTable) as raised:
        con.execute("select polname from pg_catalog.pg_no_such_view where 1 = 1")
    assert "punch list" in (raised.value.diag.message_hint or "")
    assert "pg_catalog.pg_no_such_view where 1 = 1;" in punch_list.read_text()


def test_aborted_transaction_refuses_until_rollback(endpoint: Endpoint) -> None:
    with connect(endpoint) as con:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("select * from gold.nope")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            con.execute("select 1")
        con.rollback()
        assert con.execute("select 2").fetchone() == (2,)


# a billion rows: three cross joins of 1,000 numbers, streamed batch by batch
HUGE = "select a.n, b.n, c.n from bronze.numbers a, bronze.numbers b, bronze.numbers c"


def test_cancel_stops_a_running_statement(endpoint: Endpoint) -> None:
    with connect(endpoint) as con:
        timer = threading.Timer(1.0, con.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            con.execute(HUGE)
        timer.join()
        assert time.monotonic() - started < 60
        con.rollback()
        assert con.execute("select 1").fetchone() == (1,)


def test_statement_timeout(shop: Project) -> None:
    server = start(shop, statement_timeout=1.0)
    try:
        with connect(Endpoint(server, shop, shop.root)) as con:
            started = time.monotonic()
            with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
                con.execute(HUGE)
            assert time.monotonic() - started < 60
            con.rollback()
            assert con.execute("select count(*) from bronze.numbers").fetchone() == (1000,)
    finally:
        server.stop()


# one row, after 10^12 rows of work inside DuckDB (hours): only an interrupt stops it there,
# there is no batch boundary to stop at before the answer
HEAVY = (
    "select sum(a.n * b.n + c.n * d.n) from bronze.numbers a, bronze.numbers b, "
    "bronze.numbers c, bronze.numbers d"
)


@pytest.mark.parametrize("extended", [False, True], ids=["simple", "extended"])
def test_cancel_stops_an_aggregation_inside_duckdb(endpoint: Endpoint, extended: bool) -> None:
    with connect(endpoint) as con:
        timer = threading.Timer(1.0, con.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="user request"):
            # psycopg sends a query with parameters through Parse/Bind/Execute
            con.execute(HEAVY + " where a.n >= %s", (0,)) if extended else con.execute(HEAVY)
        timer.join()
        assert time.monotonic() - started < 15  # 1 s to the cancel, then a few at most
        con.rollback()
        assert con.execute("select count(*) from bronze.numbers").fetchone() == (1000,)


def test_statement_timeout_stops_an_aggregation_inside_duckdb(shop: Project) -> None:
    server = start(shop, statement_timeout=1.0)
    try:
        with connect(Endpoint(server, shop, shop.root)) as con:
            for _ in range(2):  # and the session's next statement is timed afresh
                started = time.monotonic()
                with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
                    con.execute(HEAVY)
                assert time.monotonic() - started < 15
                con.rollback()
            assert con.execute("select count(*) from bronze.numbers").fetchone() == (1000,)
    finally:
        server.stop()


def test_a_client_may_set_a_shorter_statement_timeout(endpoint: Endpoint) -> None:
    with connect(endpoint) as con:
        con.autocommit = True
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            con.execute("set statement_timeout = 'soon'")
        con.execute("set statement_timeout = '1s'")  # the server has no limit of its own
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            con.execute(HEAVY)
        assert time.monotonic() - started < 15
        con.execute("set statement_timeout = 0")
        assert con.execute("select count(*) from bronze.numbers").fetchone() == (1000,)


def test_row_cap(shop: Project) -> None:
    server = start(shop, max_rows=500)
    try:
        with connect(Endpoint(server, shop, shop.root)) as con:
            with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="row cap"):
                con.execute("select n from bronze.numbers")
            con.rollback()
            assert len(con.execute("select n from bronze.numbers limit 500").fetchall()) == 500
    finally:
        server.stop()


def test_many_sessions_at_once(endpoint: Endpoint) -> None:
    def one(i: int) -> int:
        with connect(endpoint) as con:
            total = 0
            for _ in range(5):
                row = con.execute(
                    "select count(*) from bronze.numbers where n >= %s", (i,)
                ).fetchone()
                assert row is not None
                total += row[0]
            return total

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(32)))
    assert results == [5 * (1000 - i) for i in range(32)]
