"""A running `medallion serve` enforces the `access:` policy medallion.yml holds now, over psql
and HTTP: a revoked grant is refused, a new mask applies, a new model's table is known, and an
edit that does not load refuses everything (fail closed) until it is fixed.

The server is the real command in a child process; the clients are psql, psycopg (an open
session across an edit) and plain HTTP requests."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from tests.conftest import medallion, write_project
from tests.serve.test_psql import PSQL

from medallion.project import Project

PASSWORD = "s3cret pass"

CONFIG = """
name: shop
sources:
  orders:
    path: data/orders.csv
access:
  grants:
    analysts: [gold.*, silver.orders]
"""

ORDERS = "order_id,customer,amount\n1,alice,10.50\n2,bob,20.25\n3,alice,5.00\n"

MODELS = {
    "silver/orders.sql": "select order_id::int as order_id, customer, amount::decimal(10, 2) "
    "as amount from bronze.orders",
    "gold/sales_by_customer.sql": "select customer, sum(amount) as total from silver.orders "
    "group by customer",
}


@dataclass
class Served:
    root: Path
    sql_port: int
    http_port: int
    proc: subprocess.Popen[str]

    def psql(self, user: str, sql: str) -> subprocess.CompletedProcess[str]:
        dsn = (
            f"host=127.0.0.1 port={self.sql_port} dbname=shop user={user} "
            f"password='{PASSWORD}' sslmode=require"
        )
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
        env.pop("PGPASSWORD", None)
        return subprocess.run(
            [PSQL, "-X", "-At", dsn, "-c", sql], capture_output=True, text=True, timeout=60, env=env
        )

    def http(self, user: str, path: str) -> tuple[int, str]:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", headers={"Authorization": f"Basic {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def edit(self, config: str) -> None:
        (self.root / "medallion.yml").write_text(config, encoding="utf-8")


def start_serve(root: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`medallion serve ARGS` in `root`, and its banner up to the line that says it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "serve", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    banner = []
    while not any("HTTP API" in line or "psql" in line for line in banner[-1:]):
        line = proc.stdout.readline()
        assert line, f"serve ended: {proc.communicate(timeout=30)}"
        banner.append(line)
    if "--http-port" in args:
        while "HTTP API" not in banner[-1]:
            banner.append(proc.stdout.readline())
    return proc, banner


def stop_serve(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return err


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = write_project(
        tmp_path_factory.mktemp("live") / "shop", CONFIG, MODELS, {"data/orders.csv": ORDERS}
    )
    project = Project.load(root)
    assert project.run().ok
    project.add_user("val", "viewer", ["analysts"], PASSWORD)
    project.add_user("ada", "admin", [], PASSWORD)
    proc, banner = start_serve(root, "--sql-port", "0", "--http-port", "0")
    sql_port = int(re.search(r"on 127\.0\.0\.1:(\d+)", banner[0]).group(1))  # type: ignore[union-attr]
    http_port = int(re.search(r":(\d+)/api/v1", banner[-1]).group(1))  # type: ignore[union-attr]
    served = Served(root, sql_port, http_port, proc)
    yield served
    err = stop_serve(proc)
    assert "Traceback" not in err, err
    # SQLGlot's "Falling back to parsing as a 'Command'" is the library's, not the operator's
    assert "Falling back" not in err, err


@pytest.fixture
def restore(served: Served) -> Iterator[None]:
    yield
    served.edit(CONFIG.lstrip())


def test_a_revoked_grant_is_refused_without_a_restart(served: Served, restore: None) -> None:
    sql = "select customer, total from gold.sales_by_customer order by customer"
    assert served.psql("val", sql).stdout.splitlines() == ["alice|15.50", "bob|20.25"]
    assert served.http("val", "/api/v1/tables/gold/sales_by_customer/rows?format=csv")[0] == 200
    # a session opened before the edit
    dsn = (
        f"host=127.0.0.1 port={served.sql_port} dbname=shop user=val password='{PASSWORD}' "
        "sslmode=require"
    )
    listing = "select table_schema || '.' || table_name from information_schema.tables"
    with psycopg.connect(dsn, autocommit=True) as open_session:
        assert open_session.execute(sql).fetchall()
        assert ("gold.sales_by_customer",) in open_session.execute(listing).fetchall()

        served.edit(CONFIG.replace("[gold.*, silver.orders]", "[silver.orders]").lstrip())

        out = served.psql("val", sql)
        assert out.returncode != 0
        assert "reading gold.sales_by_customer is not allowed" in out.stderr
        status, body = served.http("val", "/api/v1/tables/gold/sales_by_customer/rows?format=csv")
        assert status == 403, body
        assert "alice" not in body
        listed = {
            f"{t['layer']}.{t['name']}" for t in json.loads(served.http("val", "/api/v1/tables")[1])
        }
        assert "gold.sales_by_customer" not in listed and "silver.orders" in listed
        # the open session's next statement is checked against the policy of now
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not allowed"):
            open_session.execute(sql)
        assert open_session.execute("select count(*) from silver.orders").fetchone() == (3,)
        # and its catalog (what \\dt, getTables list) is built anew
        listed_now = open_session.execute(listing).fetchall()
        assert ("gold.sales_by_customer",) not in listed_now
        assert ("silver.orders",) in listed_now


def test_a_new_mask_applies_to_the_next_query(served: Served, restore: None) -> None:
    sql = "select customer from silver.orders order by order_id"
    assert served.psql("val", sql).stdout.splitlines() == ["alice", "bob", "alice"]
    served.edit(CONFIG.lstrip() + "  masks:\n    silver.orders.customer: 'null'\n")
    out = served.psql("val", sql)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["", "", ""]
    # a statement SQLGlot parses as a Command: answered, and no library warning in the log
    assert served.psql("val", "explain select customer from silver.orders").returncode in (0, 1)
    status, body = served.http("val", "/api/v1/tables/silver/orders/rows?format=csv")
    assert status == 200, body
    assert "alice" not in body and "bob" not in body
    assert "10.50" in body  # the other columns as they were
    # the admin reads in clear: a mask applies to the roles it names (viewers by default)
    assert "alice" in served.psql("ada", sql).stdout


def test_a_table_built_after_the_start_is_known(served: Served) -> None:
    model = served.root / "models" / "gold" / "order_count.sql"
    model.write_text("select count(*)::bigint as n from silver.orders\n", encoding="utf-8")
    medallion("run", cwd=served.root, check=True)
    out = served.psql("ada", "select n from gold.order_count")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    listed = {
        f"{t['layer']}.{t['name']}" for t in json.loads(served.http("ada", "/api/v1/tables")[1])
    }
    assert "gold.order_count" in listed
    # granted by gold.*: val reads it too
    assert served.psql("val", "select n from gold.order_count").stdout.strip() == "3"


def test_an_edit_that_does_not_load_refuses_everything_until_fixed(
    served: Served, restore: None
) -> None:
    served.edit(CONFIG.lstrip() + "  masks: [unclosed\n")
    out = served.psql("val", "select count(*) from silver.orders")
    assert out.returncode != 0
    assert "refuses every request" in out.stderr
    assert "medallion.yml:" in out.stderr  # the file and line of the broken edit
    assert "count" not in out.stdout
    status, body = served.http("ada", "/api/v1/tables")
    assert status == 503
    answer = json.loads(body)
    assert "medallion.yml:" in answer["error"] and "medallion validate" in answer["hint"]
    status, page = served.http("ada", "/ui/tables")  # the web UI: an error page, no data
    assert status == 503 and "refuses every request" in page
    # fixed: served again, no restart
    served.edit(CONFIG.lstrip())
    time.sleep(0.01)
    assert served.psql("val", "select count(*) from silver.orders").stdout.strip() == "3"
    assert served.http("ada", "/api/v1/tables")[0] == 200
