"""psql, the PostgreSQL command-line client, against the endpoint: \\dt, \\d, a query, TLS, and
the login errors (wrong password 28P01, wrong database 3D000)."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.serve.conftest import PASSWORD, Endpoint

PSQL = shutil.which("psql") or "/usr/bin/psql"


def psql(
    endpoint: Endpoint, *commands: str, password: str = PASSWORD, **conn: str
) -> subprocess.CompletedProcess[str]:
    args = [PSQL, "-X", "--no-psqlrc", endpoint.dsn(password=password, **conn)]
    for c in commands:
        args += ["-c", c]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSWORD", None)
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def test_psql_lists_the_tables_with_dt_as_layer_schemas(endpoint: Endpoint) -> None:
    out = psql(endpoint, r"\dt")
    assert out.returncode == 0, out.stderr
    lines = [line.split("|") for line in out.stdout.splitlines() if "| table |" in line]
    listed = {(schema.strip(), name.strip()) for schema, name, *_ in lines}
    assert listed == {
        ("bronze", "orders"),
        ("bronze", "numbers"),
        ("silver", "orders"),
        ("gold", "sales_by_customer"),
        ("gold", "sales_by_day"),
    }
    assert "pgwire" not in out.stdout  # the session's own catalog machinery is not shown


def test_psql_describes_a_table_with_postgres_type_names(endpoint: Endpoint) -> None:
    out = psql(endpoint, r"\d silver.orders")
    assert out.returncode == 0, out.stderr
    assert 'Table "silver.orders"' in out.stdout
    types = {
        row.split("|")[0].strip(): row.split("|")[1].strip()
        for row in out.stdout.splitlines()
        if row.count("|") >= 4
    }
    assert types["order_id"] == "integer"
    assert types["amount"] == "numeric(10,2)"
    assert types["ordered_at"] == "timestamp without time zone"
    assert types["paid"] == "boolean"
    assert types["order_date"] == "date"
    assert types["pair"] == "text"  # a list, sent as JSON text


def test_psql_runs_a_query_over_tls(endpoint: Endpoint) -> None:
    out = psql(
        endpoint,
        "select customer, total, orders from gold.sales_by_customer order by customer",
        r"\conninfo",
        sslmode="require",
    )
    assert out.returncode == 0, out.stderr
    assert " alice    | 15.50 |      2" in out.stdout
    assert " bob      | 20.25 |      1" in out.stdout
    assert "SSL connection (protocol: TLSv1" in out.stdout


def test_psql_wrong_password_is_28P01_and_names_the_user(endpoint: Endpoint) -> None:
    out = psql(endpoint, "select 1", password="not it", sslmode="disable")
    assert out.returncode == 2
    assert 'password authentication failed for user "alice"' in out.stderr


def test_psql_unknown_user_fails_like_a_wrong_password(endpoint: Endpoint) -> None:
    out = psql(endpoint, "select 1", user="mallory")
    assert out.returncode == 2
    assert 'password authentication failed for user "mallory"' in out.stderr


def test_psql_wrong_database_is_3D000_naming_the_project(endpoint: Endpoint) -> None:
    out = psql(endpoint, "select 1", db="postgres")
    assert out.returncode == 2
    assert 'database "postgres" does not exist' in out.stderr
    assert "connect to database shop" in out.stderr


def test_psql_write_refused_and_error_codes(endpoint: Endpoint) -> None:
    out = psql(
        endpoint,
        r"\set VERBOSITY verbose",
        "delete from silver.orders",
    )
    assert "25006" in out.stderr and "read-only" in out.stderr
    # a table that does not exist is refused as one not granted: names cannot be probed
    out = psql(endpoint, r"\set VERBOSITY verbose", "select * from gold.nope")
    assert "42501" in out.stderr and "reading gold.nope is not allowed" in out.stderr
