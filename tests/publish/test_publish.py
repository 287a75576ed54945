"""Publishing gold tables to a PostgreSQL warehouse (a real server): replace and merge, types,
skipping versions already published, `medallion publish --force`, and failures that must leave
the warehouse exactly as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from medallion.devservers.pgserver import PgServer
from medallion.project import Project

CONFIG = """\
name: p
sources:
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, amount: 'DECIMAL(12,2)', day: DATE, sold_at: TIMESTAMP, ok: BOOLEAN}
publish:
  wh:
    type: postgres
    dsn: ${WAREHOUSE_DSN}
    schema: marts
    tables:
      - SALES_ENTRY
      - {table: gold.daily, mode: merge, key: day}
"""
SALES = """\
    /* ---
    expectations:
      not_absurd: {expect: amount > -1000, action: fail}
    --- */
    select id, amount, day, sold_at, ok,
           case id when 1 then 'a, "b"' || chr(10) || 'c' when 2 then '' end as note
    from bronze.sales
    """
DAILY = """\
    select day, sum(amount) as total, count(*) as n
    from bronze.sales group by day having sum(amount) > 0
    """
SALES1 = """\
id,amount,day,sold_at,ok
1,10.50,2024-01-01,2024-01-01 10:00:00,true
2,3.25,2024-01-02,2024-01-02 11:00:00,false
3,1234567890.12,2024-01-01,2024-01-01 23:59:59.5,
"""
# day 2 cancels out (its key disappears), day 1 changes, day 3 is new
SALES2 = """\
id,amount,day,sold_at,ok
4,-3.25,2024-01-02,2024-01-02 12:00:00,true
5,1.00,2024-01-01,2024-01-01 12:00:00,true
6,2.00,2024-01-03,2024-01-03 09:00:00,false
"""
DAILY_V0 = [
    (date(2024, 1, 1), Decimal("1234567900.62"), 2),
    (date(2024, 1, 2), Decimal("3.25"), 1),
]


def make(
    root: Path, sales_entry: str = "gold.sales", files: dict[str, str] | None = None
) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(CONFIG.replace("SALES_ENTRY", sales_entry), "utf-8")
    for rel, text in {
        "models/gold/sales.sql": SALES,
        "models/gold/daily.sql": DAILY,
        "data/sales1.csv": SALES1,
        **(files or {}),
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text), "utf-8")
    return Project.load(root)


def fetch(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query.encode(), params or None).fetchall()


def table_oid(dsn: str, table: str) -> int:
    return fetch(dsn, "SELECT %s::regclass::oid", table)[0][0]


def comment(dsn: str, table: str) -> str:
    return fetch(dsn, "SELECT obj_description(%s::regclass, 'pg_class')", table)[0][0]


def publish_steps(result: Any) -> dict[str, Any]:
    return {s.node: s for s in result.steps if s.step == "publish"}


def run_ok(project: Project) -> Any:
    result = project.run()
    assert result.ok, (result.error, [(s.node, s.step, s.error) for s in result.steps])
    return result


@pytest.fixture
def warehouse(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WAREHOUSE_DSN", pg_db)
    return pg_db


SALES_V0 = [
    (1, Decimal("10.50"), date(2024, 1, 1), datetime(2024, 1, 1, 10), True, 'a, "b"\nc'),
    (2, Decimal("3.25"), date(2024, 1, 2), datetime(2024, 1, 2, 11), False, ""),
    (3, Decimal("1234567890.12"), date(2024, 1, 1), datetime(2024, 1, 1, 23, 59, 59, 500000),
     None, None),
]  # fmt: skip


@pytest.mark.postgres
def test_replace_publishes_same_rows_and_types(tmp_path: Path, warehouse: str) -> None:
    project = make(tmp_path / "p")
    result = run_ok(project)
    steps = publish_steps(result)
    assert steps["gold.sales"].rows_written == 3
    assert steps["gold.sales"].details["table"] == "marts.sales"
    assert fetch(warehouse, "SELECT * FROM marts.sales ORDER BY id") == SALES_V0
    assert fetch(warehouse, "SELECT * FROM marts.daily ORDER BY day") == DAILY_V0
    columns = fetch(
        warehouse,
        "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = 'marts' "
        "ORDER BY table_name, ordinal_position",
    )
    assert columns == [
        ("daily", "day", "date", None, None),
        ("daily", "total", "numeric", 38, 2),
        ("daily", "n", "bigint", 64, 0),
        ("sales", "id", "integer", 32, 0),
        ("sales", "amount", "numeric", 12, 2),
        ("sales", "day", "date", None, None),
        ("sales", "sold_at", "timestamp without time zone", None, None),
        ("sales", "ok", "boolean", None, None),
        ("sales", "note", "text", None, None),
    ]
    assert comment(warehouse, "marts.sales").startswith("gold.sales v0, published by medallion")
    assert result.run_id in comment(warehouse, "marts.sales")
    # no leftover staging table, and no password in the state database
    assert fetch(
        warehouse,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1",
    ) == [("daily",), ("sales",)]
    state = b"".join(p.read_bytes() for p in project.state_dir.rglob("*") if p.is_file())
    assert b":secret@" not in state


@pytest.mark.postgres
def test_timestamptz_columns_publish_as_timestamptz(tmp_path: Path, warehouse: str) -> None:
    project = make(
        tmp_path / "p",
        files={
            "models/gold/sales.sql": "select id, sold_at::timestamptz as sold_tz from bronze.sales"
        },
    )
    run_ok(project)
    assert fetch(
        warehouse,
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'sales' AND column_name = 'sold_tz'",
    ) == [("timestamp with time zone",)]
    got = fetch(warehouse, "SELECT id, sold_tz AT TIME ZONE 'UTC' FROM marts.sales ORDER BY id")
    assert got == [
        (1, datetime(2024, 1, 1, 10)),
        (2, datetime(2024, 1, 2, 11)),
        (3, datetime(2024, 1, 1, 23, 59, 59, 500000)),
    ]


@pytest.mark.postgres
def test_unchanged_data_is_not_republished_and_force_does(tmp_path: Path, warehouse: str) -> None:
    project = make(tmp_path / "p")
    first = run_ok(project)
    oid = table_oid(warehouse, "marts.sales")
    second = run_ok(project)
    steps = publish_steps(second)
    assert set(steps) == {"gold.sales", "gold.daily"}
    assert "already published" in steps["gold.sales"].note
    assert "already published" in steps["gold.daily"].note
    assert table_oid(warehouse, "marts.sales") == oid
    assert first.run_id in comment(warehouse, "marts.sales")
    cli = subprocess.run(
        [sys.executable, "-m", "medallion", "-p", str(project.root), "publish", "--force"],
        env={**os.environ, "WAREHOUSE_DSN": warehouse},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert ":secret@" not in cli.stdout + cli.stderr
    forced = project.runs(1)[0]
    assert forced["status"] == "success"
    assert forced["run_id"] in comment(warehouse, "marts.sales")
    # same columns: the rows are swapped inside the table, which keeps its views and grants
    assert table_oid(warehouse, "marts.sales") == oid
    assert fetch(warehouse, "SELECT * FROM marts.sales ORDER BY id") == SALES_V0
    assert fetch(warehouse, "SELECT * FROM marts.daily ORDER BY day") == DAILY_V0


@pytest.mark.postgres
def test_a_copy_dropped_or_edited_in_the_warehouse_is_published_again(
    tmp_path: Path, warehouse: str
) -> None:
    """The log says the version is published; the warehouse says otherwise: a table dropped
    there, a row deleted there, a table of the same name made by someone else. Each is published
    again (said in the step's note), never reported as already done."""
    project = make(tmp_path / "p")
    run_ok(project)

    def again(edit: str) -> dict[str, Any]:
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute(edit.encode())
        return publish_steps(run_ok(project))

    steps = again("DROP TABLE marts.sales")
    assert "published again: marts.sales was not in the warehouse" in steps["gold.sales"].note
    assert "already published" in steps["gold.daily"].note
    steps = again("DELETE FROM marts.daily WHERE day = '2024-01-02'")
    assert "marts.daily holds 1 rows, the published version 2" in steps["gold.daily"].note
    steps = again("COMMENT ON TABLE marts.sales IS 'made by hand'")
    assert "marts.sales is not the copy medallion published" in steps["gold.sales"].note
    assert fetch(warehouse, "SELECT * FROM marts.sales ORDER BY id") == SALES_V0
    assert fetch(warehouse, "SELECT * FROM marts.daily ORDER BY day") == DAILY_V0
    steps = publish_steps(run_ok(project))
    assert all("already published" in s.note for s in steps.values())


@pytest.mark.postgres
def test_a_warehouse_that_does_not_answer_leaves_a_published_version_as_it_was(
    tmp_path: Path, warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing new to copy and the warehouse down: the steps say the copy could not be
    confirmed, once each (no retries), and the run is as green as it was before the check."""
    import socket

    project = make(tmp_path / "p")
    run_ok(project)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("WAREHOUSE_DSN", f"postgresql://u:pw@127.0.0.1:{dead}/wh")
    started = time.monotonic()
    steps = publish_steps(run_ok(Project.load(project.root)))
    assert time.monotonic() - started < 20  # not 3 retries with backoff per table
    for step in steps.values():
        assert "already published (not confirmed: the warehouse did not answer" in step.note


@pytest.mark.postgres
def test_merge_upserts_and_deletes_vanished_keys(tmp_path: Path, warehouse: str) -> None:
    project = make(tmp_path / "p")
    run_ok(project)
    oid = table_oid(warehouse, "marts.daily")
    with psycopg.connect(warehouse, autocommit=True) as conn:  # a BI view over the table
        conn.execute("CREATE VIEW marts.daily_report AS SELECT day, total FROM marts.daily")
    (project.root / "data" / "sales2.csv").write_text(SALES2, "utf-8")
    result = run_ok(project)
    assert publish_steps(result)["gold.daily"].details["mode"] == "merge"
    assert fetch(warehouse, "SELECT * FROM marts.daily ORDER BY day") == [
        (date(2024, 1, 1), Decimal("1234567901.62"), 3),
        (date(2024, 1, 3), Decimal("2.00"), 1),
    ]
    assert table_oid(warehouse, "marts.daily") == oid  # merged in place, not replaced
    assert fetch(warehouse, "SELECT count(*) FROM marts.daily_report") == [(2,)]
    assert fetch(warehouse, "SELECT count(*) FROM marts.sales") == [(6,)]


@pytest.mark.postgres
def test_failed_merge_leaves_the_target_as_it_was(tmp_path: Path, warehouse: str) -> None:
    project = make(tmp_path / "p")
    run_ok(project)
    # total becomes text that the published numeric column cannot take
    (project.root / "models" / "gold" / "daily.sql").write_text(
        "select day, case when day = date '2024-01-02' then 'n/a' else sum(amount)::varchar end "
        "as total, count(*) as n from bronze.sales group by day"
    )
    project = Project.load(project.root)
    result = project.run()
    assert result.status == "failed"
    step = publish_steps(result)["gold.daily"]
    assert step.status == "failed"
    assert "n/a" in (step.error or "")
    assert ":secret@" not in (step.error or "")
    assert fetch(warehouse, "SELECT * FROM marts.daily ORDER BY day") == DAILY_V0
    assert project.runs(1)[0]["status"] == "failed"


@pytest.mark.postgres
def test_failed_replace_leaves_the_target_as_it_was(tmp_path: Path, warehouse: str) -> None:
    project = make(tmp_path / "p", sales_entry="{table: gold.sales, key: id}")
    run_ok(project)
    oid = table_oid(warehouse, "marts.sales")
    # id 1 again: the published primary key refuses the duplicate mid-load
    (project.root / "data" / "sales2.csv").write_text(
        "id,amount,day,sold_at,ok\n1,99.99,2024-01-09,2024-01-09 00:00:00,true\n", "utf-8"
    )
    result = project.run()
    assert result.status == "failed"
    step = publish_steps(result)["gold.sales"]
    assert step.status == "failed"
    assert "duplicate key" in (step.error or "")
    assert fetch(warehouse, "SELECT * FROM marts.sales ORDER BY id") == SALES_V0
    assert table_oid(warehouse, "marts.sales") == oid
    assert comment(warehouse, "marts.sales").startswith("gold.sales v0,")


@pytest.mark.postgres
def test_run_with_a_failed_model_publishes_nothing(tmp_path: Path, warehouse: str) -> None:
    project = make(tmp_path / "p")
    run_ok(project)
    # amount -5000 fails gold.sales's expectation; gold.daily builds, but nothing is published
    (project.root / "data" / "sales2.csv").write_text(
        "id,amount,day,sold_at,ok\n7,-5000,2024-01-05,2024-01-05 00:00:00,true\n"
        "8,7.00,2024-01-06,2024-01-06 00:00:00,true\n",
        "utf-8",
    )
    result = project.run()
    assert result.status == "failed"
    assert result.step("gold.sales").status == "failed"
    assert result.step("gold.daily").status == "success"
    assert publish_steps(result) == {}
    assert fetch(warehouse, "SELECT * FROM marts.sales ORDER BY id") == SALES_V0
    assert fetch(warehouse, "SELECT * FROM marts.daily ORDER BY day") == DAILY_V0


@pytest.mark.postgres
def test_warehouse_killed_mid_publish_is_retried_cleanly(
    tmp_path: Path, make_pg: Callable[..., PgServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_pg()
    server.create_database("wh")
    dsn = server.dsn("wh")
    monkeypatch.setenv("WAREHOUSE_DSN", dsn)
    big = "select range as id, md5(range::varchar) as h, range * 0.01 as amount from range(400000)"
    project = make(
        tmp_path / "p",
        files={"models/gold/sales.sql": big, "models/gold/daily.sql": "select 1 as day"},
    )

    seen: list[bool] = []

    def kill_during_copy() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE 'COPY %%FROM STDIN%%' AND pid <> pg_backend_pid()"
                ).fetchone()
                if busy and busy[0]:
                    seen.append(True)
                    break
                time.sleep(0.005)
        server.kill()
        server.restart()

    killer = threading.Thread(target=kill_during_copy, daemon=True)
    killer.start()
    result = project.run()
    killer.join()
    assert result.ok, result.error
    assert publish_steps(result)["gold.sales"].rows_written == 400_000
    assert fetch(dsn, "SELECT count(*), count(DISTINCT id), sum(amount) FROM marts.sales") == [
        (400_000, 400_000, Decimal("799998000.00"))
    ]
    tables = fetch(
        dsn,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1",
    )
    assert tables == [("daily",), ("sales",)]
    assert seen, "the COPY into the warehouse was never caught running"


def test_cli_names_why_a_publish_failed_and_refuses_unknown_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a port nobody listens on: the reason is printed, not only 'failed'."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WAREHOUSE_DSN", f"postgresql://nobody@127.0.0.1:{port}/wh")
    env = dict(os.environ)
    project = make(tmp_path / "p")
    assert project.run().steps  # the run builds the tables (its publish step fails)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "medallion", "publish", *args],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    failed = cli("--table", "gold.daily")
    assert failed.returncode == 1
    # the failure is the command's outcome: in its summary, on stdout
    assert "gold.daily failed:" in failed.stdout
    assert f"127.0.0.1:{port}" in failed.stdout  # the connection error itself
    unknown = cli("--table", "gold.dayly")
    assert unknown.returncode == 2
    assert "--table gold.dayly: no target chosen publishes it" in unknown.stderr
    assert "did you mean gold.daily?" in unknown.stderr
