"""`medallion compile --dialect`: models transpiled for other engines, and refused — with the
file and line, writing nothing — where SQLGlot would emit SQL the target cannot run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlglot

from medallion.cli.main import main
from medallion.errors import CompileError, SelectionError
from medallion.project import Project

CONFIG = """
name: c
sources:
  orders:
    path: data/orders.csv
"""
PORTABLE = {
    "silver/clean.sql": """\
        /* ---
        kind: merge
        unique_key: order_id
        description: cleaned orders
        --- */
        select order_id, lower(trim(status)) as status, amount, order_date
        from bronze.orders
        where amount is not null
        """,
    "gold/daily.sql": """\
        with d as (
            select order_date, amount, status from silver.clean
        )
        select order_date,
               count(*) filter (where status = 'shipped') as shipped,
               sum(amount) as revenue,
               row_number() over (order by order_date) as day_no
        from d
        group by order_date
        """,
}
DATA = {"data/orders.csv": "order_id,status,amount,order_date\n1, Shipped ,10.5,2024-01-01\n"}


@pytest.fixture
def portable(make_project: Callable[..., Project]) -> Project:
    return make_project(CONFIG, PORTABLE, DATA)


@pytest.mark.parametrize("dialect", ["spark", "databricks", "snowflake", "bigquery", "postgres"])
def test_every_model_is_written_with_a_manifest(portable: Project, dialect: str) -> None:
    result = portable.compile(dialect)
    out = portable.root / "target" / "compiled" / dialect
    assert result.output == out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.sql")) == [
        "gold/daily.sql",
        "silver/clean.sql",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dialect"] == dialect
    assert [
        (m["model"], m["kind"], m["unique_key"], m["depends_on"]) for m in manifest["models"]
    ] == [
        ("silver.clean", "merge", ["order_id"], ["bronze.orders"]),
        ("gold.daily", "table", [], ["silver.clean"]),
    ]
    for path in out.rglob("*.sql"):
        text = path.read_text()
        assert text.startswith("-- ")
        assert "kind:" in text.splitlines()[1]
        assert "---" not in text  # the YAML header is not carried over
        sqlglot.parse_one(text, dialect=dialect)  # valid in the target's grammar


def test_translations_follow_the_dialect(portable: Project) -> None:
    portable.compile("bigquery")
    portable.compile("spark")
    portable.compile("postgres")
    compiled = portable.root / "target" / "compiled"
    bq = (compiled / "bigquery/gold/daily.sql").read_text()
    assert "COUNTIF(status = 'shipped')" in bq  # FILTER (WHERE ...) has no BigQuery form
    spark = (compiled / "spark/gold/daily.sql").read_text()
    assert "FROM silver.clean" in spark  # layers stay schemas
    pg = (compiled / "postgres/gold/daily.sql").read_text()
    assert "FILTER(WHERE status = 'shipped')" in " ".join(pg.split())


REFUSED = [
    ("select columns('a') from bronze.orders", "spark", "COLUMNS(...)", 1),
    ("select * exclude (status) from bronze.orders", "postgres", "EXCLUDE", 1),
    ("select\n  {'a': 1} as s from bronze.orders", "postgres", "struct", 2),
    ("select list_transform([1], x -> x + 1) as l from bronze.orders", "bigquery", "lambda", 1),
    (
        "select order_id, count(*) as n\nfrom bronze.orders group by all",
        "postgres",
        "GROUP BY ALL",
        2,
    ),
    ("select cast(order_id as hugeint) as h from bronze.orders", "snowflake", "INT128", 1),
    (
        "select\n  arg_max(order_id, amount) over (order by status) as a from bronze.orders",
        "postgres",
        "arg_max() over a window",
        2,
    ),
    ("select\n\n  arg_max(order_id, amount, 2) as a from bronze.orders", "spark", "count", 3),
    ("select\n\n  frobnicate(order_id) as f from bronze.orders", "spark", "frobnicate", 3),
    # Spark has no SELECT * modifiers, Databricks only EXCEPT, BigQuery no RENAME
    ("select * replace (1 as amount) from bronze.orders", "spark", "REPLACE", 1),
    ("select * replace (1 as amount) from bronze.orders", "databricks", "REPLACE", 1),
    ("select * rename (amount as a) from bronze.orders", "bigquery", "RENAME", 1),
    # DuckDB indexes text by character; elsewhere x[1] is a list element (or an error)
    ("select\n  upper(status[1]) as initial from bronze.orders", "snowflake", "subscript", 2),
    ("select status[2:] as rest from bronze.orders", "spark", "subscript", 1),
]


def test_list_subscripts_and_the_targets_star_modifiers_compile(
    make_project: Callable[..., Project],
) -> None:
    models = {
        **PORTABLE,
        "gold/parts.sql": "select split(status, '-')[1] as head, * exclude (amount)\n"
        "from bronze.orders\n",
    }
    project = make_project(CONFIG, models, DATA)
    project.compile("databricks")
    project.compile("bigquery")
    compiled = project.root / "target" / "compiled"
    databricks = " ".join((compiled / "databricks/gold/parts.sql").read_text().split())
    assert "SPLIT(status, CONCAT('\\\\Q', '-', '\\\\E'))[0] AS head" in databricks
    assert "* EXCEPT (amount)" in databricks
    bigquery = " ".join((compiled / "bigquery/gold/parts.sql").read_text().split())
    assert "SPLIT(status, '-')[0] AS head, * EXCEPT (amount)" in bigquery


def test_regexp_matches_keeps_its_meaning_on_snowflake(
    make_project: Callable[..., Project],
) -> None:
    """Snowflake's REGEXP_LIKE matches the whole text; DuckDB's regexp_matches any part."""
    models = {
        **PORTABLE,
        "gold/re.sql": "select regexp_matches(status, 'ship') as s\nfrom bronze.orders\n",
    }
    project = make_project(CONFIG, models, DATA)
    project.compile("snowflake")
    sql = (project.root / "target/compiled/snowflake/gold/re.sql").read_text()
    assert "REGEXP_INSTR(status, 'ship') > 0" in sql
    assert "REGEXP_LIKE" not in sql


@pytest.mark.parametrize(("sql", "dialect", "what", "line"), REFUSED)
def test_constructs_the_dialect_cannot_express_are_refused(
    make_project: Callable[..., Project], sql: str, dialect: str, what: str, line: int
) -> None:
    project = make_project(CONFIG, {**PORTABLE, "gold/bad.sql": sql + "\n"}, DATA)
    out = project.root / "target" / "compiled" / dialect
    with pytest.raises(CompileError) as info:
        project.compile(dialect)
    message = str(info.value)
    assert "nothing was written" in message
    assert what.lower() in message.lower()
    assert f"bad.sql:{line}" in message
    assert not out.exists()


def test_a_refused_compile_keeps_the_previous_output(portable: Project) -> None:
    portable.compile("postgres")
    out = portable.root / "target" / "compiled" / "postgres"
    before = {p: p.read_text() for p in out.rglob("*") if p.is_file()}
    bad = portable.root / "models" / "gold" / "bad.sql"
    bad.write_text("select * exclude (status) from silver.clean\n")
    with pytest.raises(CompileError):
        Project.load(portable.root).compile("postgres")
    assert {p: p.read_text() for p in out.rglob("*") if p.is_file()} == before
    assert not list(out.parent.glob(".postgres-*"))  # no staging folder left behind


def test_python_models_are_listed_as_not_compiled(make_project: Callable[..., Project]) -> None:
    py = '"""---\ndepends_on: [silver.clean]\n"""\n\n\ndef model(ctx):\n'
    py += '    return ctx.table("silver.clean")\n'
    project = make_project(CONFIG, {**PORTABLE, "gold/py.py": py}, DATA)
    result = project.compile("spark")
    assert [(m.model, m.path is None, m.note) for m in result.models if m.path is None] == [
        ("gold.py", True, "Python model: not compiled")
    ]


def test_select_and_unknown_dialect(portable: Project) -> None:
    result = portable.compile("snowflake", ["gold.daily"])
    assert [m.model for m in result.models] == ["gold.daily"]
    with pytest.raises(SelectionError, match="did you mean 'snowflake'"):
        portable.compile("snowflak")


def test_cli(portable: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(portable.root)
    main(["-p", root, "compile", "--dialect", "postgres", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["dialect"] == "postgres"
    assert Path(data["output"]).is_dir()
    with pytest.raises(SystemExit) as done:
        main(["-p", root, "compile", "-d", "oracle"])
    assert done.value.code == 2
    assert "unknown dialect 'oracle'" in capsys.readouterr().err


def test_every_refusal_of_every_model_is_listed_at_once(
    make_project: Callable[..., Project],
) -> None:
    models = {
        **PORTABLE,
        "gold/bad.sql": "select\n  arg_max(order_id, amount, 2) as a,\n  status[1] as s,\n"
        "  frobnicate(order_id) as f\nfrom bronze.orders\n",
        "gold/worse.sql": "select * exclude (status)\nfrom bronze.orders\n",
    }
    project = make_project(CONFIG, models, DATA)
    with pytest.raises(CompileError) as info:
        project.compile("postgres")
    message = str(info.value)
    assert message.startswith("2 model(s) cannot be compiled for postgres (4 construct(s))")
    lines = [ln.strip() for ln in message.splitlines()[1:] if ".sql:" in ln]
    assert [ln.split("/models/", 1)[1].split(": ", 1)[0] for ln in lines] == [
        "gold/bad.sql:2",
        "gold/bad.sql:3",
        "gold/bad.sql:4",
        "gold/worse.sql:1",
    ]
    assert "arg_max() with a count" in lines[0]
    assert "subscript" in lines[1] and "frobnicate" in lines[2] and "EXCLUDE" in lines[3]
    assert message.count("hint:") == 1  # what to do, said once
    refusals = info.value.refusals  # type: ignore[attr-defined]
    assert [(e.model, e.line) for e in refusals] == [
        ("gold.bad", 2),
        ("gold.bad", 3),
        ("gold.bad", 4),
        ("gold.worse", 1),
    ]
