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
""",
    "silver/hist.sql": """
/* ---
kind: scd2
unique_key: order_id
track: [amount]
--- */
select order_id, amount from bronze.orders
""",
}
ORDERS = "order_id,amount,day\n1,0.10,2026-01-01\n2,0.19,2026-01-01\n"


def _plan(project: Project, node: str = "gold.daily") -> tuple[str, str | None]:
    entry = next(e for e in project.plan().entries if e.node == node)
    return entry.action, entry.why


@pytest.mark.parametrize("older", ["another version", "none recorded"])
def test_a_table_built_with_another_spark_translation_is_rebuilt(
    older: str, spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path, CONFIG + "engine: {type: spark}\n", MODELS, {"data/orders1.csv": ORDERS}
    )
    with monkeypatch.context() as m:  # built by an older medallion
        if older == "another version":
            m.setattr(record, "SPARK_TRANSLATION", 0)
        else:
            m.setattr(record, "_translated", lambda model, engine: False)
        assert Project.load(root).run(trigger="test").ok
    project = Project.load(root)
    changed = "Spark's translation of its SQL changed"
    assert _plan(project) == ("rebuild", changed)
    # the history only an scd2 table keeps: refused, as for any rebuild
    action, why = _plan(project, "silver.hist")
    assert action == "refused" and why is not None and why.startswith(changed), why
    result = project.run(trigger="test", select=["daily"])
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
