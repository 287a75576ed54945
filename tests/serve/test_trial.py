"""What a new user's trial of the endpoint found, through psql and psycopg: a parameter where a
table belongs, the catalog a BI tool lists (exactly the readable tables), SQL-level PREPARE /
EXECUTE and COPY (select ...) TO STDOUT as reads, under the same access checks as a SELECT."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from tests.serve.conftest import Endpoint, start
from tests.serve.test_access import GOLD, connect, denied_statements
from tests.serve.test_psql import psql

from medallion.project import Project


def test_a_parameter_in_table_position_is_refused_and_audited(endpoint: Endpoint) -> None:
    out = psql(endpoint, r"\set VERBOSITY verbose", "select * from $1", user="val")
    assert "42501" in out.stderr and "$1 is not a table" in out.stderr, out.stderr
    assert "internal error" not in out.stderr
    with connect(endpoint, "val") as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute("select * from %s", ["bronze.orders"])
    with connect(endpoint, "val") as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute("select * from information_schema.tables, %s", ["bronze.orders"])
    expected = ["select * from $1", "select * from information_schema.tables, $1"]
    rows = denied_statements(endpoint, "val", expected)
    assert set(expected) <= set(rows)


def test_the_catalog_lists_exactly_the_readable_tables(endpoint: Endpoint) -> None:
    with connect(endpoint, "val") as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        assert set(tables) == GOLD and len(tables) == len(GOLD)
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall()
        assert {(schema, table) for schema, table, _ in columns} == GOLD
        assert len(columns) == 5  # customer, total, orders; order_date, total
        schemata = con.execute("select schema_name from information_schema.schemata").fetchall()
        assert schemata == [("gold",)]
        relnames = con.execute(
            "SELECT relname FROM pg_class WHERE relkind in ('r','v') "
            "AND pg_table_is_visible(oid) order by 1"
        ).fetchall()
        assert relnames == [("sales_by_customer",), ("sales_by_day",)]
        assert con.execute("select tablename from pg_tables order by 1").fetchall() == relnames
        assert con.execute("select viewname from pg_views").fetchall() == []
        cur = con.execute("select format_type(23, -1), format_type(1043, -1) as t")
        assert [d.name for d in cur.description] == ["format_type", "t"]
        assert cur.fetchone() == ("integer", "character varying")
    # psql's \du: the connected user, nothing else
    out = psql(endpoint, r"\du", user="val")
    assert out.returncode == 0, out.stderr
    roles = [line.split("|")[0].strip() for line in out.stdout.splitlines() if "|" in line]
    assert roles == ["Role name", "val"]


def test_pg_cancel_backend_cancels_a_session_of_the_same_user_only(endpoint: Endpoint) -> None:
    heavy = (
        "select sum(a.n * b.n + c.n * d.n) from bronze.numbers a, bronze.numbers b, "
        "bronze.numbers c, bronze.numbers d"
    )
    with connect(endpoint, "alice") as busy, connect(endpoint, "alice") as other:
        pid = busy.execute("select pg_backend_pid()").fetchone()[0]
        assert pid == busy.info.backend_pid
        busy.rollback()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                busy.execute(heavy)
            except psycopg.Error as e:
                failed.append(e)

        thread = threading.Thread(target=run)
        thread.start()
        try:
            # the statement inside the engine (a cancel before it starts does nothing, as in
            # PostgreSQL)
            deadline = time.monotonic() + 60
            while endpoint.server.session(pid)._running is None:
                assert time.monotonic() < deadline, "the statement never started"
                time.sleep(0.05)
            # another user's session: PostgreSQL's permission error, the statement goes on
            bob = psycopg.connect(endpoint.dsn(user="bob", password="other pass"))
            with bob, pytest.raises(psycopg.errors.InsufficientPrivilege, match="cancel query"):
                bob.execute("select pg_cancel_backend(%s)", (pid,))
            assert thread.is_alive()
            assert other.execute("select pg_cancel_backend(%s)", (pid,)).fetchone() == (True,)
            thread.join(timeout=30)
            assert not thread.is_alive()
        finally:  # a failed assertion must not leave the cross join running (the exit waits)
            if thread.is_alive():
                busy.cancel()
                thread.join(timeout=30)
        assert len(failed) == 1 and isinstance(failed[0], psycopg.errors.QueryCanceled)
        assert other.execute("select pg_cancel_backend(999999)").fetchone() == (False,)


def test_copy_to_stdout_of_a_query_in_text_and_csv(endpoint: Endpoint) -> None:
    out = psql(
        endpoint,
        r"\copy (select order_id, customer, amount from silver.orders order by order_id) to stdout",
        "copy (select order_id, customer from silver.orders order by order_id) to stdout "
        "with (format csv, header)",
        "copy gold.sales_by_day (order_date) to stdout csv header",
        "copy (select 'a\"b' as q, '' as e, null as n, E'x\\ty' as t, 'c,d' as c) to stdout csv",
        "copy (select E'x\\ty\\nz\\\\' as t, null as n) to stdout",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "1\talice\t10.50",
        "2\tbob\t20.25",
        "3\talice\t5.00",
        "order_id,customer",
        "1,alice",
        "2,bob",
        "3,alice",
        "order_date",
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
        '"a""b","",,x\ty,"c,d"',
        "x\\ty\\nz\\\\\t\\N",
    ]
    # psycopg's copy, a masked column as the viewer reads it
    with connect(endpoint, "val") as con:
        cur = con.cursor()
        with cur.copy(
            "copy (select customer, orders from gold.sales_by_customer order by 2) to stdout"
        ) as copy:
            rows = list(copy.rows())
        assert rows == [("b***", "1"), ("a***", "2")]


def test_copy_is_checked_as_a_select_and_still_refused_to_a_file(endpoint: Endpoint) -> None:
    for sql in (
        "copy (select * from silver.orders) to stdout",
        "copy silver.orders to stdout",
    ):
        out = psql(endpoint, r"\set VERBOSITY verbose", sql, user="val")
        assert "42501" in out.stderr and "reading silver.orders is not allowed" in out.stderr
    out = psql(endpoint, r"\set VERBOSITY verbose", r"\copy silver.orders to stdout", user="val")
    assert "42501" in out.stderr
    out = psql(endpoint, "copy (select 1) to 'copied.csv'", "copy gold.sales_by_day from stdin")
    assert "25006" not in out.stderr and "read-only" in out.stderr
    assert not (endpoint.root / "copied.csv").exists()
    rows = denied_statements(endpoint, "val", ["select * from silver.orders"])
    assert "select * from silver.orders" in rows


def test_sql_prepare_execute_deallocate(endpoint: Endpoint) -> None:
    out = psql(
        endpoint,
        "PREPARE p(text) AS select customer, total from gold.sales_by_customer where customer = $1",
        "EXECUTE p('alice')",
        "prepare q (integer, date) as select count(*) from silver.orders "
        "where order_id >= $1 and order_date <= $2",
        "execute q(2, '2024-01-02')",
        "DEALLOCATE p",
        "execute q(1, '2024-01-03'); deallocate prepare q",
    )
    assert out.returncode == 0, out.stderr
    assert " alice    | 15.50" in out.stdout
    counts = [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]
    assert counts == ["1", "3"]
    assert out.stdout.count("DEALLOCATE") == 2
    # a prepared read of a table not granted is refused at EXECUTE, as a SELECT, audited
    out = psql(
        endpoint,
        r"\set VERBOSITY verbose",
        "prepare s as select * from silver.orders",
        "execute s",
        user="val",
    )
    assert "42501" in out.stderr and "reading silver.orders is not allowed" in out.stderr
    with connect(endpoint, "val") as con:
        con.autocommit = True
        con.execute(
            "prepare c(text) as select total from gold.sales_by_customer where customer = $1"
        )
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="constants"):
            con.execute("execute c((select max(customer) from silver.orders))")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            con.execute("prepare w as delete from silver.orders")
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            con.execute("execute nope")
        con.execute("deallocate all")
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            con.execute("execute c('x')")


def test_the_statement_timeout_counts_the_work_not_the_wait(shop: Project) -> None:
    """40 sessions at once, each statement a few tenths of a second of work on this 2-core
    machine: the 1 s timeout stops none of them (it cancelled most when every session's
    statement shared the cores at once)."""
    server = start(shop, statement_timeout=1.0)
    try:
        endpoint = Endpoint(server, shop, shop.root)
        sessions = [connect(endpoint, "val") for _ in range(40)]
        barrier = threading.Barrier(len(sessions))

        def run(con: psycopg.Connection) -> list[str]:
            barrier.wait()
            errors = []
            for _ in range(3):
                try:
                    con.execute("select count(*) from gold.sales_by_customer").fetchone()
                except psycopg.Error as e:
                    errors.append(f"{e.sqlstate} {e}")
                    con.rollback()
            return errors

        with ThreadPoolExecutor(len(sessions)) as pool:
            errors = [e for found in pool.map(run, sessions) for e in found]
        for con in sessions:
            con.close()
        assert errors == []
    finally:
        server.stop()


def test_the_wait_for_a_slot_is_bounded_and_cancellable(shop: Project) -> None:
    heavy = (
        "select sum(a.n * b.n + c.n * d.n) from bronze.numbers a, bronze.numbers b, "
        "bronze.numbers c, bronze.numbers d"
    )
    server = start(shop, slots=1, slot_wait=1.0)
    try:
        endpoint = Endpoint(server, shop, shop.root)
        with connect(endpoint, "alice") as busy, connect(endpoint, "val") as waiting:
            timer = threading.Timer(4.0, busy.cancel_safe)
            timer.start()
            failed: list[BaseException] = []

            def run() -> None:
                try:
                    busy.execute(heavy)
                except psycopg.Error as e:
                    failed.append(e)

            thread = threading.Thread(target=run)
            thread.start()
            time.sleep(0.5)
            with pytest.raises(psycopg.errors.QueryCanceled, match=r"waited .* statement slots"):
                waiting.execute("select count(*) from gold.sales_by_customer")
            waiting.rollback()
            thread.join(timeout=60)
            timer.join()
            assert isinstance(failed[0], psycopg.errors.QueryCanceled)
            # the slot is free again
            assert waiting.execute("select count(*) from gold.sales_by_day").fetchone() == (3,)
    finally:
        server.stop()


def test_a_password_set_or_cleared_ends_what_the_old_one_signed_in(endpoint: Endpoint) -> None:
    """A psql session signed in with a password cannot run a statement once that password is
    changed or cleared (as the web UI's sessions end); it connects again with the new one."""
    project = endpoint.project
    project.add_user("pat", "viewer", ["analysts"], "first passphrase")
    try:
        for new in ("second passphrase", None):
            old = "first passphrase" if new else "second passphrase"
            with psycopg.connect(endpoint.dsn(user="pat", password=old)) as con:
                assert con.execute("select count(*) from gold.sales_by_day").fetchone()
                project.set_password("pat", new)
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="password of pat"):
                    con.execute("select count(*) from gold.sales_by_day")
            if new:
                with psycopg.connect(endpoint.dsn(user="pat", password=new)) as con:
                    assert con.execute("select 1").fetchone() == (1,)
    finally:
        project.remove_user("pat")


def test_copy_text_escapes_a_custom_delimiter(endpoint: Endpoint) -> None:
    with connect(endpoint, "alice") as con:
        cur = con.cursor()
        text = "copy (select 'a|b' as x, 1 as y) to stdout (delimiter '|')"
        with cur.copy(text) as copy:
            assert b"".join(map(bytes, iter(copy.read, b""))) == b"a\\|b|1\n"
        with cur.copy(
            "copy (select 'a|b' as x, 1 as y) to stdout (format csv, delimiter '|')"
        ) as copy:
            assert b"".join(map(bytes, iter(copy.read, b""))) == b'"a|b"|1\n'
        con.rollback()
        with (
            pytest.raises(psycopg.errors.InvalidParameterValue, match="delimiter"),
            cur.copy("copy (select 1) to stdout (delimiter 'n')") as copy,
        ):
            copy.read()


def test_execute_of_a_prepared_execute_is_refused(endpoint: Endpoint) -> None:
    with connect(endpoint, "alice") as con:
        # a protocol-level statement whose text is an EXECUTE of itself
        con.pgconn.prepare(b"looping", b"EXECUTE looping")
        with pytest.raises(psycopg.errors.InvalidPreparedStatementDefinition, match="EXECUTE"):
            con.execute("execute looping")
        con.rollback()
        assert con.execute("select 1").fetchone() == (1,)


def test_a_prepared_pg_cancel_backend(endpoint: Endpoint) -> None:
    with connect(endpoint, "alice") as busy, connect(endpoint, "alice") as other:
        pid = busy.info.backend_pid
        missing = other.execute("select pg_cancel_backend(%s)", (999999,), prepare=True)
        assert missing.fetchone() == (False,)
        cur = other.execute("select pg_cancel_backend(%s::int)", (pid,), prepare=True)
        assert [d.type_code for d in cur.description] == [16]  # boolean
        assert cur.fetchone() == (True,)
        assert other.execute("select pg_cancel_backend(null)").fetchone() == (None,)
