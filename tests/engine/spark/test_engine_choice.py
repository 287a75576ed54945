"""Choosing the engine: `engine:` in medallion.yml, `--engine` on run/test/plan, and the messages
when Spark cannot be used (no Java, a Spark setting without `type: spark`, a model Spark cannot
run). None of these start Spark."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

from medallion.config.schema import EngineConfig
from medallion.errors import ConfigError
from medallion.project import Project

CONFIG = """
name: s
sources:
  orders: {path: data/orders.csv}
"""
FILES = {"data/orders.csv": "order_id,region\n1,north\n"}
MODELS = {
    "silver/o.sql": """
        /* ---
        kind: table
        --- */
        select region, count(*) as n
        from bronze.orders
        group by region
        order by all
    """
}


def test_the_engine_is_duckdb_unless_the_project_says_spark(tmp_path: Path) -> None:
    assert EngineConfig().type == "duckdb"
    spark = EngineConfig(type="spark", master="local[2]", conf={"spark.sql.shuffle.partitions": 4})
    assert (spark.master, spark.conf) == ("local[2]", {"spark.sql.shuffle.partitions": 4})
    write_project(tmp_path / "p", CONFIG + "engine: {master: 'spark://h:7077'}\n", files=FILES)
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path / "p")
    assert "engine master is a Spark setting: add `type: spark`" in str(err.value)


def test_engine_flag_on_run_test_and_plan(tmp_path: Path) -> None:
    for command in ("run", "test", "plan"):
        out = medallion(command, "--help", cwd=tmp_path, check=True).stdout
        assert "--engine [duckdb|spark]" in out


def test_a_model_spark_cannot_run_is_refused_before_anything_runs(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", CONFIG, MODELS, FILES)
    proc = medallion("plan", "--engine", "spark", cwd=root)
    assert proc.returncode != 0
    assert "cannot run on Spark" in proc.stderr
    assert "o.sql:7" in proc.stderr and "ORDER BY ALL" in proc.stderr
    assert "--engine duckdb" in proc.stderr  # what to do
    assert medallion("plan", cwd=root).returncode == 0  # DuckDB runs it
    proc = medallion("run", "--engine", "spark", cwd=root)
    assert proc.returncode != 0 and "ORDER BY ALL" in proc.stderr
    assert not (root / "lakehouse").exists() or not any((root / "lakehouse").rglob("_delta_log"))


def test_without_java_spark_says_how_to_install_it(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", CONFIG + "engine: {type: spark}\n", files=FILES)
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty)
    proc = medallion("run", cwd=root, env=env)
    assert proc.returncode != 0
    assert "engine: spark needs Java, which was not found" in proc.stderr
    assert "openjdk-17-jre-headless" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sys.executable  # the CLI itself ran (by its absolute path)


def test_a_persons_queries_run_on_duckdb_on_a_spark_project(tmp_path: Path) -> None:
    """`query`, the SQL endpoint, the HTTP API and the UI read through DuckDB whatever builds the
    tables: their allowlist is DuckDB's SQL, and Spark's reflect()/java_method() would read the
    server's environment (secrets included). No Spark session starts."""
    root = write_project(tmp_path / "p", CONFIG + "engine: {type: spark}\n", files=FILES)
    project = Project.load(root)
    assert project.config.engine.type == "spark"
    engine = project.read_engine()
    try:
        assert engine.dialect == "duckdb"
    finally:
        engine.close()
    # and the governed read path uses it: reflect() is no function DuckDB knows
    os.environ["MEDALLION_REVIEW_SECRET"] = "s3cr3t"
    try:
        out = medallion(
            "query",
            "select reflect('java.lang.System', 'getenv', 'MEDALLION_REVIEW_SECRET') as k",
            cwd=root,
        )
    finally:
        del os.environ["MEDALLION_REVIEW_SECRET"]
    assert out.returncode != 0 and "s3cr3t" not in out.stdout + out.stderr


def test_spark_on_a_lakehouse_on_object_storage_is_refused(tmp_path: Path) -> None:
    """The Spark engine reads and writes tables as local paths: a store URL in `storage:` is one
    clear message before anything runs, not "the data files were removed by vacuum"."""
    config = CONFIG + "storage: s3://lake/shop\nengine: {type: spark}\n"
    root = write_project(tmp_path / "p", config, files=FILES)
    out = medallion("run", cwd=root, env={**os.environ, "AWS_REGION": "us-east-1"})
    assert out.returncode == 1
    assert "engine: spark does not run on a lakehouse on object storage yet" in out.stderr
