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


# (model SQL, dialect, what the compiled SQL must say): each a translation SQLGlot alone gets
# wrong (a different result, or no SQL the target runs); see models/dialects.py
KEPT = [
    # arg_max skips rows whose value is NULL; a FILTER narrows the rows, not the value
    (
        "select status, arg_max(order_id, amount) filter (where amount > 1) as a\n"
        "from bronze.orders group by status",
        "spark",
        "MAX_BY(order_id, CASE WHEN NOT order_id IS NULL AND amount > 1 THEN amount END) AS a",
    ),
    (
        "select arg_min(order_id, amount) as a from bronze.orders",
        "snowflake",
        "MIN_BY(order_id, CASE WHEN NOT order_id IS NULL THEN amount END)",
    ),
    (
        "select arg_max(order_id, amount) filter (where amount > 1) as a from bronze.orders",
        "postgres",
        "(ARRAY_AGG(order_id ORDER BY amount DESC NULLS LAST) FILTER(WHERE NOT order_id IS NULL "
        "AND NOT amount IS NULL AND amount > 1))[1] AS a",
    ),
    # concat_ws skips NULLs
    (
        "select concat_ws(' ', status, order_date) as s from bronze.orders",
        "snowflake",
        "ARRAY_TO_STRING(ARRAY_CONSTRUCT_COMPACT(status, order_date), ' ') AS s",
    ),
    (
        "select concat_ws(' ', status, order_date) as s from bronze.orders",
        "bigquery",
        "ARRAY_TO_STRING([status, order_date], ' ') AS s",
    ),
    # least skips NULLs; BigQuery's LEAST does not
    (
        "select least(amount, order_id) as l from bronze.orders",
        "bigquery",
        "LEAST(COALESCE(amount, order_id), COALESCE(order_id, amount)) AS l",
    ),
    (
        "select hour(order_date) as h from bronze.orders",
        "postgres",
        "EXTRACT(HOUR FROM order_date)",
    ),
    (
        "select hour(order_date) as h from bronze.orders",
        "spark",
        "CAST(HOUR(order_date) AS BIGINT) AS h",
    ),
    ("select hour(order_date) as h from bronze.orders", "snowflake", "HOUR(order_date) AS h"),
    (
        "select extract(isodow from order_date) as d from bronze.orders",
        "bigquery",
        "MOD(EXTRACT(DAYOFWEEK FROM order_date) + 5, 7) + 1 AS d",
    ),
    ("select extract(week from order_date) as w from bronze.orders", "snowflake", "WEEKISO("),
    ("select extract(week from order_date) as w from bronze.orders", "bigquery", "ISOWEEK"),
    (
        "select split_part(status, '-', 2) as p from bronze.orders",
        "bigquery",
        "CASE WHEN status IS NULL THEN NULL ELSE COALESCE(SPLIT(status, '-')[SAFE_ORDINAL(2)], '') "
        "END AS p",
    ),
    (
        "select round(amount, 2) as r from bronze.orders",
        "postgres",
        "(CASE WHEN amount < 0 THEN -1 ELSE 1 END * FLOOR(ABS(amount) * 100 + 0.5) / 100) AS r",
    ),
    (
        "select round(amount, -1) as r from bronze.orders",
        "spark",
        "(CASE WHEN amount < 0 THEN -1 ELSE 1 END * FLOOR(ABS(amount) * 0.1 + 0.5) / 0.1) AS r",
    ),
    # DuckDB divides as doubles; decimals divide exactly elsewhere (and round differently)
    ("select amount / 2 as h from bronze.orders", "spark", "CAST(amount AS DOUBLE) / 2 AS h"),
    (
        "select amount / 2 as h from bronze.orders",
        "snowflake",
        "CAST(amount AS DOUBLE) / 2 AS h",
    ),
    (
        "select cast(amount as decimal(14, 2)) as d from bronze.orders",
        "bigquery",
        "ROUND(CAST(amount AS NUMERIC), 2) AS d",
    ),
    (
        "select try_cast(order_date as date) as d from bronze.orders",
        "postgres",
        "CAST(medallion.try_cast(CAST(order_date AS TEXT), CAST(NULL AS DATE)) AS DATE) AS d",
    ),
    (
        "select try_cast(order_id as date) as d from bronze.orders",
        "snowflake",
        "TRY_CAST(CAST(order_id AS VARCHAR) AS DATE) AS d",
    ),
    (
        "select cast(try_cast(status as timestamptz) as timestamp) as t from bronze.orders",
        "snowflake",
        "CAST(CONVERT_TIMEZONE('UTC', TRY_CAST(CAST(status AS VARCHAR) AS TIMESTAMPTZ)) AS "
        "TIMESTAMPNTZ) AS t",
    ),
    (
        "select strftime(order_date, '%Y-%m-%d %H:%M') as s from bronze.orders",
        "bigquery",
        "FORMAT_DATETIME('%Y-%m-%d %H:%M', order_date) AS s",
    ),
    (
        "select strftime(order_date, '%A') as s from bronze.orders",
        "snowflake",
        "CASE DAYOFWEEKISO(order_date) WHEN 1 THEN 'Monday'",
    ),
]
UNNEST = (
    "select o.order_id, i.n, cast(i.item.sku as varchar) as sku\n"
    "from bronze.orders as o, unnest(o.items) with ordinality as i (item, n)"
)
KEPT += [
    # WITH ORDINALITY counts from 1; POSEXPLODE, OFFSET and FLATTEN's index from 0
    (UNNEST, "spark", "(i.n + 1) AS n"),
    (UNNEST, "spark", "LATERAL VIEW POSEXPLODE(o.items) i AS n, item"),
    (UNNEST, "bigquery", "(n + 1) AS n"),
    (UNNEST, "snowflake", "(i.n + 1) AS n"),
    # nested values: jsonb in PostgreSQL, VARIANT in Snowflake, fields by name in any case
    (UNNEST, "postgres", "JSONB_ARRAY_ELEMENTS(o.items) WITH ORDINALITY AS i(item, n)"),
    (UNNEST, "postgres", "i.n,"),
    (
        UNNEST,
        "postgres",
        "CAST((SELECT __medallion_field.value FROM JSONB_EACH_TEXT(i.item) AS "
        "__medallion_field(key, value) WHERE LOWER(__medallion_field.key) = 'sku') AS TEXT)",
    ),
    (UNNEST, "snowflake", "CAST(GET_IGNORE_CASE(i.item, 'sku') AS VARCHAR) AS sku"),
]


@pytest.mark.parametrize(("sql", "dialect", "expected"), KEPT)
def test_translations_keep_duckdbs_meaning(
    make_project: Callable[..., Project], sql: str, dialect: str, expected: str
) -> None:
    project = make_project(CONFIG, {"gold/m.sql": sql + "\n"}, DATA)
    out = project.compile(dialect).output
    assert one_line(expected) in one_line((out / "gold" / "m.sql").read_text())


def one_line(sql: str) -> str:
    """SQL without the line breaks and indents of pretty printing."""
    import re

    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join(sql.split())))


def test_functions_postgres_lacks_are_written_beside_the_models(
    make_project: Callable[..., Project],
) -> None:
    models = {
        **PORTABLE,
        "gold/t.sql": "select try_cast(status as integer) as s\nfrom bronze.orders\n",
    }
    project = make_project(CONFIG, models, DATA)
    out = project.compile("postgres").output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["setup"] == ["medallion_functions.sql"]
    assert {m["model"]: m["needs"] for m in manifest["models"]} == {
        "silver.clean": [],
        "gold.daily": [],
        "gold.t": ["try_cast"],
    }
    assert (
        "CREATE OR REPLACE FUNCTION medallion.try_cast"
        in (out / "medallion_functions.sql").read_text()
    )
    assert "medallion_functions.sql" in (out / "gold" / "t.sql").read_text().splitlines()[2]
    # a dialect that has TRY_CAST needs nothing
    spark = project.compile("spark").output
    assert json.loads((spark / "manifest.json").read_text())["setup"] == []
    assert not (spark / "medallion_functions.sql").exists()


def test_cli_says_what_to_run_first(
    make_project: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    models = {
        **PORTABLE,
        "gold/t.sql": "select try_cast(status as integer) as s\nfrom bronze.orders\n",
    }
    root = str(make_project(CONFIG, models, DATA).root)
    main(["--no-color", "-p", root, "compile", "-d", "postgres"])
    err = " ".join(capsys.readouterr().err.split())
    assert "medallion_functions.sql once in the postgres database first" in err
    main(["-p", root, "compile", "-d", "postgres", "--json"])
    assert json.loads(capsys.readouterr().out)["setup"].endswith("medallion_functions.sql")
    main(["--no-color", "-p", root, "compile", "-d", "spark"])
    assert "once in the" not in capsys.readouterr().err


REFUSED_MEANING = [
    # a struct field read from jsonb / VARIANT is text / VARIANT: its type must be written
    (
        "select o.order_id,\n  i.item.sku as sku\n"
        "from bronze.orders as o, unnest(o.items) with ordinality as i (item, n)",
        "postgres",
        "a field of an unnested struct, outside a CAST",
        2,
    ),
    (
        "select o.order_id,\n  i.item as item\n"
        "from bronze.orders as o, unnest(o.items) as i (item)",
        "snowflake",
        "an element of an unnested list, used as a value",
        2,
    ),
    (
        "select\n  unnest(items) as item from bronze.orders",
        "postgres",
        "unnest() of a column in a select list",
        2,
    ),
    # FILTER as IF(): right for aggregates that skip NULLs only
    (
        "select\n  first(order_id) filter (where amount > 1) as f from bronze.orders",
        "bigquery",
        "FILTER (WHERE ...)",
        2,
    ),
    (
        "select *\nfrom range(10) as r(i)",
        "spark",
        "generate_series()/range() as a table",
        2,
    ),
    (
        "select split_part(status, '-', -1) as p from bronze.orders",
        "bigquery",
        "split_part() with a part that is not a positive number",
        1,
    ),
    ("select strftime(order_date, '%a %d') as s from bronze.orders", "snowflake", "day name", 1),
]


@pytest.mark.parametrize(("sql", "dialect", "what", "line"), REFUSED_MEANING)
def test_constructs_whose_meaning_cannot_be_kept_are_refused(
    make_project: Callable[..., Project], sql: str, dialect: str, what: str, line: int
) -> None:
    project = make_project(CONFIG, {**PORTABLE, "gold/bad.sql": sql + "\n"}, DATA)
    with pytest.raises(CompileError) as info:
        project.compile(dialect)
    assert what.lower() in str(info.value).lower()
    assert f"bad.sql:{line}" in str(info.value)
