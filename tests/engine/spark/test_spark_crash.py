"""Crash safety on Spark: `medallion run` on Spark killed with SIGKILL while a table is being
written — a merge streaming rows on the driver, a `table` model after Spark wrote its Parquet
files and before delta-rs committed them — then run again, leaves every table exactly as an
uninterrupted run on DuckDB does: no row lost, none duplicated (the crash tests' fault points,
tests/functional/test_crash.py, on this engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import killed_run, write_project
from tests.functional.test_crash import BAD2, CONFIG, GOOD1, MODELS, snapshot

from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.spark

ON_SPARK = (
    CONFIG
    + """engine:
  type: spark
  master: local[1]
  conf: {spark.sql.shuffle.partitions: 1, spark.ui.enabled: false}
"""
)
TABLE_MODEL = {"gold/g.sql": "/* ---\nkind: table\n--- */\n" + MODELS["gold/g.sql"]}


def _read_on_duckdb(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    project = Project.load(root)
    project.workspace.use_engine("duckdb")
    return snapshot(project)


def test_killed_on_spark_then_rerun_equals_an_uninterrupted_run(spark: Any, tmp_path: Path) -> None:
    models = {**MODELS, **TABLE_MODEL}
    killed = write_project(tmp_path / "killed", ON_SPARK, models, {"data/sales1.csv": GOOD1})
    clean = write_project(tmp_path / "clean", CONFIG, models, {"data/sales1.csv": GOOD1})
    on_spark, on_duckdb = Project.load(killed), Project.load(clean)
    assert on_spark.run(trigger="test").ok
    assert on_duckdb.run(trigger="test").ok
    for root in (killed, clean):
        (root / "data/sales2.csv").write_text(BAD2)
    g = on_spark.catalog.path("gold.g")
    g_version = tables.info(g).version

    for point in ("mid-write:silver.s", "mid-write:gold.g"):
        proc = killed_run(killed, point)
        assert proc.returncode == -9, proc.stderr[-3000:]  # the fault point was reached
    assert tables.info(g).version == g_version  # killed before its commit
    orphans = {p.name for p in g.iterdir() if p.name.startswith("spark-")}
    assert orphans  # the files Spark wrote before the kill: never committed

    rerun = Project.load(killed).run(trigger="test")
    assert rerun.ok, [(s.node, s.error) for s in rerun.steps if s.error]
    assert on_duckdb.run(trigger="test").ok
    assert _read_on_duckdb(killed) == _read_on_duckdb(clean)
    committed = {Path(u).parent.name for u in tables.open_table(g).file_uris()}
    assert not committed & orphans  # the orphans stay unread (vacuum removes them)
    assert Project.load(killed).verify(10).ok
