"""The statement timeout and row cap per role, from medallion.yml's serve: block: a viewer is
capped (SQLSTATE 54000) and timed out (57014) where an admin reads every row; `medallion serve`
listens where the block says, and its flags replace the file's limits for every user."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.conftest import write_project
from tests.serve.conftest import CONFIG, MODELS, NUMBERS, ORDERS, PASSWORD, Endpoint, start

from medallion.project import Project

SERVE = """
serve:
  host: 127.0.0.1
  sql_port: 0
  statement_timeout: 1 hour
  max_rows: 100000
  roles:
    viewer: {statement_timeout: 1 second, max_rows: 500}
"""

#: hours of work inside DuckDB over a table the viewer is granted (gold.*)
HEAVY = (
    "select sum(a.n * b.n + c.n * d.n) from gold.numbers a, gold.numbers b, "
    "gold.numbers c, gold.numbers d"
)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_project(
        tmp_path_factory.mktemp("limits") / "shop",
        CONFIG + SERVE,
        {**MODELS, "gold/numbers.sql": "select n from bronze.numbers"},
        {"data/orders.csv": ORDERS, "data/numbers.csv": NUMBERS},
    )
    project = Project.load(root)
    assert project.run().ok
    project.add_user("val", "viewer", ["analysts"], PASSWORD)
    project.add_user("ada", "admin", [], PASSWORD)
    return project


@pytest.fixture(scope="module")
def endpoint(limited: Project) -> Iterator[Endpoint]:
    server = start(limited)  # no limits given: each user's come from medallion.yml
    yield Endpoint(server, limited, limited.root)
    server.stop()


def rows(endpoint: Endpoint, user: str, sql: str) -> int:
    with psycopg.connect(endpoint.dsn(user=user), connect_timeout=10) as con:
        return len(con.execute(sql).fetchall())


def test_a_viewer_is_capped_where_an_admin_reads_every_row(endpoint: Endpoint) -> None:
    with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="more than 500 rows") as info:
        rows(endpoint, "val", "select n from gold.numbers")
    assert info.value.sqlstate == "54000"
    assert rows(endpoint, "val", "select n from gold.numbers limit 500") == 500
    assert rows(endpoint, "ada", "select n from gold.numbers") == 1000


def test_a_viewer_is_timed_out_inside_duckdb(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn(user="val"), connect_timeout=10) as con:
        con.execute("set statement_timeout = 0")  # a client cannot loosen its role's limit
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            con.execute(HEAVY)
        assert time.monotonic() - started < 15  # 1 s, not the admin's hour
        con.rollback()
        assert con.execute("select count(*) from gold.numbers").fetchone() == (1000,)


def serve(root: Path, *flags: str) -> Iterator[int]:
    """`medallion serve FLAGS` in `root` until the caller is done: the port it listens on."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "serve", *flags],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"on 127\.0\.0\.1:(\d+)", first)
        assert m, first
        yield int(m.group(1))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def test_medallion_serve_takes_the_file_and_its_flags_replace_it(limited: Project) -> None:
    def dsn(port: int) -> str:
        return (
            f"host=127.0.0.1 port={port} dbname=shop user=val password='{PASSWORD}' sslmode=require"
        )

    # sql_port: 0 in the file: a free port (5433 otherwise), and the viewer's cap of 500
    for port in serve(limited.root):
        with (
            psycopg.connect(dsn(port), connect_timeout=10) as con,
            pytest.raises(psycopg.errors.ProgramLimitExceeded),
        ):
            con.execute("select n from gold.numbers")
    # --max-rows 0: no cap for anyone, the file's per-role cap included
    for port in serve(limited.root, "--max-rows", "0"):
        with psycopg.connect(dsn(port), connect_timeout=10) as con:
            assert len(con.execute("select n from gold.numbers").fetchall()) == 1000
