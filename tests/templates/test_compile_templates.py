"""`medallion compile` on every bundled template: each model compiles for every dialect, and the
PostgreSQL translation, run by a real PostgreSQL over the same input tables, gives the rows
medallion's DuckDB gives.

For the second test each template is generated small, run by medallion, and every table it built
(sources and models, as DuckDB has them) is published to PostgreSQL with medallion's own
publisher (nested values as jsonb); then each model's compiled SELECT runs in PostgreSQL and its
rows are compared with the same model's SELECT run by DuckDB over the same tables. (A model's
table can differ from its SELECT: expectations quarantine rows, incremental kinds merge.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
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


def normal(value: Any) -> Any:
    """One spelling per value across the engines: numbers rounded to 4 places (a double's last
    digits differ between engines' sums), nested values as JSON text, offsets as UTC."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float | int):
        return round(float(value), 4)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str).lower()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(tz=None).replace(tzinfo=None).isoformat()
    return value


def rows(columns: list[str], records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(normal(v) for v in r) for r in records), key=repr)


@pytest.fixture
def databases(pg: PgServer, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(target DSN, source DSN): two fresh databases (the oltp template reads a source)."""
    suffix = os.urandom(4).hex()
    names = [f"compiled_{suffix}", f"source_{suffix}"]
    for name in names:
        pg.create_database(name)
    yield pg.dsn(names[0]), pg.dsn(names[1])
    for name in names:
        pg.drop_database(name)


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_compiled_postgres_sql_gives_duckdbs_rows(
    tmp_path: Path, name: str, databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, source = databases
    monkeypatch.setenv("OLTP_SOURCE_DSN", source)
    monkeypatch.setenv("WAREHOUSE_DSN", target)
    template = get_template(name)
    template.scaffold(tmp_path)
    template.generate(tmp_path, rows=200)
    project = Project.load(tmp_path)
    result = project.run()
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    out = project.compile("postgres").output

    compared = 0
    with psycopg.connect(target, autocommit=True) as conn:
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
        for fqn in project.graph.order:
            model = project.models.get(fqn)
            if model is None or model.language != "sql":
                continue
            compiled = (out / model.layer / f"{model.name}.sql").read_text()
            cur = conn.execute(compiled.encode())
            columns = [d.name for d in cur.description or []]
            got = rows(columns, cur.fetchall())
            assert model.tree is not None
            expected = project.query(model.tree.sql("duckdb"))
            assert columns == expected.column_names, fqn
            want = rows(columns, [tuple(r.values()) for r in expected.to_pylist()])
            assert len(got) == len(want), fqn
            assert got == want, (
                fqn,
                [(g, w) for g, w in zip(got, want, strict=True) if g != w][:2],
            )
            compared += 1
    assert compared == sum(1 for m in project.models.values() if m.language == "sql")
