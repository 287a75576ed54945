"""Every template on both engines: the same data run on DuckDB and on Spark gives the same rows in
every table (bronze, silver, gold, quarantine), first run and after a day-2 drop, and `verify`
passes on both.

Rows are compared by a hash of their non-audit columns (tablediff.py): when a row was ingested
and by which run differ between two runs, so a time taken during a run counts as that run.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.engine.spark.tablediff import Windows, table_digests

from medallion.project import Project
from medallion.templates import get_template

pytestmark = pytest.mark.spark

#: template -> rows generated (small: Spark's cost here is per query, not per row)
TEMPLATES = {
    "retail": 400,
    "customer-insights": 500,
    "product-platform": 600,
    "ecommerce-events": 5000,
}


def _run(project: Project, windows: Windows) -> None:
    start = datetime.now(UTC)
    result = project.run(trigger="test", yes=True)
    windows.append((start, datetime.now(UTC)))
    assert result.ok, "\n".join(f"{s.node}: {s.error}" for s in result.steps if s.error)


def _copy_new_files(src: Path, dest: Path) -> None:
    for f in src.rglob("*"):
        target = dest / f.relative_to(src)
        if f.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_template_equal_on_both_engines(name: str, spark: Any, tmp_path: Path) -> None:
    template = get_template(name)
    duck_root, spark_root = tmp_path / "duckdb", tmp_path / "spark"
    template.scaffold(duck_root)
    template.scaffold(spark_root)
    template.generate(duck_root, rows=TEMPLATES[name])
    _copy_new_files(duck_root / "data", spark_root / "data")
    duck = Project.load(duck_root)
    on_spark = Project.load(spark_root)
    on_spark.workspace.use_engine("spark")
    windows: dict[str, Windows] = {"duckdb": [], "spark": []}

    for day in (1, 2):
        if day == 2:
            template.generate(duck_root, day=2)
            _copy_new_files(duck_root / "data", spark_root / "data")
        _run(duck, windows["duckdb"])
        _run(on_spark, windows["spark"])
        a = table_digests(duck.workspace.storage_root, windows["duckdb"])
        b = table_digests(on_spark.workspace.storage_root, windows["spark"])
        differ = {t: (a.get(t), b.get(t)) for t in set(a) | set(b) if a.get(t) != b.get(t)}
        assert not differ, f"day {day}: tables differ between DuckDB and Spark: {differ}"
        assert len(a) > 3

    for project in (duck, on_spark):
        verification = project.verify(5)
        assert verification.ok, verification


@pytest.mark.postgres
def test_oltp_template_equal_on_both_engines(
    spark: Any, pg: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The oltp template's database sources (PostgreSQL, extracted on the driver) on both
    engines from one source database; a day of inserts and updates in it, then both again."""
    import os

    suffix = os.urandom(4).hex()
    names = (f"oltp_src_{suffix}", f"oltp_wh_{suffix}")
    for db in names:
        pg.create_database(db)
    monkeypatch.setenv("OLTP_SOURCE_DSN", pg.dsn(names[0]))
    monkeypatch.setenv("WAREHOUSE_DSN", pg.dsn(names[1]))
    try:
        template = get_template("oltp")
        duck_root, spark_root = tmp_path / "duckdb", tmp_path / "spark"
        template.scaffold(duck_root)
        template.scaffold(spark_root)
        template.generate(duck_root, rows=300)
        duck = Project.load(duck_root)
        on_spark = Project.load(spark_root)
        on_spark.workspace.use_engine("spark")
        windows: dict[str, Windows] = {"duckdb": [], "spark": []}
        for day in (1, 2):
            if day == 2:
                template.generate(duck_root, day=2)
            _run(duck, windows["duckdb"])
            _run(on_spark, windows["spark"])
            a = table_digests(duck.workspace.storage_root, windows["duckdb"])
            b = table_digests(on_spark.workspace.storage_root, windows["spark"])
            differ = {t: (a.get(t), b.get(t)) for t in set(a) | set(b) if a.get(t) != b.get(t)}
            assert not differ, f"day {day}: tables differ between DuckDB and Spark: {differ}"
        for project in (duck, on_spark):
            assert project.verify(5).ok
    finally:
        for db in names:
            pg.drop_database(db)
