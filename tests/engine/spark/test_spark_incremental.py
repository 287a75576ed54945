"""Incremental kinds written by Spark's executors: `append` adds Spark's Parquet files with add
actions only; `incremental_by_time` rewrites only the files holding a replaced period (remove +
add actions in one delta-rs transaction); both equal the same project built on DuckDB, row for
row, after a first run and after an incremental run, and `verify` passes.

In-process on the session's one local Spark (the `spark` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project
from tests.engine.spark.tablediff import table_digests

from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.spark

CONFIG = """
name: inc
sources:
  orders:
    path: data/orders*.csv
    columns: {order_id: INTEGER, amount: 'DECIMAL(10,2)', day: DATE, region: VARCHAR}
"""
DAY1 = (
    "order_id,amount,day,region\n"
    "1,10.50,2026-01-01,north\n"
    "2,20.00,2026-01-01,south\n"
    "3,5.25,2026-01-02,north\n"
    "4,,2026-01-02,east west\n"  # deleted (delete_when) before it was ever inserted
    "5,7.00,2026-01-03,south\n"
    "8,3.00,2026-01-03,west\n"
    "9,4.00,2026-01-01,east\n"
)
DAY2 = (
    "order_id,amount,day,region\n"
    "6,1.00,2026-01-02,south\n"  # a period that exists: replaced; a new key
    "7,2.00,2026-01-04,north\n"  # a new period; a new key
    "3,9.99,2026-01-02,north\n"  # an update
    "5,,2026-01-03,south\n"  # a delete
    "8,,2026-01-03,west\n"  # a delete: region west is gone from gold.regions
    "2,25.00,2026-01-04,south\n"  # quarantined again: replaces its quarantined row of day 1
)
MODELS = {
    "silver/orders.sql": """
        /* ---
        kind: append
        expectations:
          known_region: {expect: "region <> 'west'", action: quarantine}
        --- */
        select order_id, amount, day, region from bronze.orders
    """,
    "silver/latest.sql": """
        /* ---
        kind: merge
        unique_key: order_id
        delete_when: amount is null
        partition_by: [region]
        expectations:
          small: {expect: amount is null or amount < 15, action: quarantine}
          known_order: {expect: order_id > 0, action: drop}
        --- */
        select order_id, amount, day, region, _ingested_at from bronze.orders
    """,
    "gold/regions.sql": """
        /* ---
        kind: merge
        unique_key: region
        incremental_inputs: [silver.latest]
        --- */
        select region, count(*) as orders, sum(amount) as revenue from silver.latest
        group by region
    """,
    "gold/daily.sql": """
        /* ---
        kind: incremental_by_time
        time_column: day
        expectations:
          sold: {expect: revenue > 0, action: warn}
        --- */
        select day, count(*) as orders, sum(amount) as revenue from silver.orders group by day
    """,
    "gold/daily_regions.sql": """
        /* ---
        kind: incremental_by_time
        time_column: day
        partition_by: [region]
        --- */
        select day, region, count(*) as orders from silver.orders group by day, region
    """,
}


def _log(path: Path, version: int) -> list[dict[str, Any]]:
    text = (path / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line]


def _run(project: Project) -> Any:
    result = project.run(trigger="test")
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    return result


def test_append_and_by_time_written_by_executors_equal_duckdb(spark: Any, tmp_path: Path) -> None:
    on_spark = write_project(
        tmp_path / "spark", CONFIG + "engine: {type: spark}\n", MODELS, {"data/orders1.csv": DAY1}
    )
    on_duckdb = write_project(tmp_path / "duckdb", CONFIG, MODELS, {"data/orders1.csv": DAY1})
    sp, dk = Project.load(on_spark), Project.load(on_duckdb)
    for day in (1, 2):
        if day == 2:
            for root in (on_spark, on_duckdb):
                (root / "data/orders2.csv").write_text(DAY2)
        result = _run(sp)
        _run(dk)
        a = table_digests(sp.workspace.storage_root, [])
        b = table_digests(dk.workspace.storage_root, [])
        assert a == b and len(a) == 8

    # the append: Spark's files added, nothing removed, the increment's record committed
    silver = sp.catalog.path("silver.orders")
    log = _log(silver, 1)
    adds = [a["add"] for a in log if "add" in a]
    assert adds and all(a["path"].startswith("spark-") for a in adds)
    assert not [a for a in log if "remove" in a or "cdc" in a]
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == 5
    assert [a["txn"]["version"] for a in log if "txn" in a] == [2]
    step = result.step("silver.orders")
    assert (step.rows_in, step.rows_written, step.rows_quarantined) == (6, 5, 1)
    assert step.delta_version == 1
    # its quarantined row added by Spark's executors too, after the model's commit
    assert step.details["quarantine_version"] == 1
    log = _log(sp.catalog.path("silver.orders__quarantine"), 1)
    assert [a["add"]["path"].split("-")[0] for a in log if "add" in a] == ["spark"]
    assert not [a for a in log if "remove" in a]

    # by time: only the file holding a replaced period is rewritten, in one commit
    daily = sp.catalog.path("gold.daily")
    log = _log(daily, 1)
    removes = [a["remove"] for a in log if "remove" in a]
    adds = [a["add"] for a in log if "add" in a]
    assert len(removes) == 1 and removes[0]["dataChange"] and removes[0]["deletionTimestamp"]
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == 4  # 3 new + 1 kept
    assert [a["txn"]["version"] for a in log if "txn" in a] == [2]
    info = next(a["commitInfo"] for a in log if "commitInfo" in a)
    assert info["medallion.model"] == "gold.daily" and info[tables.RUN_ID_KEY] == result.run_id
    step = result.step("gold.daily")
    assert (step.rows_written, step.delta_version) == (3, 1)  # the three periods recomputed

    # partitioned by region: only the partitions holding a replaced day's rows are touched
    assert _removed(sp.catalog.path("gold.daily_regions"), 1) == {"north", "east west", "south"}

    # the merge: the files holding a touched key removed, the rest kept as they are (east)
    latest = sp.catalog.path("silver.latest")
    assert _removed(latest, 1) == {"north", "south", "west"}
    log = _log(latest, 1)
    assert [a["txn"]["version"] for a in log if "txn" in a] == [2]
    step = result.step("silver.latest")
    assert step.details["merge"] == {"inserted": 2, "updated": 1, "deleted": 2}
    # key 2 recomputed: both its rows quarantined again, its row of day 1 replaced (the
    # quarantine's file holding it removed), not repeated
    assert step.rows_quarantined == 2
    log = _log(sp.catalog.path("silver.latest__quarantine"), 1)
    assert len([a for a in log if "remove" in a]) == 1
    q = sp.query("select order_id, amount from silver.latest__quarantine").to_pylist()
    assert sorted((r["order_id"], float(r["amount"])) for r in q) == [(2, 20.0), (2, 25.0)]
    # a key no longer produced (region west) is deleted downstream
    regions = sp.query("select region from gold.regions order by region").to_pylist()
    assert [r["region"] for r in regions] == ["east", "north", "south"]
    assert sp.verify(5).ok


def _removed(path: Path, version: int) -> set[str]:
    """The partition values (region) of the files a commit removed."""
    return {a["remove"]["partitionValues"]["region"] for a in _log(path, version) if "remove" in a}
