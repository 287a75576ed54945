"""medallion.yml's serve: block: defaults, the limits of each role, and errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.config.test_config import load, load_error


def test_no_serve_block_is_loopback_5433_without_limits(tmp_path: Path) -> None:
    serve = load(tmp_path, "name: p\n").serve
    assert (serve.host, serve.sql_port) == ("127.0.0.1", 5433)
    assert serve.limits("viewer") == (None, None)


def test_a_role_replaces_what_it_names_and_keeps_the_rest(tmp_path: Path) -> None:
    serve = load(
        tmp_path,
        """
        name: p
        serve:
          host: 0.0.0.0
          sql_port: 6543
          statement_timeout: 5 minutes
          max_rows: 100000
          roles:
            viewer: {statement_timeout: 30 seconds, max_rows: 500}
            contributor: {max_rows: 0}
            admin: {statement_timeout: none}
        """,
    ).serve
    assert (serve.host, serve.sql_port) == ("0.0.0.0", 6543)
    assert serve.limits("viewer") == (30.0, 500)
    assert serve.limits("contributor") == (300.0, None)  # 0: no cap
    assert serve.limits("admin") == (None, 100000)
    assert serve.limits("member") == (300.0, 100000)  # not listed: the block's


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("  statement_timeout: 3 fortnights\n", 3, "is a number and a unit"),
        ("  statement_timeout: 30\n", 3, "is a number and a unit"),
        ("  max_rows: -1\n", 3, "greater than or equal to 0"),
        ("  sql_port: 70000\n", 3, "less than or equal to 65535"),
        ("  roles:\n    guest: {max_rows: 5}\n", 4, "'guest' is not allowed"),
        ("  roles:\n    viewer:\n      max_row: 5\n", 5, "did you mean 'max_rows'"),
        ("  roles:\n    viewer:\n      statement_timeout: soon\n", 5, "is a number and a unit"),
    ],
)
def test_a_wrong_value_names_its_line(tmp_path: Path, body: str, line: int, says: str) -> None:
    err = load_error(tmp_path, "name: p\nserve:\n" + body)
    assert err.line == line
    assert says in err.message
    assert err.key is not None and err.key.startswith("serve.")
