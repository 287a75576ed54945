"""A merge on Spark counts and rewrites as delta-rs's MERGE on DuckDB does: a recomputed row
equal to the table's is neither counted `updated` nor rewritten (a file holding only such rows
is kept as it is), so the run log's `merge +i ~u -d` is the same on both engines; when every
recomputed row is unchanged nothing is committed.

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
name: counts
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: 'DECIMAL(10,2)', region: VARCHAR}
"""
DAY1 = "id,amount,region\n1,10,west\n2,20,west\n3,30,west\n4,40,north\n5,50,north\n6,60,south\n"
DAY2 = (
    "id,amount,region\n"
    "1,10,west\n2,20,west\n3,30,west\n"  # sent again, unchanged
    "4,44,north\n"  # changed
    "6,,south\n"  # deleted upstream: gone here
    "7,70,east\n"  # new
)
DAY3 = "id,amount,region\n1,10,west\n2,20,west\n"  # only unchanged rows
MODELS = {
    # every row sent again is rewritten here (its _ingested_at is new)
    "silver/latest.sql": """
        /* ---
        kind: merge
        unique_key: id
        delete_when: amount is null
        --- */
        select id, amount, region, _ingested_at from bronze.orders
    """,
    "gold/orders.sql": """
        /* ---
        kind: merge
        unique_key: id
        incremental_inputs: [silver.latest]
        partition_by: [region]
        --- */
        select id, amount, region from silver.latest
    """,
}


def _log(path: Path, version: int) -> list[dict[str, Any]]:
    text = (path / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line]


def test_unchanged_rows_are_not_updated_on_either_engine(spark: Any, tmp_path: Path) -> None:
    on_spark = write_project(
        tmp_path / "spark", CONFIG + "engine: {type: spark}\n", MODELS, {"data/orders1.csv": DAY1}
    )
    on_duckdb = write_project(tmp_path / "duckdb", CONFIG, MODELS, {"data/orders1.csv": DAY1})
    sp, dk = Project.load(on_spark), Project.load(on_duckdb)
    steps = []
    for day, text in ((1, DAY1), (2, DAY2), (3, DAY3)):
        for root in (on_spark, on_duckdb):
            (root / f"data/orders{day}.csv").write_text(text)
        mine, theirs = sp.run(trigger="test"), dk.run(trigger="test")
        assert mine.ok and theirs.ok, (mine.error, theirs.error)
        assert table_digests(sp.workspace.storage_root, []) == table_digests(
            dk.workspace.storage_root, []
        )
        a, b = mine.step("gold.orders"), theirs.step("gold.orders")
        assert a.details.get("merge") == b.details.get("merge"), day
        # (the rows recomputed may differ: Spark rewrites whole files of silver.latest, so
        # its change feed names more keys; they are found equal and not counted)
        assert a.rows_in == a.rows_written + a.rows_dropped, day
        assert (a.delta_version is None) == (b.delta_version is None), day
        steps.append(a)

    # day 2: 4 updated, 7 inserted, 6 gone; 1-3 recomputed and equal
    assert steps[1].details["merge"] == {"inserted": 1, "updated": 1, "deleted": 1}
    # only the partitions holding a changed or gone key are rewritten: west (1-3) is kept
    path = sp.catalog.path("gold.orders")
    log = _log(path, steps[1].delta_version)
    assert {a["remove"]["partitionValues"]["region"] for a in log if "remove" in a} == {
        "north",
        "south",
    }
    # day 3: every recomputed row equal: nothing committed but the record of what was read
    assert steps[2].details["merge"] == {"inserted": 0, "updated": 0, "deleted": 0}
    assert steps[2].note == "recomputed rows unchanged"
    assert steps[2].rows_written == 0 and steps[2].rows_dropped >= 2
    assert tables.info(path).version == steps[1].delta_version + 1
    assert not [a for a in _log(path, steps[1].delta_version + 1) if "add" in a or "remove" in a]
    assert sp.verify(5).ok


def test_checkpointed_rows_are_released_after_each_step(spark: Any, tmp_path: Path) -> None:
    """The rows a merge checkpoints for a step hold Spark storage for that step only: after
    runs of merges (whose model rows are checkpointed: they carry the time of ingestion and a
    deletion rule), no RDD the runs persisted is left in the process's SparkContext."""
    root = write_project(
        tmp_path, CONFIG + "engine: {type: spark}\n", MODELS, {"data/orders1.csv": DAY1}
    )
    project = Project.load(root)
    persisted = spark.sparkContext._jsc.getPersistentRDDs
    before = set(persisted().keySet())
    for day, text in ((1, DAY1), (2, DAY2)):
        (root / f"data/orders{day}.csv").write_text(text)
        result = project.run(trigger="test")
        assert result.ok, result.error
    assert set(persisted().keySet()) == before
