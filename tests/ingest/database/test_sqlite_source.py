"""SQLite as a database source (same interface as PostgreSQL, no server): a table or a query,
incremental by an integer cursor, lookback, relative paths.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medallion.project import Project
from medallion.storage import tables

Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture


def sqlite(path: Path, *statements: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def make(root: Path, source: str) -> Project:
    body = "".join(f"    {line}\n" for line in source.strip().splitlines())
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(
        f"name: p\nsources:\n  people:\n    type: sqlite\n{body}", encoding="utf-8"
    )
    return Project.load(root)


def bronze(project: Project, columns: str = "id, name") -> list[tuple[Any, ...]]:
    query = f"select {columns} from bronze.people order by all"
    return [tuple(r.values()) for r in project.query(query).to_pylist()]


def watermark(project: Project) -> str:
    return tables.history(project.catalog.path("bronze.people"))[0]["medallion.watermark"]


PEOPLE = """CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, score REAL, active INTEGER)"""
ROWS = "INSERT INTO people VALUES (1, 'ann', 1.5, 1), (2, 'bo', NULL, 0), (3, 'cy', 3.25, 1)"


def test_table_incremental_by_integer_id(tmp_path: Path, run_ok: Helper) -> None:
    db = tmp_path / "shop.db"
    sqlite(db, PEOPLE, ROWS)
    project = make(tmp_path / "p", f"dsn: {db}\ntable: people\ncursor: id")
    first = run_ok(project)
    assert first.step("bronze.people").rows_written == 3
    assert bronze(project, "id, name, score, active") == [
        (1, "ann", 1.5, 1),
        (2, "bo", None, 0),
        (3, "cy", 3.25, 1),
    ]
    assert watermark(project) == "3"
    sqlite(db, "INSERT INTO people VALUES (4, 'di', 4.0, 1), (10, 'ed', NULL, 1)")
    second = run_ok(project)
    assert second.step("bronze.people").rows_written == 2
    assert bronze(project) == [(1, "ann"), (2, "bo"), (3, "cy"), (4, "di"), (10, "ed")]
    assert watermark(project) == "10"
    assert project.query("select distinct _source_file from bronze.people").to_pylist() == [
        {"_source_file": "sqlite:people"}
    ]
    third = run_ok(project)  # nothing new: no commit
    assert third.step("bronze.people").delta_version is None
    assert tables.open_table(project.catalog.path("bronze.people")).version() == 1


def test_query_source_with_sqlite_url(tmp_path: Path, run_ok: Helper) -> None:
    db = tmp_path / "shop.db"
    sqlite(db, PEOPLE, ROWS)
    project = make(
        tmp_path / "p",
        f"""
        dsn: sqlite:///{db}
        query: "select id, upper(name) as name from people where active = 1"
        cursor: id
        """.replace("        ", ""),
    )
    run_ok(project)
    assert bronze(project, "id, name, _source_file") == [
        (1, "ANN", "sqlite:query"),
        (3, "CY", "sqlite:query"),
    ]
    sqlite(db, "INSERT INTO people VALUES (4, 'di', 4.0, 0), (5, 'ed', NULL, 1)")
    second = run_ok(project)
    assert second.step("bronze.people").rows_written == 1
    assert bronze(project) == [(1, "ANN"), (3, "CY"), (5, "ED")]


def test_numeric_lookback_rereads_ids(tmp_path: Path, run_ok: Helper) -> None:
    db = tmp_path / "shop.db"
    sqlite(db, PEOPLE, ROWS)
    project = make(tmp_path / "p", f"dsn: {db}\ntable: people\ncursor: id\nlookback: 2")
    run_ok(project)
    sqlite(db, "INSERT INTO people VALUES (4, 'di', 4.0, 1)")
    second = run_ok(project)
    # ids > 3 - 2: 2, 3 again and the new 4
    assert second.step("bronze.people").rows_written == 3
    assert bronze(project) == [
        (1, "ann"),
        (2, "bo"),
        (2, "bo"),
        (3, "cy"),
        (3, "cy"),
        (4, "di"),
    ]


def test_lookback_on_a_text_timestamp_cursor(tmp_path: Path, run_ok: Helper) -> None:
    """SQLite keeps times as text: the lookback is subtracted as a time and written back in the
    watermark's own format, so the text comparison stays a time comparison."""
    db = tmp_path / "shop.db"
    sqlite(
        db,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT)",
        "INSERT INTO people VALUES (1, 'ann', '2026-01-01 08:00:00'), "
        "(2, 'bo', '2026-01-01 09:30:00'), (3, 'cy', '2026-01-01 10:00:00')",
    )
    project = make(
        tmp_path / "p", f"dsn: {db}\ntable: people\ncursor: updated_at\nlookback: 1 hour"
    )
    run_ok(project)
    assert watermark(project) == "2026-01-01 10:00:00"
    sqlite(db, "INSERT INTO people VALUES (4, 'di', '2026-01-01 11:00:00')")
    second = run_ok(project)
    # updated_at > '2026-01-01 09:00:00': bo and cy again, and the new di
    assert second.step("bronze.people").rows_written == 3
    assert bronze(project) == [(1, "ann"), (2, "bo"), (2, "bo"), (3, "cy"), (3, "cy"), (4, "di")]


def test_lookback_on_a_text_cursor_that_is_no_time_is_a_clear_error(
    tmp_path: Path, run_ok: Helper
) -> None:
    db = tmp_path / "shop.db"
    sqlite(
        db,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, code TEXT)",
        "INSERT INTO people VALUES (1, 'ann', 'a7'), (2, 'bo', 'b3')",
    )
    project = make(tmp_path / "p", f"dsn: {db}\ntable: people\ncursor: code\nlookback: 1 hour")
    run_ok(project)
    sqlite(db, "INSERT INTO people VALUES (3, 'cy', 'c1')")
    second = project.run()
    assert not second.ok
    assert second.step("bronze.people").error == (
        "the cursor holds text that is not a time ('b3'), so a lookback cannot be subtracted "
        "from it\n  hint: remove `lookback`, or use a numeric or timestamp cursor column"
    )
    assert tables.open_table(project.catalog.path("bronze.people")).version() == 0


def test_first_run_includes_rows_with_a_null_cursor(tmp_path: Path, run_ok: Helper) -> None:
    db = tmp_path / "shop.db"
    sqlite(
        db,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, version INTEGER)",
        "INSERT INTO people VALUES (1, 'ann', 1), (2, 'bo', NULL), (3, 'cy', 2)",
    )
    project = make(tmp_path / "p", f"dsn: {db}\ntable: people\ncursor: version")
    first = run_ok(project)
    assert first.step("bronze.people").rows_written == 3
    assert bronze(project) == [(1, "ann"), (2, "bo"), (3, "cy")]


def test_integer_cursor_that_looks_like_a_date(tmp_path: Path, run_ok: Helper) -> None:
    """A yyyymmdd integer key is a number, not a date: 20240105 > 20240101."""
    db = tmp_path / "shop.db"
    sqlite(
        db,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, day_key INTEGER)",
        "INSERT INTO people VALUES (1, 'ann', 20240101)",
    )
    project = make(tmp_path / "p", f"dsn: {db}\ntable: people\ncursor: day_key")
    run_ok(project)
    assert watermark(project) == "20240101"
    sqlite(db, "INSERT INTO people VALUES (2, 'bo', 20240105)")
    second = run_ok(project)
    assert second.step("bronze.people").rows_written == 1
    assert bronze(project) == [(1, "ann"), (2, "bo")]
    assert watermark(project) == "20240105"


def test_relative_path_is_relative_to_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_ok: Helper
) -> None:
    root = tmp_path / "p"
    sqlite(root / "data" / "shop.db", PEOPLE, ROWS)
    project = make(root, "dsn: data/shop.db\ntable: people\ncursor: id")
    monkeypatch.chdir(tmp_path)  # run from elsewhere, as `medallion -p p run` does
    run_ok(project)
    assert bronze(project) == [(1, "ann"), (2, "bo"), (3, "cy")]


def test_missing_database_file_fails_clearly(tmp_path: Path) -> None:
    project = make(tmp_path / "p", f"dsn: {tmp_path / 'nope.db'}\ntable: people\ncursor: id")
    result = project.run()
    assert result.status == "failed"
    error = result.step("bronze.people").error or ""
    assert "nope.db" in error
    assert "not found" in error
    assert not (tmp_path / "nope.db").exists()  # not created by the attempt
