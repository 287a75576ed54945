"""The throwaway Spark standalone cluster (medallion.devservers.sparkcluster): a master and one
worker on 127.0.0.1 from the pyspark wheel; a SparkSession connected to it runs its tasks on the
worker's executor, as Spark's own status (the master's JSON, the application's REST API) shows;
stop() ends both daemons and their executors, also after a start that failed."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medallion.devservers._server import free_port, pid_alive
from medallion.devservers.sparkcluster import SparkCluster, SparkClusterError

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def session(spark_cluster: SparkCluster) -> Iterator[Any]:
    """A SparkSession of this module on the cluster (its UI on a free port of 127.0.0.1: the
    application's REST API is served there)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(spark_cluster.master_url)
        .appName("medallion-sparkcluster-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", str(free_port()))
        .config("spark.executor.memory", "512m")
        .config("spark.cores.max", "1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


def test_tasks_run_on_the_workers_executor(spark_cluster: SparkCluster, session: Any) -> None:
    status = spark_cluster.status()
    assert status["status"] == "ALIVE"
    (worker,) = [w for w in status["workers"] if w["state"] == "ALIVE"]
    assert (worker["host"], worker["cores"]) == ("127.0.0.1", 1)

    total = session.range(0, 100_000, numPartitions=4).selectExpr("sum(id) as s").first()["s"]
    assert total == 100_000 * 99_999 // 2

    context = session.sparkContext
    app_id = context.applicationId
    # the master granted the application the worker's core
    apps = {a["id"]: a for a in spark_cluster.status()["activeapps"]}
    assert apps[app_id]["cores"] == 1
    executors = {e["id"]: e for e in spark_cluster.executors(context.uiWebUrl, app_id)}
    remote = [e for i, e in executors.items() if i != "driver"]
    assert len(remote) == 1, executors
    (executor,) = remote
    assert executor["hostPort"].startswith("127.0.0.1:")
    # the 4 partitions of the range (and the final aggregate) ran there, not in the driver
    assert executor["completedTasks"] >= 4 and executor["failedTasks"] == 0
    assert executors["driver"]["completedTasks"] == 0


def test_a_templates_compiled_sql_runs_on_the_cluster(
    spark_cluster: SparkCluster, session: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The ecommerce template built small by medallion (DuckDB); its tables as Parquet; every gold
    model's compiled Spark SQL run on the cluster gives DuckDB's rows, and the executor's task
    count grew by the tasks those queries ran."""
    import pyarrow.parquet as pq

    from medallion.project import Project
    from medallion.templates import get_template

    root = tmp_path_factory.mktemp("ecommerce")
    template = get_template("ecommerce-events")
    template.scaffold(root)
    template.generate(root, rows=300)
    project = Project.load(root)
    assert project.run().ok
    context = session.sparkContext

    def executor_tasks() -> int:
        found = spark_cluster.executors(context.uiWebUrl, context.applicationId)
        return sum(e["completedTasks"] for e in found if e["id"] != "driver")

    before = executor_tasks()
    tables = root / "parquet"
    for node in project.graph.order:  # every input as DuckDB built it
        layer, _ = node.split(".")
        (tables / node).mkdir(parents=True)
        pq.write_table(project.query(f"select * from {node}"), tables / node / "part.parquet")
        session.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        session.sql(f"DROP TABLE IF EXISTS {node}")
        session.sql(f"CREATE TABLE {node} USING parquet LOCATION '{tables / node}'")
    out = project.compile("spark").output
    for fqn in [m for m in project.graph.order if m.startswith("gold.")]:
        layer, name = fqn.split(".")
        sql = (out / layer / f"{name}.sql").read_text().rstrip().removesuffix(";")
        got = session.sql(sql).toArrow()
        model = project.models[fqn]
        assert model.tree is not None
        want = project.query(model.tree.sql("duckdb"))
        key = repr
        assert sorted(map(key, got.to_pylist())) == sorted(map(key, want.to_pylist())), fqn
    assert executor_tasks() > before


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
