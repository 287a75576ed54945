"""The rows of incremental models and of expectations stay on Spark's executors: `medallion run`
on Spark with `spark.driver.maxResultSize` far below the size of the tables' rows builds an
append, a merge with a quarantine expectation, an incremental_by_time model and an scd2 model,
first run and an incremental run with updates, deletes and new keys, while a Python model that
collects a table's rows to the driver in the same run fails on that limit: the limit is real,
and only the driver path hits it.

`medallion run` in a child process: the driver's limit is a setting of a new JVM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import write_project

from medallion.project import Project

pytestmark = pytest.mark.spark

ROWS = 40_000
CONFIG = """
name: big
engine:
  type: spark
  master: local[1]
  conf:
    spark.driver.maxResultSize: 1m
    spark.sql.shuffle.partitions: 1
    spark.ui.enabled: false
sources:
  orders:
    path: data/orders*.csv
    columns: {order_id: BIGINT, amount: 'DECIMAL(10,2)', day: DATE, note: VARCHAR}
"""
MODELS = {
    "silver/orders.sql": """
        /* ---
        kind: merge
        unique_key: order_id
        delete_when: amount is null
        expectations:
          not_test: {expect: "note not like 'test%'", action: quarantine}
        --- */
        select order_id, amount, day, note, _ingested_at from bronze.orders
    """,
    "silver/all_orders.sql": """
        /* ---
        kind: append
        --- */
        select order_id, amount, day, note from bronze.orders
    """,
    "gold/daily.sql": """
        /* ---
        kind: incremental_by_time
        time_column: day
        incremental_inputs: [silver.orders]
        --- */
        select day, count(*) as orders, sum(amount) as revenue, max(note) as note
        from silver.orders group by day
    """,
    "gold/history.sql": """
        /* ---
        kind: scd2
        unique_key: order_id
        incremental_inputs: [silver.orders]
        --- */
        select order_id, amount, note from silver.orders
    """,
    # the control: a model of its own brings every row to the driver (toArrow)
    "gold/on_driver.py": '''"""---
depends_on: [silver.all_orders]
"""


def model(ctx):
    import pyarrow as pa

    return pa.table({"rows": [ctx.table("silver.all_orders").toArrow().num_rows]})
''',
}
NOTE = "x" * 80


def _orders(ids: range, day: str, amount: str) -> str:
    lines = ["order_id,amount,day,note"]
    for i in ids:
        note = f"test {NOTE}" if i % 1000 == 7 else f"{NOTE} {i}"
        lines.append(f"{i},{amount},{day},{note}")
    return "\n".join(lines) + "\n"


def _run(root: Path) -> dict[str, dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", "run", "--json"],
        cwd=root,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "{" in proc.stdout, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.index("{") :])
    return {s["node"]: s for s in out["steps"]}


def test_incremental_rows_never_collected_to_the_driver(tmp_path: Path) -> None:
    first = (
        _orders(range(ROWS // 2), "2026-01-01", "1.50")
        + _orders(range(ROWS // 2, ROWS), "2026-01-02", "2.50").split("\n", 1)[1]
    )
    root = write_project(tmp_path / "p", CONFIG, MODELS, {"data/orders1.csv": first})
    for day in (1, 2):
        if day == 2:  # an update of every 10th order, a few deletes, new orders
            (root / "data/orders2.csv").write_text(
                _orders(range(0, ROWS, 10), "2026-01-02", "3.00")
                + _orders(range(ROWS, ROWS + 5000), "2026-01-03", "1.00").split("\n", 1)[1]
                + "5,,2026-01-01,gone\n"
            )
        steps = _run(root)
        for node in ("silver.orders", "silver.all_orders", "gold.daily", "gold.history"):
            assert steps[node]["status"] == "success", (day, node, steps[node])
        # the control: the driver path hits the limit
        assert steps["gold.on_driver"]["status"] == "failed"
        assert "maxResultSize" in str(steps["gold.on_driver"]["error"])
    # every 10th order changed its amount (none of them quarantined): a new version each; the
    # new orders but the 5 quarantined ones are new keys
    assert steps["gold.history"]["details"]["scd2"]["changed"] == ROWS // 10
    assert steps["gold.history"]["details"]["scd2"]["new_keys"] == 4995

    project = Project.load(root)
    project.workspace.use_engine("duckdb")
    counts = project.query(
        "select (select count(*) from silver.orders) o,"
        " (select count(*) from silver.all_orders) a,"
        " (select count(*) from silver.orders__quarantine) q,"
        " (select sum(orders) from gold.daily) d,"
        " (select count(*) from gold.history) h,"
        " (select count(*) from gold.history where is_current) c"
    ).to_pylist()[0]
    test_rows = len([i for i in range(ROWS + 5000) if i % 1000 == 7])
    assert counts["o"] == ROWS + 5000 - test_rows - 1  # the quarantined ones, one deleted
    assert counts["a"] == ROWS + ROWS // 10 + 5000 + 1
    assert counts["q"] == test_rows
    assert counts["d"] == counts["o"]
    # scd2 keeps a deleted key's last version current (the deleted order 5)
    assert counts["c"] == counts["o"] + 1
    assert counts["h"] == counts["c"] + ROWS // 10
    updated = project.query("select count(*) n from silver.orders where amount = 3").to_pylist()
    assert updated == [{"n": ROWS // 10}]
    assert project.verify(5).ok
