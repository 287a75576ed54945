"""PostgreSQL as a source, against a real server: incremental extraction by a cursor column,
lookback, queries, types, watermarks in the Delta log, full refresh, runs with nothing new.

Every expected value is written out by hand from the rows the tests insert.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from medallion.project import Project
from medallion.storage import snapshot, tables

pytestmark = pytest.mark.postgres

Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture

ITEMS_DDL = """
CREATE TABLE items (
    id integer PRIMARY KEY,
    name text,
    amount numeric(12,2),
    seen_at timestamp,
    seen_tz timestamptz,
    active boolean,
    note text,
    updated_at timestamp
)
"""
# id 4 has a NULL cursor: only a first run (or a full refresh) can pick it up
ITEMS_ROWS = """
INSERT INTO items VALUES
 (1, 'alpha', 10.50, '2024-01-01 10:00:00', '2024-01-01 12:00:00+02', true, 'plain',
  '2024-01-01 00:00:00'),
 (2, 'beta', 1234567890.12, '2024-01-02 11:30:00.123456', '2024-01-02 00:00:00+00', false, '',
  '2024-01-02 00:00:00'),
 (3, 'gamma', -0.01, NULL, NULL, NULL, NULL, '2024-01-03 00:00:00'),
 (4, 'delta', 0.00, '2024-01-04 00:00:00', '2024-01-04 23:59:59-05', true,
  E'comma, "quote" and\\na newline', NULL)
"""
MERGE_MODEL = """\
    /* ---
    kind: merge
    unique_key: id
    order_by: updated_at
    --- */
    select id, name, amount, seen_at, seen_tz, active, note, updated_at from bronze.items
    """


def make(
    root: Path,
    dsn: str,
    source: str = "table: public.items\n    cursor: updated_at",
    model: bool = True,
    **extra: str,
) -> Project:
    """A project with source `items` (postgres, `source` lines) and the silver merge model."""
    lines = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    config = f"name: p\nsources:\n  items:\n    type: postgres\n    dsn: {dsn}\n    {source}\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(config + lines, encoding="utf-8")
    if model:
        path = root / "models" / "silver" / "items.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(MERGE_MODEL), encoding="utf-8")
    return Project.load(root)


def commits(project: Project, fqn: str) -> list[dict[str, Any]]:
    return tables.history(project.catalog.path(fqn))


def test_first_run_loads_every_row_including_null_cursor(
    tmp_path: Path, pg_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", pg_db)
    result = run_ok(project)
    assert result.step("bronze.items").rows_written == 4
    assert rows(project, "select id from bronze.items order by id") == [(1,), (2,), (3,), (4,)]
    assert rows(project, "select id from silver.items order by id") == [(1,), (2,), (3,), (4,)]


def test_second_run_loads_only_inserts_and_updates(
    tmp_path: Path, pg_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS, "DELETE FROM items WHERE id = 4")
    project = make(tmp_path / "p", pg_db)
    run_ok(project)
    sql(
        pg_db,
        "INSERT INTO items (id, name, amount, updated_at) VALUES (5, 'eps', 5.55, "
        "'2024-01-05 00:00:00')",
        "UPDATE items SET name = 'beta2', amount = 2.20, updated_at = '2024-01-04 00:00:00' "
        "WHERE id = 2",
        # an update with a cursor not past the watermark (2024-01-03) is not seen
        "UPDATE items SET name = 'hidden' WHERE id = 1",
    )
    second = run_ok(project)
    assert second.step("bronze.items").rows_written == 2
    assert rows(project, "select id, name from bronze.items order by id, updated_at") == [
        (1, "alpha"),
        (2, "beta"),
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
    newest = commits(project, "bronze.items")[0]
    assert newest["medallion.watermark"] == "2024-01-05T00:00:00"


def test_watermark_in_commit_metadata_and_checkpoints(
    tmp_path: Path, pg_db: str, sql: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", pg_db)
    first = run_ok(project)
    assert first.step("bronze.items").details["watermark"] == "2024-01-03T00:00:00"
    history = commits(project, "bronze.items")
    assert [c["medallion.watermark"] for c in history] == ["2024-01-03T00:00:00"]
    assert history[0]["medallion.run_id"] == first.run_id
    marks = [c for c in project.checkpoints() if c["node"] == "bronze.items"]
    assert [(c["input"], c["value"], c["delta_version"]) for c in marks] == [
        ("watermark", "2024-01-03T00:00:00", 0)
    ]
    sql(pg_db, "UPDATE items SET updated_at = '2024-02-01 08:30:00' WHERE id = 3")
    run_ok(project)
    marks = [c for c in project.checkpoints() if c["node"] == "bronze.items"]
    assert [(c["value"], c["delta_version"]) for c in marks] == [("2024-02-01T08:30:00", 1)]


def test_run_without_changes_writes_nothing(
    tmp_path: Path, pg_db: str, sql: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", pg_db)
    run_ok(project)
    before = tables.open_table(project.catalog.path("bronze.items")).version()
    again = run_ok(project)
    step = again.step("bronze.items")
    assert step.delta_version is None
    assert step.rows_written in (0, None)
    assert tables.open_table(project.catalog.path("bronze.items")).version() == before
    assert commits(project, "bronze.items")[0]["medallion.watermark"] == "2024-01-03T00:00:00"


def test_lookback_rereads_the_window_and_merge_stays_right(
    tmp_path: Path, pg_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS, "DELETE FROM items WHERE id = 4")
    project = make(tmp_path / "p", pg_db, lookback="'36 hours'")
    run_ok(project)  # watermark 2024-01-03 00:00; the window reaches back to 2024-01-01 12:00
    sql(
        pg_db,
        "UPDATE items SET name = 'gamma2', updated_at = '2024-01-06 00:00:00' WHERE id = 3",
        # committed late: its cursor is older than the watermark but inside the window
        "INSERT INTO items (id, name, amount, updated_at) VALUES (6, 'late', 6.00, "
        "'2024-01-02 12:00:00')",
    )
    second = run_ok(project)
    # re-read: id 2 (01-02 00:00), id 3 old version is gone, so its new version; id 6 (late)
    assert second.step("bronze.items").rows_written == 3
    assert rows(
        project, "select id, name, count(*) from bronze.items group by all order by 1, 2"
    ) == [
        (1, "alpha", 1),
        (2, "beta", 2),
        (3, "gamma", 1),
        (3, "gamma2", 1),
        (6, "late", 1),
    ]
    assert rows(project, "select id, name from silver.items order by id") == [
        (1, "alpha"),
        (2, "beta"),
        (3, "gamma2"),
        (6, "late"),
    ]
    assert commits(project, "bronze.items")[0]["medallion.watermark"] == "2024-01-06T00:00:00"


def test_query_instead_of_table(
    tmp_path: Path, pg_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS, "DELETE FROM items WHERE id = 4")
    source = (
        'query: "select id, upper(name) as name, amount * 2 as amount, seen_at, seen_tz, active, '
        'note, updated_at from items where id <> 1"\n    cursor: updated_at'
    )
    project = make(tmp_path / "p", pg_db, source)
    first = run_ok(project)
    assert first.step("bronze.items").rows_written == 2
    assert rows(project, "select id, name, amount, _source_file from bronze.items order by id") == [
        (2, "BETA", Decimal("2469135780.24"), "postgres:query"),
        (3, "GAMMA", Decimal("-0.02"), "postgres:query"),
    ]
    sql(pg_db, "UPDATE items SET amount = 1.25, updated_at = '2024-01-09 00:00:00' WHERE id = 2")
    second = run_ok(project)
    assert second.step("bronze.items").rows_written == 1
    assert rows(project, "select id, name, amount from silver.items order by id") == [
        (2, "BETA", Decimal("2.50")),
        (3, "GAMMA", Decimal("-0.02")),
    ]


def test_types_survive_into_bronze_and_silver(
    tmp_path: Path, pg_db: str, sql: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS, "UPDATE items SET updated_at = '2024-01-04' WHERE id = 4")
    # a server whose sessions default to another date style and zone reads the same
    for setting in ("DateStyle = ''SQL, DMY''", "TimeZone = ''America/New_York''"):
        sql(
            pg_db,
            f"DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET {setting}', current_database());"
            " END $$",
        )
    project = make(tmp_path / "p", pg_db)
    run_ok(project)
    expected = {
        "id": pa.int32(),
        "name": pa.string(),
        "amount": pa.decimal128(12, 2),
        "seen_at": pa.timestamp("us"),
        "seen_tz": pa.timestamp("us", tz="UTC"),
        "active": pa.bool_(),
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
            "name": "alpha",
            "amount": Decimal("10.50"),
            "seen_at": datetime(2024, 1, 1, 10, 0),
            "seen_tz": datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
            "active": True,
            "note": "plain",
            "updated_at": datetime(2024, 1, 1),
        },
        {
            "id": 2,
            "name": "beta",
            "amount": Decimal("1234567890.12"),
            "seen_at": datetime(2024, 1, 2, 11, 30, 0, 123456),
            "seen_tz": datetime(2024, 1, 2, 0, 0, tzinfo=UTC),
            "active": False,
            "note": "",
            "updated_at": datetime(2024, 1, 2),
        },
        {
            "id": 3,
            "name": "gamma",
            "amount": Decimal("-0.01"),
            "seen_at": None,
            "seen_tz": None,
            "active": None,
            "note": None,
            "updated_at": datetime(2024, 1, 3),
        },
        {
            "id": 4,
            "name": "delta",
            "amount": Decimal("0.00"),
            "seen_at": datetime(2024, 1, 4),
            "seen_tz": datetime(2024, 1, 5, 4, 59, 59, tzinfo=UTC),
            "active": True,
            "note": 'comma, "quote" and\na newline',
            "updated_at": datetime(2024, 1, 4),
        },
    ]


def test_other_types_arrive_typed_or_as_their_text(
    tmp_path: Path, pg_db: str, sql: Helper, run_ok: Helper
) -> None:
    """Integers, floats, dates and unconstrained numeric keep a type; what Delta has no type for
    (json, uuid, interval, arrays, bytea) arrives as PostgreSQL's own text of the value."""
    sql(
        pg_db,
        "CREATE TABLE odd (id int2, big int8, f4 real, f8 double precision, day date, "
        "n numeric, code char(3), label varchar(10), doc json, uid uuid, gap interval, "
        "tags int[], raw bytea, kind oid)",
        "INSERT INTO odd VALUES (7, 9000000000, 1.5, 2.25, '2024-02-29', 12.3456789, 'ab', "
        "'x', '{\"a\": [1, 2]}', '8c6b5e41-c8a7-4756-adc4-fcf7549fda70', '1 day 02:00:00', "
        "'{1,2}', '\\x01ff', 25), (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL, NULL, NULL, NULL)",
    )
    project = make(tmp_path / "p", pg_db, source="table: public.odd", model=False)
    run_ok(project)
    table = snapshot.dataset(project.catalog.path("bronze.items")).to_table()
    types = {f.name: f.type for f in table.schema if not f.name.startswith("_")}
    assert types == {
        "id": pa.int16(),
        "big": pa.int64(),
        "f4": pa.float32(),
        "f8": pa.float64(),
        "day": pa.date32(),
        "n": pa.decimal128(38, 9),
        "code": pa.string(),
        "label": pa.string(),
        "doc": pa.string(),
        "uid": pa.string(),
        "gap": pa.string(),
        "tags": pa.string(),
        "raw": pa.string(),
        "kind": pa.int64(),
    }
    values = sorted(table.select(list(types)).to_pylist(), key=lambda r: r["id"] is None)
    assert values == [
        {
            "id": 7,
            "big": 9_000_000_000,
            "f4": 1.5,
            "f8": 2.25,
            "day": datetime(2024, 2, 29).date(),
            "n": Decimal("12.345678900"),
            "code": "ab ",
            "label": "x",
            "doc": '{"a": [1, 2]}',
            "uid": "8c6b5e41-c8a7-4756-adc4-fcf7549fda70",
            "gap": "1 day 02:00:00",
            "tags": "{1,2}",
            "raw": "\\x01ff",
            "kind": 25,
        },
        dict.fromkeys(types),
    ]


def test_full_refresh_rereads_everything(
    tmp_path: Path, pg_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS, "UPDATE items SET updated_at = '2024-01-04' WHERE id = 4")
    project = make(tmp_path / "p", pg_db)
    run_ok(project)
    sql(
        pg_db,
        "UPDATE items SET name = 'alpha2', updated_at = '2024-01-07 00:00:00' WHERE id = 1",
        "DELETE FROM items WHERE id = 3",
    )
    refreshed = run_ok(project, full_refresh=True)
    assert refreshed.step("bronze.items").rows_written == 3
    # the overwrite replaced bronze: the current rows once each
    assert rows(project, "select id, name from bronze.items order by id") == [
        (1, "alpha2"),
        (2, "beta"),
        (4, "delta"),
    ]
    assert rows(project, "select id, name from silver.items order by id") == [
        (1, "alpha2"),
        (2, "beta"),
        (4, "delta"),
    ]
    assert commits(project, "bronze.items")[0]["medallion.watermark"] == "2024-01-07T00:00:00"


def test_integer_cursor_that_looks_like_a_date(
    tmp_path: Path, pg_db: str, sql: Helper, rows: Helper, run_ok: Helper
) -> None:
    """A yyyymmdd integer key is a number, not a date: 20240105 > 20240101."""
    sql(
        pg_db,
        "CREATE TABLE items (id integer PRIMARY KEY, name text, day_key integer)",
        "INSERT INTO items VALUES (1, 'ann', 20240101)",
    )
    project = make(tmp_path / "p", pg_db, "table: items\n    cursor: day_key", model=False)
    run_ok(project)
    sql(pg_db, "INSERT INTO items VALUES (2, 'bo', 20240105)")
    second = run_ok(project)
    assert second.step("bronze.items").rows_written == 1
    assert rows(project, "select id, day_key from bronze.items order by id") == [
        (1, 20240101),
        (2, 20240105),
    ]
    assert commits(project, "bronze.items")[0]["medallion.watermark"] == "20240105"


def test_pending_input_asks_the_cursor_without_extracting(
    tmp_path: Path, pg_db: str, sql: Helper, run_ok: Helper
) -> None:
    """What `run --watch` polls: max(cursor) against the watermark, nothing written."""
    sql(pg_db, ITEMS_DDL, ITEMS_ROWS)
    project = make(tmp_path / "p", pg_db, lookback="'1 day'")
    assert project.pending_input() == {"items": None}  # never extracted: everything is new
    run_ok(project)
    assert project.pending_input() == {}  # the lookback window is not "new"
    sql(pg_db, "UPDATE items SET name = 'hidden' WHERE id = 1")  # cursor unchanged: unseen
    assert project.pending_input() == {}
    sql(pg_db, "UPDATE items SET updated_at = '2024-01-03 00:00:01' WHERE id = 1")
    assert project.pending_input() == {"items": None}
    assert tables.open_table(project.catalog.path("bronze.items")).version() == 0

    no_cursor = make(tmp_path / "q", pg_db, source="table: public.items")
    run_ok(no_cursor)
    assert no_cursor.pending_input() == {"items": None}  # re-read whole by every run
