"""`medallion compile` on every bundled template: each model compiles for every dialect, and the
PostgreSQL and Spark translations, run by a real PostgreSQL and a real (local) Spark over the
same input tables, give the rows medallion's DuckDB gives.

Each template is generated small and run by medallion once (`built`); every table it built
(sources and models, as DuckDB has them) is loaded into the engine — PostgreSQL through
medallion's own publisher (nested values as jsonb), Spark from Parquet files — and each model's
compiled SELECT runs there; its rows are compared with the same model's SELECT run by DuckDB over
the same tables. (A model's table can differ from its SELECT: expectations quarantine rows,
incremental kinds merge.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from medallion.devservers.pgserver import PgServer
from medallion.models.compile import DIALECTS, SETUP_FILE
from medallion.project import Project
from medallion.publish.postgres import publish_table
from medallion.templates import TEMPLATES, get_template


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_compiles_for_every_dialect(tmp_path: Path, name: str, dialect: str) -> None:
    get_template(name).scaffold(tmp_path)
    project = Project.load(tmp_path, env={})  # the oltp template's ${VAR}s are not needed
    result = project.compile(dialect)
    sql_models = sorted(f for f, m in project.models.items() if m.language == "sql")
    assert sorted(m.model for m in result.models if m.path is not None) == sql_models
    manifest = json.loads((result.output / "manifest.json").read_text())
    assert len(manifest["models"]) == len(sql_models)
    for entry in manifest["models"]:
        if entry["needs"]:  # the functions it calls are written beside it
            assert (result.output / SETUP_FILE).is_file()


# -- run where the engine is installed -----------------------------------------------------------


@pytest.fixture(scope="module", params=list(TEMPLATES))
def built(
    request: pytest.FixtureRequest, pg: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    """The template generated small (200 rows) and run by medallion. The oltp template reads a
    source database and publishes to a warehouse: two databases of `pg`, for the run only."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    databases = [f"{role}_{os.urandom(4).hex()}" for role in ("source", "warehouse")]
    for database in databases:
        pg.create_database(database)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OLTP_SOURCE_DSN", pg.dsn(databases[0]))
            env.setenv("WAREHOUSE_DSN", pg.dsn(databases[1]))
            template = get_template(name)
            template.scaffold(root)
            template.generate(root, rows=200)
            project = Project.load(root)
            result = project.run()
        assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
        yield Project.load(root, env={})  # what follows reads the lakehouse only
    finally:
        for database in databases:
            pg.drop_database(database)


def normal(value: Any) -> Any:
    """One spelling per value across the engines: numbers rounded to 4 places (a double's last
    digits differ between engines' sums), nested values as JSON text, times as UTC."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float | int):
        return round(float(value), 4)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str).lower()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def compare_models(project: Project, run: Callable[[str], tuple[list[str], list[Any]]]) -> int:
    """Run each SQL model's compiled SELECT with `run` (-> column names, rows) and compare with
    DuckDB's rows for its SELECT; the number of models compared."""
    compared = 0
    for fqn in project.graph.order:
        model = project.models.get(fqn)
        if model is None or model.language != "sql":
            continue
        assert model.tree is not None
        columns, records = run(fqn)
        expected = project.query(model.tree.sql("duckdb"))
        assert columns == expected.column_names, fqn
        got = sorted((tuple(normal(v) for v in r) for r in records), key=repr)
        want = sorted(
            (tuple(normal(v) for v in r.values()) for r in expected.to_pylist()), key=repr
        )
        assert len(got) == len(want), fqn
        assert got == want, (fqn, [(g, w) for g, w in zip(got, want, strict=True) if g != w][:2])
        compared += 1
    assert compared == sum(1 for m in project.models.values() if m.language == "sql")
    return compared


@pytest.mark.postgres
def test_compiled_postgres_sql_gives_duckdbs_rows(built: Project, pg_db: str) -> None:
    project = built
    out = project.compile("postgres").output
    with psycopg.connect(pg_db, autocommit=True) as conn:
        if (out / SETUP_FILE).exists():
            conn.execute((out / SETUP_FILE).read_text().encode())
        for node in project.graph.order:  # every input, as DuckDB built it
            layer, table = node.split(".")
            data = project.query(f"select * from {node}")
            publish_table(
                conn,
                schema_name=layer,
                name=table,
                reader=data.to_reader(),
                mode="replace",
                key=[],
                comment="",
            )

        def run(fqn: str) -> tuple[list[str], list[Any]]:
            layer, name = fqn.split(".")
            cur = conn.execute((out / layer / f"{name}.sql").read_text().encode())
            return [d.name for d in cur.description or []], cur.fetchall()

        compare_models(project, run)


@pytest.mark.spark
def test_compiled_spark_sql_gives_duckdbs_rows(built: Project, spark: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    project = built
    out = project.compile("spark").output
    for node in project.graph.order:  # every input, as DuckDB built it, as Parquet
        layer, _ = node.split(".")
        folder = tmp_path / node
        folder.mkdir()
        pq.write_table(project.query(f"select * from {node}"), folder / "part.parquet")
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        spark.sql(f"DROP TABLE IF EXISTS {node}")  # another template's
        spark.sql(f"CREATE TABLE {node} USING parquet LOCATION '{folder}'")

    def run(fqn: str) -> tuple[list[str], list[Any]]:
        layer, name = fqn.split(".")
        sql = (out / layer / f"{name}.sql").read_text().rstrip().removesuffix(";")
        frame = spark.sql(sql)
        table = frame.toArrow()  # times as UTC-aware values (collect() uses the local zone)
        return frame.columns, [tuple(r.values()) for r in table.to_pylist()]

    compare_models(project, run)
