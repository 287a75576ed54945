"""A template run on a real Spark cluster: `engine: {type: spark, master: spark://127.0.0.1:PORT}`
against the session's standalone master and worker (the `spark_cluster` fixture), `medallion run`
as a user runs it (its own process: the driver). Spark's own records show the tasks ran on the
worker's executor — the application's event log (every finished task, with its executor) and the
master's JSON (the finished application) — and every table equals the same run on DuckDB."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import medallion
from tests.engine.spark.tablediff import table_digests

from medallion.templates import get_template

pytestmark = pytest.mark.spark


def _on_cluster(master: str, events: Path) -> str:
    conf = {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.executor.memory": "512m",
        "spark.cores.max": 1,
        "spark.sql.shuffle.partitions": 2,
        "spark.ui.enabled": False,
        "spark.eventLog.enabled": True,
        "spark.eventLog.dir": events.as_uri(),
        "spark.eventLog.compress": False,
    }
    lines = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in conf.items())
    return f"engine:\n  type: spark\n  master: {master}\n  conf:\n{lines}\n"


def test_retail_on_a_spark_cluster(spark_cluster: Any, tmp_path: Path) -> None:
    template = get_template("retail")
    on_cluster, on_duckdb = tmp_path / "cluster", tmp_path / "duckdb"
    for root in (on_cluster, on_duckdb):
        template.scaffold(root)
    template.generate(on_duckdb, rows=300)
    shutil.copytree(on_duckdb / "data", on_cluster / "data", dirs_exist_ok=True)
    events = tmp_path / "events"
    events.mkdir()
    config = on_cluster / "medallion.yml"
    config.write_text(
        config.read_text(encoding="utf-8") + _on_cluster(spark_cluster.master_url, events),
        encoding="utf-8",
    )

    windows: dict[str, list[tuple[datetime, datetime]]] = {}
    for name, root in (("cluster", on_cluster), ("duckdb", on_duckdb)):
        start = datetime.now(UTC)
        medallion("run", cwd=root, check=True, timeout=900)
        windows[name] = [(start, datetime.now(UTC))]

    # the event log of the application: its tasks, each with the executor that ran it
    # (Spark 4 writes it rolled: eventlog_v2_<app>/events_<n>_<app>)
    logs = sorted(p for p in events.rglob("events_*") if p.is_file())
    assert logs
    records = [
        json.loads(line) for log in logs for line in log.read_text().splitlines() if line.strip()
    ]
    app = next(r for r in records if r["Event"] == "SparkListenerApplicationStart")
    executors = {
        r["Executor ID"]: r["Executor Info"]["Host"]
        for r in records
        if r["Event"] == "SparkListenerExecutorAdded"
    }
    ran_on = [
        r["Task Info"]["Executor ID"] for r in records if r["Event"] == "SparkListenerTaskEnd"
    ]
    assert executors and "driver" not in executors
    assert len(ran_on) > 20 and set(ran_on) <= set(executors)  # every task on the worker's
    assert set(executors.values()) == {"127.0.0.1"}
    # the master saw the application come and go, on its one worker
    status = spark_cluster.status()
    finished = [a for a in status.get("completedapps", []) if a["id"] == app["App ID"]]
    assert finished and finished[0]["name"] == "medallion"
    assert len(spark_cluster.alive_workers()) == 1

    # the cluster's tables are DuckDB's, row for row
    a = table_digests(on_cluster / "lakehouse", windows["cluster"])
    b = table_digests(on_duckdb / "lakehouse", windows["duckdb"])
    assert a == b and len(a) > 10
    medallion("verify", cwd=on_cluster, check=True, timeout=600)
