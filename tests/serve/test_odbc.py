"""psqlODBC (Debian's odbc-postgresql, through unixODBC) via pyodbc, the path of Excel and
Power BI's ODBC connector: tables (SQLTables), columns (SQLColumns), a query with a
parameter; as a viewer, only the granted tables are listed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pyodbc
from tests.serve.conftest import PASSWORD, Endpoint


def connect(endpoint: Endpoint, sslmode: str = "require", user: str = "alice") -> pyodbc.Connection:
    drivers = pyodbc.drivers()
    assert "PostgreSQL Unicode" in drivers, (
        f"psqlODBC is missing (drivers: {drivers}): apt-get install odbc-postgresql unixodbc "
        "(.ci/run does)"
    )
    return pyodbc.connect(
        f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={endpoint.port};Database=shop;"
        f"Uid={user};Pwd={{{PASSWORD}}};SSLmode={sslmode}",
        timeout=10,
    )


def test_odbc_tables_columns_and_a_query(endpoint: Endpoint) -> None:
    con = connect(endpoint)
    try:
        cur = con.cursor()
        tables = {(r.table_schem, r.table_name) for r in cur.tables(tableType="TABLE")}
        assert tables == {
            ("bronze", "orders"),
            ("bronze", "numbers"),
            ("silver", "orders"),
            ("gold", "sales_by_customer"),
            ("gold", "sales_by_day"),
        }
        columns = [
            (r.column_name, r.type_name) for r in cur.columns(table="orders", schema="silver")
        ]
        assert columns == [
            ("order_id", "int4"),
            ("customer", "text"),
            ("amount", "numeric"),
            ("ordered_at", "timestamp"),
            ("paid", "bool"),
            ("order_date", "date"),
            ("pair", "text"),
        ]
        cur.execute(
            "select order_id, customer, amount, ordered_at, order_date from silver.orders "
            "where customer = ? order by order_id",
            "alice",
        )
        assert [tuple(r) for r in cur.fetchall()] == [
            (1, "alice", Decimal("10.50"), datetime(2024, 1, 1, 10, 0), date(2024, 1, 1)),
            (3, "alice", Decimal("5.00"), datetime(2024, 1, 3, 9, 15), date(2024, 1, 3)),
        ]
    finally:
        con.close()


def test_odbc_write_is_refused(endpoint: Endpoint) -> None:
    con = connect(endpoint, sslmode="disable")
    try:
        try:
            con.cursor().execute("update silver.orders set amount = 0")
        except pyodbc.Error as e:
            assert "read-only" in str(e)
        else:
            raise AssertionError("the update was not refused")
    finally:
        con.close()


def test_odbc_as_a_viewer_lists_only_the_granted_tables(endpoint: Endpoint) -> None:
    con = connect(endpoint, user="val")  # a viewer in analysts: gold.* granted
    try:
        cur = con.cursor()
        tables = {(r.table_schem, r.table_name) for r in cur.tables()}
        assert tables == {("gold", "sales_by_customer"), ("gold", "sales_by_day")}
        assert list(cur.columns(table="orders", schema="silver")) == []
        # the masked column is text, as the viewer reads it
        columns = [
            (r.column_name, r.type_name)
            for r in cur.columns(table="sales_by_customer", schema="gold")
        ]
        assert columns[0] == ("customer", "text")
        try:
            cur.execute("select * from silver.orders")
        except pyodbc.Error as e:
            assert "42501" in str(e)
        else:
            raise AssertionError("silver.orders was read by a viewer")
    finally:
        con.close()
