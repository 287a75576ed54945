"""Edges a new user of the Spark engine hit: a model with a nested (STRUCT, LIST) column from a
JSON export, through a merge with checks to gold; `validate` of a project with an scd2 model;
errors only Spark's analyser sees, reported at the model's line without a Java stack; quarantine
columns as nullable as on DuckDB.

In-process on the session's one local Spark (the `spark` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project

from medallion.errors import ExecutionError
from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.spark

NESTED_CONFIG = """
name: nested
sources:
  orders:
    path: data/orders_*.json
    format: json
    columns: {order_id: VARCHAR, quantity: BIGINT}
engine: {type: spark}
"""
ORDERS = (
    '{"order_id": "ORD1", "quantity": 1, "shipping": {"city": "Lyon", "method": "UPS"},'
    ' "tags": ["a", "b"]}\n'
    '{"order_id": "ORD2", "quantity": 2, "shipping": {"city": "Oslo", "method": "DHL"},'
    ' "tags": []}\n'
)
NESTED_MODELS = {
    # as `init --from` writes it: the struct kept, checks on the key
    "silver/stg_orders.sql": """
        /* ---
        kind: merge
        unique_key: order_id
        checks:
          - unique: order_id
          - not_null: order_id
        --- */
        select trim(order_id) as order_id, quantity, shipping, tags from bronze.orders
        """,
    "gold/shipped.sql": """
        /* ---
        checks:
          - not_null: city
        --- */
        select order_id, shipping.city as city, shipping, array_length(tags) as n_tags
        from silver.stg_orders
        """,
}


def test_nested_json_columns_run_to_gold(spark: Any, tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", NESTED_CONFIG, NESTED_MODELS, {"data/orders_2024-01.json": ORDERS}
    )
    project = Project.load(root)
    for attempt in (1, 2):  # the second run: nothing new, the merge and checks bound again
        result = project.run(trigger="test")
        assert result.ok, (attempt, [(s.node, s.error) for s in result.steps])
    project = Project.load(root)
    rows = project.query("select * from gold.shipped order by order_id").to_pylist()
    assert rows == [
        {
            "order_id": "ORD1",
            "city": "Lyon",
            "shipping": {"city": "Lyon", "method": "UPS"},
            "n_tags": 2,
        },
        {
            "order_id": "ORD2",
            "city": "Oslo",
            "shipping": {"city": "Oslo", "method": "DHL"},
            "n_tags": 0,
        },
    ]


SCD2_CONFIG = """
name: hist
sources:
  clients:
    path: data/clients.csv
    columns: {client_id: VARCHAR, city: VARCHAR}
engine: {type: spark}
"""
SCD2_MODELS = {
    "silver/clients_history.sql": """
        /* ---
        kind: scd2
        unique_key: client_id
        --- */
        select client_id, city from bronze.clients
        """,
    # reads the columns scd2 adds: bound only if the view of the scd2 model has them
    "gold/current.sql": """
        select client_id, city from silver.clients_history where is_current
        """,
}


def test_validate_binds_an_scd2_model_and_its_downstream(spark: Any, tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", SCD2_CONFIG, SCD2_MODELS, {"data/clients.csv": "client_id,city\nC1,A\n"}
    )
    project = Project.load(root)
    assert project.run(select=["bronze.clients"], trigger="test").ok
    assert Project.load(root).bind() == {"silver.clients_history": None, "gold.current": None}


ERR_CONFIG = """
name: errs
sources:
  clients:
    path: data/clients.csv
    columns: {client_id: VARCHAR, segment: VARCHAR, amount: INTEGER}
engine: {type: spark}
"""


@pytest.mark.parametrize(
    ("sql", "line", "words"),
    [
        # DuckDB sums booleans; Spark's analyser refuses the type
        (
            "select client_id,\n       sum(segment = 'GOLD') as gold_n\n"
            "from bronze.clients\ngroup by client_id\n",
            2,
            "DATATYPE_MISMATCH",
        ),
        # a misspelt column
        (
            "select client_id,\n  segment,\n       sum(amont) as total\n"
            "from bronze.clients\ngroup by 1, 2\n",
            3,
            "amont",
        ),
    ],
)
def test_an_error_only_spark_sees_names_the_line_without_a_java_stack(
    spark: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    sql: str,
    line: int,
    words: str,
) -> None:
    root = write_project(
        tmp_path / "p",
        ERR_CONFIG,
        {"silver/bad.sql": sql},
        {"data/clients.csv": "client_id,segment,amount\nC1,GOLD,3\n"},
    )
    project = Project.load(root)
    capfd.readouterr()
    result = project.run(trigger="test")
    step = result.step("silver.bad")
    assert step.status == "failed"
    assert words in step.error
    assert f"bad.sql:{line}:" in step.error, step.error
    out, err = capfd.readouterr()
    assert "org.apache.spark" not in out + err and "SQLQueryContextLogger" not in out + err
    assert not Project.load(root).catalog.exists("silver.bad")
    with pytest.raises(ExecutionError) as raised:
        Project.load(root).bind()
    assert raised.value.line == line


QUARANTINE_CONFIG = """
name: quar
sources:
  clients:
    path: data/clients.csv
    columns: {client_id: VARCHAR, amount: INTEGER}
"""
QUARANTINE_MODELS = {
    "silver/clients.sql": """
        /* ---
        expectations:
          positive: {expect: "amount > 0", action: quarantine}
        --- */
        select client_id, amount from bronze.clients
        """,
}


def test_quarantine_columns_are_nullable_as_on_duckdb(spark: Any, tmp_path: Path) -> None:
    schemas = {}
    for engine in ("duckdb", "spark"):
        root = write_project(
            tmp_path / engine,
            QUARANTINE_CONFIG + f"engine: {{type: {engine}}}\n",
            QUARANTINE_MODELS,
            {"data/clients.csv": "client_id,amount\nC1,3\nC2,-1\n"},
        )
        project = Project.load(root)
        assert project.run(trigger="test").ok
        path = project.catalog.path("silver.clients__quarantine")
        schemas[engine] = {f.name: f.nullable for f in tables.schema(path)}
    assert schemas["spark"] == schemas["duckdb"]
    assert all(schemas["spark"].values()), schemas["spark"]


MERGE_CONFIG = """
name: merged
sources:
  clients:
    path: data/c*.csv
    columns: {client_id: VARCHAR, city: VARCHAR}
engine: {type: spark}
"""
MERGE_MODELS = {
    "silver/clients.sql": """
        /* ---
        kind: merge
        unique_key: client_id
        order_by: [_source_file]
        --- */
        select client_id, city, _source_file from bronze.clients
        """,
}


def test_history_shows_the_rows_a_spark_rewrite_removed(spark: Any, tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        MERGE_CONFIG,
        MERGE_MODELS,
        {"data/c1.csv": "client_id,city\nC1,A\nC2,B\nC3,C\n"},
    )
    assert Project.load(root).run(trigger="test").ok
    (root / "data/c2.csv").write_text("client_id,city\nC1,Z\nC4,D\n")
    assert Project.load(root).run(trigger="test").ok
    _, versions = Project.load(root).table_history("silver.clients")
    latest = versions[0]
    # the file of C1..C3 rewritten: C1's old row removed, C2 and C3 copied; C1 and C4 added
    assert (latest["rows_added"], latest["rows_removed"]) == (2, 1), latest
    assert (latest["files_removed"], latest["files_added"]) == (1, 2), latest
