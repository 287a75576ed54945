"""The Spark engine on small projects: a `table` model's rows written by Spark as Parquet and
committed by delta-rs (one commit, medallion's commit info, statistics from the footers), views,
Python models, time travel, failures that leave the table as it was, tables Spark cannot read,
and what Spark cannot run refused when the models load.

Runs in-process on the session's one local Spark (the `spark` fixture): each project's engine is
a new SparkSession on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import table_versions, write_project

from medallion.errors import ModelError
from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.spark

CONFIG = """
name: s
engine: {type: spark}
sources:
  orders:
    path: data/orders*.csv
    columns: {order_id: INTEGER, amount: 'DECIMAL(10,2)', day: DATE, region: VARCHAR}
"""
ORDERS = (
    "order_id,amount,day,region\n"
    "1,10.50,2026-01-01,north\n"
    "2,20.00,2026-01-01,south\n"
    "3,5.25,2026-01-02,north\n"
    "4,,2026-01-02,east west\n"
)
MODELS = {
    "silver/daily.sql": """
        /* ---
        kind: table
        partition_by: [region]
        --- */
        select region, day, count(*) as orders, sum(amount) as revenue
        from bronze.orders group by region, day
    """,
    "gold/regions.sql": """
        /* ---
        kind: table
        --- */
        select region, sum(orders) as orders, sum(revenue) as revenue
        from silver.daily group by region
    """,
    "gold/big_regions.sql": """
        /* ---
        kind: view
        --- */
        select * from gold.regions where orders > 1
    """,
}


def _project(root: Path, models: dict[str, str] | None = None, config: str = CONFIG) -> Project:
    write_project(root, config, models or MODELS, {"data/orders.csv": ORDERS})
    return Project.load(root)


def _rows(project: Project, sql: str) -> list[dict[str, Any]]:
    return project.query(sql).to_pylist()


def test_table_models_written_by_spark_committed_by_delta_rs(spark: Any, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    result = project.run(trigger="test")
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]

    path = project.catalog.path("gold.regions")
    data = [p for p in path.rglob("*") if p.is_file() and "_delta_log" not in p.parts]
    # Spark's files, in one folder of the table not starting with `_`, nothing but Parquet
    assert data and all(p.suffix == ".parquet" for p in data)
    assert {p.relative_to(path).parts[0] for p in data} == {data[0].relative_to(path).parts[0]}
    assert data[0].relative_to(path).parts[0].startswith("spark-")
    commit = tables.history(path, 1)[0]
    assert commit[tables.RUN_ID_KEY] == result.run_id
    assert commit["medallion.model"] == "gold.regions"
    assert commit["medallion.fingerprint"]
    assert json.loads(commit["medallion.upstream"]) == {"silver.daily": 0}
    # statistics from the footers: the rows every count reads
    assert tables.info(path).rows == 3
    step = result.step("gold.regions")
    assert (step.rows_written, step.delta_version) == (3, 0)

    # read back through DuckDB (the files are plain Delta for any reader)
    duck = Project.load(project.root)
    duck.workspace.use_engine("duckdb")
    assert _rows(duck, "select region, orders, revenue from gold.regions order by region") == [
        {"region": "east west", "orders": 1, "revenue": None},
        {"region": "north", "orders": 2, "revenue": pytest.approx(15.75)},
        {"region": "south", "orders": 1, "revenue": pytest.approx(20.0)},
    ]
    # a partitioned table: partition values in the log, the folder names Spark's
    daily = project.catalog.path("silver.daily")
    assert tables.info(daily).partition_by == ["region"]
    assert _rows(duck, "select count(*) n from silver.daily where region = 'east west'") == [
        {"n": 1}
    ]
    assert _rows(duck, "select region from gold.big_regions") == [{"region": "north"}]

    # nothing new upstream: up to date, no commit; a new file: rebuilt, version 1
    again = project.run(trigger="test")
    assert again.ok and tables.info(path).version == 0
    (project.root / "data" / "orders_2.csv").write_text(
        "order_id,amount,day,region\n5,1.00,2026-01-03,south\n", encoding="utf-8"
    )
    third = project.run(trigger="test")
    assert third.ok and tables.info(path).version == 1
    # time travel on Spark: the table as version 0 had it
    on_spark = Project.load(project.root)
    engine = on_spark.workspace.new_engine()
    try:
        from medallion.engine import attach

        lh = on_spark.workspace.lakehouse
        attach.table(engine, lh, "gold.regions", 0)
        old = engine.fetch(engine.relation("select sum(orders) n from gold.regions"))
        attach.table(engine, lh, "gold.regions")
        new = engine.fetch(engine.relation("select sum(orders) n from gold.regions"))
    finally:
        engine.close()
    assert (old.column("n")[0].as_py(), new.column("n")[0].as_py()) == (4, 5)
    assert project.verify(5).ok


def test_a_failing_model_leaves_its_table_as_it_was(spark: Any, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    assert project.run(trigger="test").ok
    before = table_versions(project)
    path = project.catalog.path("gold.regions")
    folders = {p.name for p in path.iterdir()}
    broken = dict(MODELS)
    broken["gold/regions.sql"] = MODELS["gold/regions.sql"].replace(
        "sum(revenue) as revenue", "sum(revenue) as revenue, cast(region as integer) as boom"
    )
    project = _project(tmp_path / "p", broken)
    result = project.run(trigger="test", yes=True)
    assert not result.ok
    step = result.step("gold.regions")
    assert step.status == "failed" and "gold.regions" in step.error
    assert table_versions(project) == before
    assert {p.name for p in path.iterdir()} == folders  # Spark's files of the failed write: gone


def test_python_model_gets_spark_dataframes(spark: Any, tmp_path: Path) -> None:
    models = {
        **MODELS,
        "gold/doubled.py": '''
            """---
            depends_on: [gold.regions]
            """
            def model(ctx):
                df = ctx.table("gold.regions")
                assert type(df).__name__ == "DataFrame", type(df)
                return df.selectExpr("region", "orders * 2 as orders2")
        ''',
    }
    project = _project(tmp_path / "p", models)
    result = project.run(trigger="test")
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    assert _rows(project, "select orders2 from gold.doubled where region = 'north'") == [
        {"orders2": 4}
    ]


def test_what_spark_cannot_run_is_refused_when_the_models_load(tmp_path: Path) -> None:
    models = {
        "silver/daily.sql": """
            /* ---
            kind: table
            --- */
            select region,
                   count(*) as orders
            from bronze.orders
            group by region
            order by all
        """
    }
    project = _project(tmp_path / "p", models)
    with pytest.raises(ModelError) as err:
        project.workspace.validate()
    text = str(err.value)
    assert "cannot run on Spark" in text and "ORDER BY ALL" in text
    assert "daily.sql:8" in text  # the file and line of the construct
    assert not project.catalog.tables()
    duck = _project(tmp_path / "p", models)
    duck.workspace.use_engine("duckdb")
    duck.workspace.validate()  # DuckDB runs it


def test_a_table_with_deletion_vectors_is_refused(spark: Any, tmp_path: Path) -> None:
    # written by another tool: neither deltalake nor a read of the file list honours them
    from deltalake import DeltaTable, TableFeatures

    project = _project(tmp_path / "p")
    assert project.run(trigger="test", select=["bronze.orders"]).ok
    DeltaTable(str(project.catalog.path("bronze.orders"))).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
    )
    before = table_versions(project)
    result = project.run(trigger="test")
    assert not result.ok
    error = result.step("silver.daily").error
    assert "bronze.orders cannot be read on Spark" in error and "deletion vectors" in error
    assert "REORG TABLE" in error  # what to do, in medallion's words
    assert table_versions(project) == before


def test_a_changed_partition_by_keeps_every_column(spark: Any, tmp_path: Path) -> None:
    """delta-rs keeps a table's partition columns on a commit of Spark's files: a model whose
    partition_by changes (either way) is written through the streaming writer instead, and no
    column reads NULL."""
    project = _project(tmp_path / "p")
    assert project.run(trigger="test").ok
    expected = _rows(project, "select * from silver.daily order by region, day")
    assert all(r["region"] is not None for r in expected)
    unpartitioned = MODELS["silver/daily.sql"].replace("partition_by: [region]", "")
    for text in [unpartitioned, MODELS["silver/daily.sql"]]:
        (project.root / "models" / "silver" / "daily.sql").write_text(text)
        project = Project.load(project.root)
        result = project.run(trigger="test", yes=True)
        assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
        assert result.step("silver.daily").rows_written == len(expected)
        assert _rows(project, "select * from silver.daily order by region, day") == expected


def test_only_a_plan_read_again_alike_is_left_unstaged(spark: Any, tmp_path: Path) -> None:
    """`staged` checkpoints unless a second read gives the same rows at a scan's cost: a narrow,
    deterministic plan over the lakehouse's files (or checkpointed rows)."""
    from medallion.engine.spark.engine import stable

    project = _project(tmp_path / "p")
    assert project.run(trigger="test").ok
    root = project.catalog.root
    files = [str(p) for p in project.catalog.path("bronze.orders").rglob("*.parquet")]
    session = spark.newSession()
    df = session.read.parquet(*files)
    df.createOrReplaceTempView("b")
    cases = {
        "scan": (df, True),
        "projection": (session.sql("select md5(region) r from b where amount > 0"), True),
        "union": (df.unionByName(df), True),
        "aggregate": (session.sql("select region, count(*) from b group by region"), False),
        "join": (df.join(df, "region"), False),
        "window": (session.sql("select row_number() over (order by amount) n from b"), False),
        "limit": (df.limit(2), False),
        "random": (session.sql("select rand() r, * from b"), False),
        "time of the query": (session.sql("select current_timestamp() t, * from b"), False),
        "data from the driver": (session.createDataFrame([(1,)], "a int"), False),
        "checkpointed": (df.localCheckpoint().where("amount > 1"), True),
        # the time of the query after more columns than a plan's string form lists
        "time after 30 columns": (
            session.sql(
                "select "
                + ", ".join(f"amount + {i} as c{i}" for i in range(30))
                + ", coalesce(day <= current_date(), false) as ok from b"
            ),
            False,
        ),
        "subquery": (
            session.sql("select * from b where amount < (select max(amount) from b)"),
            False,
        ),
    }
    for name, (frame, expected) in cases.items():
        assert stable(frame, root) is expected, name
    assert not stable(df, tmp_path / "elsewhere")  # files outside the lakehouse may change


def test_a_value_failing_only_in_a_quarantined_row_fails_before_any_commit(
    spark: Any, tmp_path: Path
) -> None:
    """Rows not checkpointed are computed by the query that reads them: the quarantined rows
    are computed whole before the kept rows are committed, so a value of theirs that fails (a
    cast) fails the step with nothing written, as on DuckDB."""
    models = {
        "silver/typed.sql": """
            /* ---
            kind: table
            expectations:
              not_four: {expect: order_id <> 4, action: quarantine}
            --- */
            select order_id,
                   case when order_id = 4 then cast(region as integer) else 0 end as n
            from bronze.orders
        """,
    }
    project = _project(tmp_path / "p", models)
    result = project.run(trigger="test")
    step = result.step("silver.typed")
    assert not result.ok and step.status == "failed", step.error
    assert "committed" not in (step.error or "")
    assert not tables.is_delta_table(project.catalog.path("silver.typed"))
    assert not tables.is_delta_table(project.catalog.path("silver.typed__quarantine"))
