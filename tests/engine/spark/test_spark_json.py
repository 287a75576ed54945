"""JSON landing files read by Spark's executors (`engine: spark`): hand-made files in the shapes
real exports have (newline-delimited and one array, a malformed line, unicode and escapes, a
record lacking a field, a field only later files have, nested objects and lists) give the same
bronze tables and quarantine rows as on DuckDB, row for row; a run again ingests nothing; a run
killed between Spark's write and the commit, run again, equals a run never killed. What Spark
does not read as DuckDB does is read on the driver, and the step's note says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import killed_run, write_project
from tests.engine.spark.tablediff import Windows, table_digests

from medallion.project import Project

pytestmark = pytest.mark.spark

CONFIG = """
name: jsonfiles
sources:
  events:
    path: data/events/*.json*
    format: json
    columns: {amount: 'DECIMAL(12,2)', user: VARCHAR}
    max_rejected: 50%
  profiles:
    path: data/profiles/*.jsonl
"""

#: newline-delimited: unicode (as UTF-8 and as escapes), a quote and a backslash escaped, a
#: number that is no whole number in a BIGINT column, amounts as numbers and as text, one that
#: has more decimals than DECIMAL(12,2) keeps, a record lacking `score`
EVENTS_1 = (
    '{"id": 1, "kind": "view", "user": "Zoë Ærø", "amount": 10.5, "ok": true, "score": 0.25}\n'
    '{"id": 2, "kind": "buy", "user": "caf\\u00e9 \\"A\\" \\\\ b", "amount": "3.00", '
    '"ok": false, "score": 1}\n'
    '{"id": 3, "kind": "buy", "user": "日本語", "amount": 1.234, "ok": true, "score": 2.5}\n'
    '{"id": 4, "kind": "view", "user": "no score", "amount": 7, "ok": false}\n'
)
#: one malformed line (cut off) and one line that is no object, among good ones
EVENTS_2 = (
    '{"id": 5, "kind": "view", "user": "Ana", "amount": 1, "ok": true, "score": 3}\n'
    '{"id": 6, "kind": "buy", "user": \n'
    '{"id": 7, "kind": "view", "user": "Bo", "amount": 2.5, "ok": false, "score": 4}\n'
    "[1, 2]\n"
)
#: one JSON array over several lines, with a field (`coupon`) no earlier file has
EVENTS_3 = """[
  {"id": 8, "kind": "buy", "user": "Cy", "amount": 12.99, "ok": true, "score": 5.5,
   "coupon": "SPRING"},
  {"id": 9, "kind": "view", "user": "Dee", "amount": 0, "ok": false, "score": -1.75}
]
"""
#: a value whose text DuckDB prints otherwise (a number in a text column: '1.5'): left to
#: DuckDB
EVENTS_4 = '{"id": 10, "kind": "buy", "user": 1.50, "amount": 4, "ok": true, "score": 6.5}\n'
#: nested objects and lists: DuckDB lands them as STRUCT and LIST, read on the driver
PROFILES = (
    '{"id": 1, "addr": {"city": "Oslo", "zip": "0150"}, "tags": ["a", "b"]}\n'
    '{"id": 2, "addr": {"city": "Zürich"}, "tags": []}\n'
)


def _files() -> dict[str, bytes | str]:
    return {
        "data/events/e1.jsonl": EVENTS_1,
        "data/events/e2.jsonl": EVENTS_2,
        "data/events/e3.json": EVENTS_3,
        "data/events/e4.jsonl": EVENTS_4,
        "data/profiles/p1.jsonl": PROFILES,
    }


def _run(project: Project, windows: Windows) -> dict[str, str]:
    start = datetime.now(UTC)
    result = project.run(trigger="test")
    windows.append((start, datetime.now(UTC)))
    assert result.ok, "\n".join(f"{s.node}: {s.error}" for s in result.steps if s.error)
    return {s.node: s.note or "" for s in result.steps}


def test_json_read_by_spark_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    files = _files()
    duck = Project.load(write_project(tmp_path / "duckdb", CONFIG, {}, files))
    on_spark = Project.load(write_project(tmp_path / "spark", CONFIG, {}, files))
    on_spark.workspace.use_engine("spark")
    windows: dict[str, Windows] = {"duckdb": [], "spark": []}

    _run(duck, windows["duckdb"])
    notes = _run(on_spark, windows["spark"])
    a = table_digests(duck.workspace.storage_root, windows["duckdb"])
    b = table_digests(on_spark.workspace.storage_root, windows["spark"])
    assert a == b
    events = notes["bronze.events"]
    assert "read by Spark" in events, notes
    # the malformed line's file, the amount with too many decimals and the number in a text
    # column went to DuckDB on the driver; the array file and the clean files did not
    assert "e2.jsonl" in events and "e1.jsonl" in events and "e4.jsonl" in events, events
    assert "e3.json" not in events.replace("e3.json:", ""), events
    assert "read on the driver" in notes["bronze.profiles"], notes  # STRUCT and LIST
    assert b["bronze.events"][0] == 8
    assert b["bronze.events__quarantine"][0] == 3  # the cut-off line, [1, 2], 1.234
    assert b["bronze.profiles"][0] == 2

    # exactly once: nothing new, nothing ingested
    notes = _run(on_spark, windows["spark"])
    assert all("no new files" in notes[f"bronze.{s}"] for s in ("events", "profiles")), notes
    assert table_digests(on_spark.workspace.storage_root, windows["spark"]) == b


def test_clean_json_files_stay_on_the_executors(spark: Any, tmp_path: Path) -> None:
    """Files Spark reads as DuckDB does are read by Spark alone (no file on the driver), ISO
    dates and timestamps DuckDB detects included: a later batch appends to the table the first
    wrote, equal to DuckDB."""
    config = "name: clean\nsources:\n  events:\n    path: data/*.json*\n    format: json\n"
    clean = (
        '{"id": 1, "kind": "view", "user": "Zoë Ærø", "amount": 10.5, "ok": true, "score": 1.5,'
        ' "at": "2024-03-05 10:00:00", "day": "2024-03-05"}\n'
        '{"id": 2, "kind": "buy", "user": "caf\\u00e9 \\"A\\"", "amount": 3, "ok": false,'
        ' "at": "2024-03-05 23:59:59", "day": "2024-02-29"}\n'
    )
    first = {"data/e1.jsonl": clean, "data/e3.json": EVENTS_3}
    duck = Project.load(write_project(tmp_path / "duckdb", config, {}, first))
    on_spark = Project.load(write_project(tmp_path / "spark", config, {}, first))
    on_spark.workspace.use_engine("spark")
    windows: dict[str, Windows] = {"duckdb": [], "spark": []}
    _run(duck, windows["duckdb"])
    notes = _run(on_spark, windows["spark"])
    assert notes["bronze.events"].startswith("read by Spark"), notes
    assert "driver" not in notes["bronze.events"], notes
    later = (
        '{"id": 11, "kind": "buy", "user": "Fay", "amount": 8.25, "ok": true, "score": 7,'
        ' "at": "2024-03-06 08:00:00", "day": "2024-03-06"}\n'
    )
    for p in (duck, on_spark):
        (p.root / "data" / "e5.jsonl").write_text(later, encoding="utf-8")
    _run(duck, windows["duckdb"])
    notes = _run(on_spark, windows["spark"])
    assert "driver" not in notes["bronze.events"], notes
    a = table_digests(duck.workspace.storage_root, windows["duckdb"])
    b = table_digests(on_spark.workspace.storage_root, windows["spark"])
    assert a == b and b["bronze.events"][0] == 5


KILLED = """
name: killed
sources:
  events:
    path: data/events/*.json*
    format: json
    columns: {amount: 'DECIMAL(12,2)'}
    max_rejected: 50%
"""
ON_SPARK = """engine:
  type: spark
  master: local[1]
  conf: {spark.sql.shuffle.partitions: 1, spark.ui.enabled: false}
"""


def test_killed_between_spark_write_and_commit_then_rerun_equals_a_clean_run(
    spark: Any, tmp_path: Path
) -> None:
    data = {k: v for k, v in _files().items() if k.startswith("data/events/")}
    killed = write_project(tmp_path / "killed", KILLED + ON_SPARK, {}, data)
    clean = write_project(tmp_path / "clean", KILLED, {}, data)
    bronze = Project.load(killed).catalog.path("bronze.events")
    proc = killed_run(killed, "mid-write:bronze.events")
    assert proc.returncode == -9, proc.stderr[-3000:]  # the fault point was reached
    assert not (bronze / "_delta_log").exists()  # nothing committed
    assert any(p.name.startswith("spark-") for p in bronze.iterdir())  # Spark's files written

    windows: dict[str, Windows] = {"duckdb": [], "spark": []}
    notes = _run(Project.load(killed), windows["spark"])
    assert "read by Spark" in notes["bronze.events"], notes
    assert "no new files" in _run(Project.load(killed), windows["spark"])["bronze.events"]
    _run(Project.load(clean), windows["duckdb"])
    a = table_digests(Project.load(clean).workspace.storage_root, windows["duckdb"])
    b = table_digests(Project.load(killed).workspace.storage_root, windows["spark"])
    assert a == b
    assert b["bronze.events"][0] == 8 and b["bronze.events__quarantine"][0] == 3


def test_a_json_file_duckdb_cannot_read_fails_the_ingest_on_spark_too(
    spark: Any, tmp_path: Path
) -> None:
    """A record with a duplicate key fails DuckDB's read of the file (Spark would take the
    last value): on Spark the ingest fails the same way, nothing written."""
    config = "name: dup\nsources:\n  events:\n    path: data/*.jsonl\n"
    files = {
        "data/a.jsonl": '{"id": 1, "kind": "view"}\n',
        "data/b.jsonl": '{"id": 2, "kind": "view"}\n{"id": 3, "kind": "a", "kind": "b"}\n',
    }
    errors = []
    for engine in ("duckdb", "spark"):
        project = Project.load(write_project(tmp_path / engine, config, {}, files))
        project.workspace.use_engine(engine)
        step = project.run(trigger="test").step("bronze.events")
        assert step.status == "failed"
        assert not project.catalog.exists("bronze.events")
        errors.append(str(step.error).replace(str(project.root), "ROOT"))
    assert "duplicate key" in errors[0], errors
    assert errors[0] == errors[1]


def test_a_json_line_not_in_utf8_is_quarantined_on_spark_as_on_duckdb(
    spark: Any, tmp_path: Path
) -> None:
    """A latin-1 byte in one line: the line goes to the quarantine naming the encoding on both
    engines (not loaded with U+FFFD); the file's other lines and a clean file load."""
    config = "name: enc\nsources:\n  events:\n    path: data/*.jsonl\n    max_rejected: 50%\n"
    files: dict[str, bytes | str] = {
        "data/a.jsonl": '{"id": 1, "user": "Zoë"}\n{"id": 2, "user": "Ann"}\n',
        "data/b.jsonl": b'{"id": 3, "user": "caf\xe9"}\n{"id": 4, "user": "Bo"}\n',
    }
    seen = []
    for engine in ("duckdb", "spark"):
        project = Project.load(write_project(tmp_path / engine, config, {}, files))
        project.workspace.use_engine(engine)
        result = project.run(trigger="test")
        assert result.ok, [s.error for s in result.steps if s.error]
        rows = project.query("select id, user from bronze.events order by id").to_pylist()
        q = project.query(
            "select _source_file, _line, _raw, _error from bronze.events__quarantine"
        ).to_pylist()
        seen.append((rows, q))
    rows, q = seen[0]
    assert [r["id"] for r in rows] == [1, 2, 4]
    assert [(r["_source_file"], r["_line"]) for r in q] == [("data/b.jsonl", 1)]
    assert "not utf-8" in q[0]["_error"], q
    assert seen[1] == seen[0]
