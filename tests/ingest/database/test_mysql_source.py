"""MySQL / MariaDB database sources against a real MariaDB server: incremental reads by a
cursor column, types, errors that fail at once, a server that is down (retried, nothing
committed, the watermark unchanged) and the `run --watch` probe."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from medallion.devservers.mysqlserver import MySqlServer
from medallion.project import Project
from medallion.storage import snapshot, tables

pytestmark = pytest.mark.mysql

Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture

ITEMS_DDL = """
CREATE TABLE items (
    id INT PRIMARY KEY,
    big BIGINT UNSIGNED,
    name VARCHAR(50),
    amount DECIMAL(12,2),
    ratio DOUBLE,
    day DATE,
    seen_at DATETIME(6),
    seen_ts TIMESTAMP NULL,
    active TINYINT(1),
    note TEXT,
    updated_at DATETIME
)
"""
# id 4 has a NULL cursor: only a first run (or a full refresh) picks it up
ITEMS_ROWS = """
INSERT INTO items VALUES
 (1, 18446744073709551615, 'alpha', 10.50, 0.5, '2024-01-01', '2024-01-01 10:00:00',
  '2024-01-01 10:00:00', 1, 'plain', '2024-01-01 00:00:00'),
 (2, 2, 'bêta ☃', 1234567890.12, NULL, '2024-01-02', '2024-01-02 11:30:00.123456',
  '2024-01-02 00:00:00', 0, '', '2024-01-02 00:00:00'),
 (3, NULL, 'gamma', -0.01, -1.25, NULL, NULL, NULL, NULL, NULL, '2024-01-03 00:00:00'),
 (4, 4, 'delta', 0.00, 0, '2024-01-04', '2024-01-04 00:00:00', NULL, 1,
  'comma, "quote" and\\na newline', NULL)
"""
MERGE_MODEL = """\
    /* ---
    kind: merge
    unique_key: id
    order_by: updated_at
    --- */
    select * exclude (_ingested_at, _source_file, _run_id) from bronze.items
    """


def make(root: Path, dsn: str, table: str = "items", **extra: object) -> Project:
    options = {"cursor": "updated_at", "retries": 0, "retry_backoff": 0.1, **extra}
    lines = "".join(f"    {k}: {v}\n" for k, v in options.items())
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(
        f"name: p\nsources:\n  items:\n    type: mysql\n    dsn: {dsn}\n    table: {table}\n"
        + lines,
        encoding="utf-8",
    )
    model = root / "models" / "silver" / "items.sql"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(textwrap.dedent(MERGE_MODEL), encoding="utf-8")
    return Project.load(root)


def bronze_version(project: Project) -> int | None:
    path = project.catalog.path("bronze.items")
    return tables.open_table(path).version() if tables.is_delta_table(path) else None


def watermark(project: Project) -> str:
    return tables.history(project.catalog.path("bronze.items"))[0]["medallion.watermark"]


def test_types_survive_into_bronze_and_silver(
    tmp_path: Path, my_db: str, sql: Helper, run_ok: Helper
) -> None:
    sql(my_db, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", my_db)
    result = run_ok(project)
    assert result.step("bronze.items").rows_written == 4  # the NULL cursor row too
    expected = {
        "id": pa.int32(),
        "big": pa.decimal128(20, 0),  # Delta has no unsigned types
        "name": pa.string(),
        "amount": pa.decimal128(12, 2),
        "ratio": pa.float64(),
        "day": pa.date32(),
        "seen_at": pa.timestamp("us"),
        "seen_ts": pa.timestamp("us", tz="UTC"),
        "active": pa.int8(),
        "note": pa.string(),
        "updated_at": pa.timestamp("us"),
    }
    for fqn in ("bronze.items", "silver.items"):
        schema = pa.schema(tables.open_table(project.catalog.path(fqn)).schema().to_arrow())
        assert {f.name: f.type for f in schema if f.name in expected} == expected, fqn
    data = snapshot.dataset(project.catalog.path("silver.items")).to_table().sort_by("id")
    assert data.select(list(expected)).to_pylist() == [
        {
            "id": 1,
            "big": Decimal(18446744073709551615),
            "name": "alpha",
            "amount": Decimal("10.50"),
            "ratio": 0.5,
            "day": date(2024, 1, 1),
            "seen_at": datetime(2024, 1, 1, 10, 0),
            "seen_ts": datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
            "active": 1,
            "note": "plain",
            "updated_at": datetime(2024, 1, 1),
        },
        {
            "id": 2,
            "big": Decimal(2),
            "name": "bêta ☃",
            "amount": Decimal("1234567890.12"),
            "ratio": None,
            "day": date(2024, 1, 2),
            "seen_at": datetime(2024, 1, 2, 11, 30, 0, 123456),
            "seen_ts": datetime(2024, 1, 2, 0, 0, tzinfo=UTC),
            "active": 0,
            "note": "",
            "updated_at": datetime(2024, 1, 2),
        },
        {
            "id": 3,
            "big": None,
            "name": "gamma",
            "amount": Decimal("-0.01"),
            "ratio": -1.25,
            "day": None,
            "seen_at": None,
            "seen_ts": None,
            "active": None,
            "note": None,
            "updated_at": datetime(2024, 1, 3),
        },
        {
            "id": 4,
            "big": Decimal(4),
            "name": "delta",
            "amount": Decimal("0.00"),
            "ratio": 0.0,
            "day": date(2024, 1, 4),
            "seen_at": datetime(2024, 1, 4),
            "seen_ts": None,
            "active": 1,
            "note": 'comma, "quote" and\na newline',
            "updated_at": None,
        },
    ]


def test_second_run_loads_only_inserts_and_updates(
    tmp_path: Path, my_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(my_db, ITEMS_DDL, ITEMS_ROWS, "DELETE FROM items WHERE id = 4")
    project = make(tmp_path / "p", my_db, batch_size=1000)
    run_ok(project)
    assert watermark(project) == "2024-01-03T00:00:00"
    before = bronze_version(project)
    again = run_ok(project)  # nothing new: nothing written
    assert again.step("bronze.items").delta_version is None
    assert bronze_version(project) == before
    sql(
        my_db,
        "INSERT INTO items (id, name, amount, updated_at) VALUES (5, 'eps', 5.55, "
        "'2024-01-05 00:00:00')",
        "UPDATE items SET name = 'beta2', amount = 2.20, updated_at = '2024-01-04' WHERE id = 2",
        # an update whose cursor is not past the watermark is not seen
        "UPDATE items SET name = 'hidden', updated_at = updated_at WHERE id = 1",
    )
    second = run_ok(project)
    assert second.step("bronze.items").rows_written == 2
    assert rows(project, "select id, name from bronze.items order by id, updated_at") == [
        (1, "alpha"),
        (2, "bêta ☃"),
        (2, "beta2"),
        (3, "gamma"),
        (5, "eps"),
    ]
    assert rows(project, "select id, name, amount from silver.items order by id") == [
        (1, "alpha", Decimal("10.50")),
        (2, "beta2", Decimal("2.20")),
        (3, "gamma", Decimal("-0.01")),
        (5, "eps", Decimal("5.55")),
    ]
    assert watermark(project) == "2024-01-05T00:00:00"


def test_many_batches_and_a_query_source(
    tmp_path: Path, my_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(
        my_db,
        "CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(10), updated_at DATETIME)",
        "INSERT INTO events SELECT seq, IF(seq % 3 = 0, 'buy', 'view'), "
        "TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM seq_1_to_5000",
    )
    root = tmp_path / "q"
    root.mkdir()
    (root / "medallion.yml").write_text(
        f"name: q\nsources:\n  buys:\n    type: mysql\n    dsn: {my_db}\n"
        "    query: select id, updated_at from events where kind = 'buy'\n"
        "    cursor: updated_at\n    batch_size: 1000\n",
        encoding="utf-8",
    )
    project = Project.load(root)
    result = run_ok(project)
    assert result.step("bronze.buys").rows_written == 1666
    assert rows(project, "select count(distinct id), min(id), max(id) from bronze.buys") == [
        (1666, 3, 4998)
    ]


def test_wrong_password_and_missing_table_fail_at_once(
    tmp_path: Path, my_db: str, sql: Helper
) -> None:
    sql(my_db, ITEMS_DDL)
    secret = "Sup3rSecretPw"
    project = make(tmp_path / "p", my_db.replace(":secret@", f":{secret}@"), retries=5)
    started = time.monotonic()
    result = project.run()
    assert time.monotonic() - started < 5
    error = result.step("bronze.items").error or ""
    assert result.status == "failed"
    assert "access denied" in error.lower()
    assert secret not in error and secret not in (result.error or "")
    for path in project.state_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert bronze_version(project) is None

    missing = make(tmp_path / "m", my_db, table="no_such_table", retries=5, retry_backoff=2)
    started = time.monotonic()
    result = missing.run()
    assert time.monotonic() - started < 5
    error = result.step("bronze.items").error or ""
    assert "no_such_table" in error and "doesn't exist" in error
    assert ":secret@" not in error


def test_server_down_commits_nothing_then_catches_up(
    tmp_path: Path, make_mysql: Callable[[], MySqlServer], sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    server = make_mysql()
    server.create_database("src")
    dsn = server.dsn("src")
    sql(dsn, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", dsn, retries=2, retry_backoff=0.2)
    run_ok(project)
    sql(dsn, "INSERT INTO items (id, name, updated_at) VALUES (9, 'new', '2024-02-01')")
    version, mark = bronze_version(project), watermark(project)
    server.kill()
    started = time.monotonic()
    failed = project.run()
    assert failed.status == "failed"
    assert time.monotonic() - started >= 0.6  # waited 0.2 + 0.4 s between its three attempts
    error = failed.step("bronze.items").error or ""
    assert "after 2 retries" in error
    assert server.password not in error.replace("medallion:***", "")
    assert bronze_version(project) == version
    assert watermark(project) == mark
    server.start()
    again = run_ok(project)
    assert again.step("bronze.items").rows_written == 1
    assert rows(project, "select count(*), count(distinct id) from bronze.items") == [(5, 5)]
    assert watermark(project) == "2024-02-01T00:00:00"


def test_pending_input_asks_the_cursor_without_extracting(
    tmp_path: Path, my_db: str, sql: Helper, run_ok: Helper
) -> None:
    sql(my_db, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", my_db)
    assert project.pending_input() == {"items": None}
    run_ok(project)
    assert project.pending_input() == {}
    sql(my_db, "UPDATE items SET updated_at = '2024-01-03 00:00:01' WHERE id = 1")
    assert project.pending_input() == {"items": None}
    assert bronze_version(project) == 0
