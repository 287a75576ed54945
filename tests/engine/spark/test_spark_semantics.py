"""Models whose SQL SQLGlot renders for Spark with another meaning than DuckDB's: each is run on
both engines over ~800 consecutive days (year boundaries, every weekday) and gives the same
rows, of the same types (`models/dialects.py` holds the rewrites, `docs/engines.md` the list)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project

from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.spark

CONFIG = """
name: sem
sources:
  days:
    path: data/days.csv
    columns: {id: INTEGER, d: DATE, ts: TIMESTAMP, s: VARCHAR}
"""
WORDS = ["Besançon", "Orléans", "Paris", "AbcAbc", "a$b\\\\c", "", "naïve Ave"]
MODELS = {
    "silver/regex.sql": r"""
        select id,
               regexp_replace(s, '[aeiou]', 'X') as first_only,
               regexp_replace(s, '[aeiou]', 'X', 'g') as every,
               regexp_replace(s, '[AEIOU]', '<\0>', 'i') as first_nocase,
               regexp_replace(s, '(b)(c)', '\2\1$', 'gi') as groups,
               regexp_replace(s, 'x*', '-') as empty_match,
               regexp_matches(s, 'ABC', 'i') as matches_nocase,
               regexp_extract(s, '([a-z])([a-z])', 2) as extracted
        from bronze.days
    """,
    "silver/parts.sql": """
        select id,
               dayofweek(d) as dow, extract(dow from d) as dow2, date_part('dow', ts) as dow3,
               isodow(d) as isodow, extract(isodow from d) as isodow2,
               dayofyear(d) as doy, extract(doy from d) as doy2,
               week(d) as week, weekofyear(d) as woy, extract(week from d) as week2,
               yearweek(d) as yearweek, isoyear(d) as isoyear,
               year(d) as y, extract(year from d) as y2, quarter(d) as q, month(d) as m,
               day(d) as dd, hour(ts) as h, minute(ts) as mi, second(ts) as sec,
               extract(second from ts) as sec2, epoch(ts) as epoch,
               monthname(d) as month_name, dayname(d) as day_name
        from bronze.days
    """,
    "silver/spans.sql": """
        select id,
               date_trunc('month', d) as month_of_date,
               date_trunc('week', ts) as week_of_ts,
               date_trunc('hour', ts) as hour_of_ts,
               d - date '2024-01-01' as days_since,
               current_date - d > 0 as past,
               d + interval 1 month as next_month,
               date_add(d, interval 3 day) as plus_3,
               date_diff('month', date '2024-01-31', d) as months,
               date_diff('year', date '2024-12-31', d) as years,
               strptime('05/01/2024', '%d/%m/%Y') as parsed
        from bronze.days
    """,
    "gold/aggregates.sql": """
        select id % 3 as g, median(id) as med, median(cast(id as double) / 2) as med_half,
               string_agg(s, ',' order by id) as joined, string_agg(distinct s) is not null as some,
               list_transform([min(id), max(id)], lambda x: x * 2) as doubled,
               array_length(list(nullif(s, 'Paris'))) as listed,
               list(s) filter (where id < 0) as none,
               quantile_cont(id, 0.25) as q_cont, quantile_disc(id, 0.3) as q_disc,
               position('a' in string_agg(s, '' order by id)) as pos
        from silver.regex join bronze.days using (id)
        group by id % 3
    """,
}


def _days() -> str:
    start = date(2023, 12, 20)
    rows = ["id,d,ts,s"]
    for i in range(800):
        day = start + timedelta(days=i)
        ts = datetime(day.year, day.month, day.day) + timedelta(
            milliseconds=i * 37_777 % 86_400_000
        )
        rows.append(f"{i},{day},{ts.isoformat(' ')},{WORDS[i % len(WORDS)]}")
    return "\n".join(rows) + "\n"


def _build(root: Path, engine: str) -> Project:
    config = CONFIG + ("engine: {type: spark}\n" if engine == "spark" else "")
    write_project(root, config, MODELS, {"data/days.csv": _days()})
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    return project


def _table(project: Project, fqn: str) -> Any:
    table = tables.open_table(project.catalog.path(fqn)).to_pyarrow_table()
    keep = [c for c in table.column_names if not c.startswith("_")]
    key = "id" if "id" in keep else "g"
    return table.select(keep).sort_by(key)


def _types(table: Any) -> list[tuple[str, str]]:
    return [(f.name, str(f.type).replace(" not null", "")) for f in table.schema]


def test_models_give_duckdbs_rows_and_types_on_spark(spark: Any, tmp_path: Path) -> None:
    duck = _build(tmp_path / "duck", "duckdb")
    on_spark = _build(tmp_path / "spark", "spark")
    for fqn in ("silver.regex", "silver.parts", "silver.spans", "gold.aggregates"):
        expected, got = _table(duck, fqn), _table(on_spark, fqn)
        # the types (Spark declares a column of constants NOT NULL, DuckDB does not)
        assert _types(got) == _types(expected), fqn
        for name in expected.column_names:
            want, have = expected.column(name).to_pylist(), got.column(name).to_pylist()
            bad = [(i, w, h) for i, (w, h) in enumerate(zip(want, have, strict=True)) if w != h]
            assert not bad, f"{fqn}.{name}: {len(bad)} rows differ, e.g. {bad[:3]}"
    # the hand-checked values the rewrites are about
    regex = _table(duck, "silver.regex").to_pylist()
    assert (regex[0]["first_only"], regex[0]["every"]) == ("BXsançon", "BXsXnçXn")
    assert regex[3]["groups"] == "Acb$Acb$"
    parts = _table(duck, "silver.parts").to_pylist()
    assert (parts[0]["dow"], parts[0]["isodow"], parts[0]["day_name"]) == (3, 3, "Wednesday")
    # Sunday 2023-12-31 is in ISO week 2023-52, Monday 2024-01-01 in 2024-01
    assert [(p["yearweek"], p["isoyear"]) for p in parts[11:13]] == [(202352, 2023), (202401, 2024)]
    spans = _table(duck, "silver.spans").to_pylist()
    assert (spans[12]["days_since"], spans[12]["month_of_date"]) == (0, datetime(2024, 1, 1))


FRACTIONS_CONFIG = """
name: frac
sources:
  nums:
    path: data/nums.csv
    columns: {id: INTEGER, g: INTEGER, x: DOUBLE, m: 'DECIMAL(12,2)', d1: DATE, d2: DATE}
"""
#: halves of both signs as a DOUBLE (x) and a DECIMAL (m), NULLs, doubles whose cents DuckDB
#: and Spark round apart (0.145 is 0.14499999... in binary), cents whose mean is a half cent
NUMS = """id,g,x,m,d1,d2
1,1,-2.5,-2.50,2024-03-01,2024-01-01
2,1,-1.5,-1.50,2024-01-01,2024-03-01
3,1,-0.5,-0.50,2024-12-31,2023-12-31
4,2,0.5,0.50,2024-02-29,2024-02-28
5,2,1.5,1.50,,2024-01-01
6,2,2.5,2.50,2024-01-01,
7,3,,,,
8,4,0.145,0.10,2024-01-01,2024-01-01
9,4,1.005,0.19,2024-01-01,2024-01-01
10,5,4524.275,0.15,2024-01-01,2024-01-01
"""
FRACTION_MODELS = {
    # an upstream model: the columns' types below are known only from its Delta table
    "silver/base.sql": "select * from bronze.nums",
    "silver/casts.sql": """
        select id,
               cast(x as integer) as x_int, cast(x as bigint) as x_big,
               try_cast(x as smallint) as x_small, cast(m as integer) as m_int,
               cast(m as bigint) as m_big, cast(2.5 as integer) as lit_int,
               cast(x as decimal(12, 2)) as x_cents,
               avg(m) over (partition by g) as m_mean_g,
               d1 - d2 as days
        from silver.base
    """,
    "gold/means.sql": """
        with b as (select * from silver.base)
        select g, avg(m) as m_mean, avg(m) filter (where id <> 1) as m_mean_f,
               avg(distinct m) as m_mean_d, avg(x) as x_mean
        from b group by g
    """,
    # a UNION of a DECIMAL and a DOUBLE (DuckDB's common type: DOUBLE); a date minus a
    # number of days of a type not known (a DATE on both engines)
    "silver/shapes.sql": """
        select id, cast(v as integer) as union_int, d2 - coalesce(g, 0) as days_before
        from (select id, m as v, d2, g from silver.base where id < 0
              union all select id, x, d2, g from silver.base)
    """,
}


def test_fraction_casts_decimal_means_and_date_differences_as_on_duckdb(
    spark: Any, tmp_path: Path
) -> None:
    projects = {}
    for engine in ("duckdb", "spark"):
        config = FRACTIONS_CONFIG + ("engine: {type: spark}\n" if engine == "spark" else "")
        write_project(tmp_path / engine, config, FRACTION_MODELS, {"data/nums.csv": NUMS})
        project = projects[engine] = Project.load(tmp_path / engine)
        result = project.run(trigger="test")
        assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    duck, on_spark = projects["duckdb"], projects["spark"]
    for fqn in ("silver.casts", "gold.means", "silver.shapes"):
        expected, got = _table(duck, fqn), _table(on_spark, fqn)
        assert _types(got) == _types(expected), fqn
        for name in expected.column_names:
            want, have = expected.column(name).to_pylist(), got.column(name).to_pylist()
            assert want == have, f"{fqn}.{name}: DuckDB {want}, Spark {have}"
    casts = _table(duck, "silver.casts").to_pydict()
    # a DOUBLE rounds half to even, a DECIMAL half away from zero (Spark alone truncates)
    assert casts["x_int"][:7] == [-2, -2, 0, 0, 2, 2, None]
    assert casts["x_small"][:7] == [-2, -2, 0, 0, 2, 2, None]
    assert casts["m_int"][:7] == [-3, -2, -1, 1, 2, 3, None]
    assert casts["lit_int"][0] == 3
    # x * 100 rounded in doubles: 0.145 -> 0.14, 1.005 -> 1.00, 4524.275 -> 4524.27
    assert [str(v) for v in casts["x_cents"][7:]] == ["0.14", "1.00", "4524.27"]
    assert casts["days"][:7] == [60, -60, 366, 1, None, None, None]
    shapes = _table(duck, "silver.shapes").to_pydict()
    assert shapes["union_int"][:7] == [-2, -2, 0, 0, 2, 2, None]  # DOUBLEs: half to even
    assert shapes["days_before"][:2] == [date(2023, 12, 31), date(2024, 2, 29)]
    means = _table(duck, "gold.means").to_pydict()
    assert means["m_mean"][3] == 0.145  # a DOUBLE (0.14499999...), not DECIMAL 0.145000


def test_a_date_difference_of_unknown_types_fails_before_running_naming_the_line(
    spark: Any, tmp_path: Path
) -> None:
    """Neither side's type known (an expression medallion does not type): on Spark the model
    fails when bound, naming its file and line, before anything is written."""
    models = {
        "silver/base.sql": "select * from bronze.nums",
        "silver/gaps.sql": "select id,\n  coalesce(d1, d2) - coalesce(d2, d1) as days\n"
        "from silver.base\n",
    }
    config = FRACTIONS_CONFIG + "engine: {type: spark}\n"
    project = Project.load(write_project(tmp_path, config, models, {"data/nums.csv": NUMS}))
    step = project.run(trigger="test").step("silver.gaps")
    assert step.status == "failed"
    error = str(step.error)
    assert "gaps.sql:2" in error and "date_diff('day'" in error, error
    assert "is an interval on Spark" in error, error
    assert not project.catalog.exists("silver.gaps")


def test_a_fraction_out_of_an_integers_range_fails_on_both_engines(
    spark: Any, tmp_path: Path
) -> None:
    """1e10 (a DOUBLE) and 1e10 + 0.5 (a DECIMAL) cast to INTEGER: a conversion error on
    DuckDB, an overflow on Spark (ANSI) after the rounding rewrite; nothing written."""
    models = {
        "silver/base.sql": "select * from bronze.nums",
        "silver/big.sql": "select cast(x * 1e10 as integer) as xi, cast(m + 10000000000.5 "
        "as integer) as mi from silver.base",
    }
    for engine in ("duckdb", "spark"):
        config = FRACTIONS_CONFIG + ("engine: {type: spark}\n" if engine == "spark" else "")
        root = write_project(tmp_path / engine, config, models, {"data/nums.csv": NUMS})
        project = Project.load(root)
        step = project.run(trigger="test").step("silver.big")
        assert step.status == "failed", engine
        assert "out of range" in str(step.error) or "CAST_OVERFLOW" in str(step.error), step.error
        assert not project.catalog.exists("silver.big")
