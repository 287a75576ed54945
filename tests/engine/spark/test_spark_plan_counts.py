"""`plan` counts the rows an incremental model's input really gained or changed, on both
engines: a merge upstream written by Spark's executors rewrites whole files (the rows it copies
are in the removed and the added files alike), one by delta-rs lists its changes in a change
feed. After `restore` of the downstream model, its next run reads the input's changes since the
build it restored: 8 rows (5 updated, 3 new), not the 43 of the rewritten file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project
from tests.engine.spark.tablediff import table_digests

from medallion.project import Project

pytestmark = pytest.mark.spark

CONFIG = """
name: counts
sources:
  orders:
    path: data/orders*.csv
    columns: {order_id: INTEGER, amount: INTEGER, region: VARCHAR}
"""
MODELS = {
    "silver/latest.sql": """
        /* ---
        kind: merge
        unique_key: order_id
        order_by: _ingested_at
        --- */
        select order_id, amount, region, _ingested_at from bronze.orders
    """,
    "gold/regions.sql": """
        /* ---
        kind: merge
        unique_key: region
        incremental_inputs: [silver.latest]
        --- */
        select region, count(*) as orders, sum(amount) as amount from silver.latest
        group by region
    """,
}
REGIONS = ("north", "south", "east", "west")
DAY1 = "order_id,amount,region\n" + "".join(
    f"{i},{i * 10},{REGIONS[i % 4]}\n" for i in range(1, 41)
)
# 5 orders changed, 3 new
DAY2 = "order_id,amount,region\n" + "".join(
    f"{i},{i * 11},{REGIONS[i % 4]}\n" for i in (3, 9, 17, 22, 35, 41, 42, 43)
)


@pytest.mark.parametrize("engine", ["spark", "duckdb"])
def test_plan_counts_rows_new_or_changed_not_those_a_rewrite_copies(
    engine: str, spark: Any, tmp_path: Path
) -> None:
    config = CONFIG + ("engine: {type: spark}\n" if engine == "spark" else "")
    root = write_project(tmp_path / engine, config, MODELS, {"data/orders1.csv": DAY1})
    project = Project.load(root)
    assert project.run(trigger="test").ok
    (root / "data/orders2.csv").write_text(DAY2)
    assert project.run(trigger="test").ok
    assert project.restore("gold.regions", 0).ok

    entry = next(e for e in Project.load(root).plan().entries if e.node == "gold.regions")
    assert (entry.action, entry.new_rows) == ("incremental", 8), entry
    assert entry.why == "8 new or changed rows upstream"

    assert Project.load(root).run(trigger="test").ok
    totals = Project.load(root).query(
        "select region, orders, amount from gold.regions order by region"
    )
    rows = {r["region"]: (r["orders"], r["amount"]) for r in totals.to_pylist()}
    amounts = {i: i * 10 for i in range(1, 41)} | {
        i: i * 11 for i in (3, 9, 17, 22, 35, 41, 42, 43)
    }
    assert rows == {
        region: (
            sum(1 for i in amounts if REGIONS[i % 4] == region),
            sum(a for i, a in amounts.items() if REGIONS[i % 4] == region),
        )
        for region in REGIONS
    }
    assert len(table_digests(project.workspace.storage_root, [])) >= 3
