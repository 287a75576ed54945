"""A table built on Spark records the version of Spark's translation of DuckDB's SQL: one built
with another version is rebuilt (its rows could differ in value or type from those the model
gives now), as `plan` says; a DuckDB build records none and is not affected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project

from medallion.build import record
from medallion.project import Project
from medallion.storage import changes

pytestmark = pytest.mark.spark

CONFIG = """
name: tv
sources:
  orders:
    path: data/orders*.csv
    columns: {order_id: INTEGER, amount: 'DECIMAL(10,2)', day: DATE}
"""
MODELS = {
    "gold/daily.sql": """
/* ---
kind: merge
unique_key: day
--- */
select day, avg(amount) as mean from bronze.orders group by day
"""
}
ORDERS = "order_id,amount,day\n1,0.10,2026-01-01\n2,0.19,2026-01-01\n"


def _plan(project: Project) -> tuple[str, str | None]:
    entry = next(e for e in project.plan().entries if e.node == "gold.daily")
    return entry.action, entry.why


def test_a_table_built_with_another_spark_translation_is_rebuilt(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path, CONFIG + "engine: {type: spark}\n", MODELS, {"data/orders1.csv": ORDERS}
    )
    with monkeypatch.context() as m:
        m.setattr(record, "SPARK_TRANSLATION", 0)  # built by an older medallion
        assert Project.load(root).run(trigger="test").ok
    project = Project.load(root)
    assert _plan(project) == ("rebuild", "Spark's translation of its SQL changed")
    result = project.run(trigger="test")
    assert result.ok and result.step("gold.daily").status == "success"
    built = changes.last_build(project.catalog.path("gold.daily"))
    assert built is not None and built[record.TRANSLATION_KEY] == "1"
    assert _plan(project)[0] == "up to date"


def test_a_duckdb_build_records_no_translation_and_stays_up_to_date(tmp_path: Path) -> None:
    project = Project.load(write_project(tmp_path, CONFIG, MODELS, {"data/orders1.csv": ORDERS}))
    assert project.run(trigger="test").ok
    built = changes.last_build(project.catalog.path("gold.daily"))
    assert built is not None and record.TRANSLATION_KEY not in built
    assert _plan(project)[0] == "up to date"
