"""The throwaway Spark standalone cluster (medallion.devservers.sparkcluster): a master and one
worker on 127.0.0.1 from the pyspark wheel; an application connected to it runs its tasks on the
worker's executor, as Spark's own status (the master's JSON, the application's REST API) shows,
and a template's compiled SQL gives DuckDB's rows there; stop() ends both daemons, also after a
start that failed.

The application's driver is a child process: a process holds one SparkContext, and the test
session may already hold the local one of the `spark` fixture (getOrCreate would return it).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from medallion.devservers._server import free_port, pid_alive
from medallion.devservers.sparkcluster import SparkCluster, SparkClusterError
from medallion.project import Project

pytestmark = pytest.mark.spark

#: the driver: a small job, then every query of plan.json (the compiled SQL of a template's gold
#: models over its tables as Parquet), each result written as an Arrow file; what the
#: application's REST API says of its executors once the tasks are counted; one JSON line out
DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    import pyarrow.feather as feather
    from pyspark.sql import SparkSession

    from medallion.devservers.sparkcluster import SparkCluster

    master, ui_port, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    spark = (
        SparkSession.builder.master(master)
        .appName("medallion-sparkcluster-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", ui_port)
        .config("spark.port.maxRetries", "0")
        .config("spark.executor.memory", "512m")
        .config("spark.cores.max", "1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    context = spark.sparkContext
    out = {"app_id": context.applicationId}
    out["sum"] = spark.range(0, 100_000, numPartitions=4).selectExpr("sum(id) s").first()["s"]
    plan = json.loads((work / "plan.json").read_text())
    for node, folder in plan["tables"].items():
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {node.split('.')[0]}")
        spark.sql(f"CREATE TABLE {node} USING parquet LOCATION '{folder}'")
    for fqn, sql in plan["queries"].items():
        feather.write_feather(spark.sql(sql).toArrow(), work / f"{fqn}.arrow")
    # the listener that counts tasks runs behind the jobs: wait until the last one is counted
    deadline = time.monotonic() + 30
    while True:
        executors = SparkCluster.executors(context.uiWebUrl, context.applicationId)
        done = sum(e["completedTasks"] + e["failedTasks"] for e in executors)
        if done >= plan["at_least_tasks"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out["executors"] = executors
    spark.stop()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The ecommerce template generated small and built by medallion (DuckDB)."""
    from medallion.templates import get_template

    root = tmp_path_factory.mktemp("ecommerce")
    template = get_template("ecommerce-events")
    template.scaffold(root)
    template.generate(root, rows=300)
    project = Project.load(root)
    assert project.run().ok
    return project


@pytest.fixture(scope="module")
def on_cluster(
    spark_cluster: SparkCluster, built: Project, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One application of this module on the cluster (DRIVER): its report, and the rows of each
    gold model's compiled SQL (`rows`: fqn -> Arrow table)."""
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    work = tmp_path_factory.mktemp("driver")
    tables = {}
    for node in built.graph.order:  # every input as DuckDB built it
        folder = work / "parquet" / node
        folder.mkdir(parents=True)
        pq.write_table(built.query(f"select * from {node}"), folder / "part.parquet")
        tables[node] = str(folder)
    out = built.compile("spark").output
    queries = {}
    for fqn in (m for m in built.graph.order if m.startswith("gold.")):
        layer, name = fqn.split(".")
        queries[fqn] = (out / layer / f"{name}.sql").read_text().rstrip().removesuffix(";")
    plan = {"tables": tables, "queries": queries, "at_least_tasks": 4 + len(queries)}
    (work / "plan.json").write_text(json.dumps(plan))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, spark_cluster.master_url, str(free_port()), str(work)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["rows"] = {fqn: feather.read_table(work / f"{fqn}.arrow") for fqn in queries}
    return report


def test_tasks_run_on_the_workers_executor(
    spark_cluster: SparkCluster, on_cluster: dict[str, Any]
) -> None:
    status = spark_cluster.status()
    assert status["status"] == "ALIVE"
    (worker,) = [w for w in status["workers"] if w["state"] == "ALIVE"]
    assert (worker["host"], worker["cores"]) == ("127.0.0.1", 1)
    assert on_cluster["sum"] == 100_000 * 99_999 // 2
    # the master ran the application with the worker's one core
    apps = {a["id"]: a for a in status["activeapps"] + status["completedapps"]}
    assert apps[on_cluster["app_id"]]["cores"] == 1
    executors = {e["id"]: e for e in on_cluster["executors"]}
    remote = [e for i, e in executors.items() if i != "driver"]
    assert len(remote) == 1, executors
    (executor,) = remote
    assert executor["hostPort"].startswith("127.0.0.1:")
    # the range's 4 partitions and every query's tasks ran there, none in the driver
    assert executor["completedTasks"] >= 4 + len(on_cluster["rows"])
    assert executor["failedTasks"] == 0
    assert executors["driver"]["completedTasks"] == 0


def test_a_templates_compiled_sql_runs_on_the_cluster(
    built: Project, on_cluster: dict[str, Any]
) -> None:
    assert len(on_cluster["rows"]) == 4
    for fqn, got in on_cluster["rows"].items():
        model = built.models[fqn]
        assert model.tree is not None
        want = built.query(model.tree.sql("duckdb"))
        assert got.column_names == want.column_names, fqn
        assert sorted(map(repr, got.to_pylist())) == sorted(map(repr, want.to_pylist())), fqn


def test_a_taken_port_fails_the_start_and_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = SparkCluster(tmp_path, port=taken.getsockname()[1], timeout=30)
        with pytest.raises(SparkClusterError) as failure:
            cluster.start()
    message = str(failure.value)
    assert "the master did not start" in message and "master.log" in message, message
    assert cluster.pid is None and cluster._worker is None
    assert cluster._master is not None and not pid_alive(cluster._master.pid)


def test_missing_java_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    cluster = SparkCluster(tmp_path)
    with pytest.raises(SparkClusterError, match="openjdk-17-jre-headless"):
        cluster.start()
    assert cluster.pid is None


def test_stop_ends_both_daemons(tmp_path: Path) -> None:
    cluster = SparkCluster(tmp_path, timeout=60).start()
    try:
        master, worker = cluster._master, cluster._worker
        assert master is not None and worker is not None
        assert len(cluster.alive_workers()) == 1
        assert (tmp_path / "master.log").stat().st_size > 0
    finally:
        cluster.cleanup()
    assert not pid_alive(master.pid) and not pid_alive(worker.pid)
