"""What a new user's trial of the endpoint found, through psql and psycopg: a parameter where a
table belongs, the catalog a BI tool lists (exactly the readable tables), SQL-level PREPARE /
EXECUTE and COPY (select ...) TO STDOUT as reads, under the same access checks as a SELECT."""

from __future__ import annotations

import psycopg
import pytest
from tests.serve.conftest import Endpoint
from tests.serve.test_access import GOLD, connect, denied_statements
from tests.serve.test_psql import psql


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
