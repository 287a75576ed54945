"""Spark refusals name what the model's author wrote (`string_agg`, not SQLGlot's LISTAGG), let
through the functions Spark has with DuckDB's meaning, and tell a misspelt function from one
Spark lacks; what Spark's regex or date parts would read differently is refused at load time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medallion.errors import CompileError, ModelError
from medallion.project import Project

CONFIG = """
name: n
sources:
  c:
    path: data/c.csv
    columns: {id: INTEGER, ville: VARCHAR, d: DATE}
"""
DATA = {"data/c.csv": "id,ville,d\n1,Paris,2024-01-01\n"}
REFUSED = """\
select id,
       jaro_winkler_similarity(ville, 'Paris') as j, hash(ville) as h,
       cout(*) over () as typo,
       extract(millisecond from d) as ms,
       regexp_matches(ville, '[[:alpha:]]') as posix,
       regexp_replace(ville, 'a', 'b', 's') as dotall,
       list(id order by d) as ordered,
       date_diff('week', d, d) as weeks
from bronze.c
"""
KEPT = """\
select id,
       string_agg(ville, ',') over () as joined,
       position('a' in ville) as pos,
       list_transform([id], lambda x: x + 1) as plus_one,
       median(id) over () as med,
       regexp_replace(ville, 'a', '\\0!', 'gi') as marked
from bronze.c
"""


def test_refusals_name_the_function_as_written(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, {"silver/refused.sql": REFUSED}, DATA)
    with pytest.raises(CompileError) as info:
        project.compile("spark")
    text = str(info.value)
    lines = [line.strip() for line in text.splitlines() if "refused.sql:" in line]
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in lines] == [
        "2",
        "2",
        *map(str, range(3, 9)),
    ], text
    assert "jaro_winkler_similarity() has no spark equivalent" in text
    assert "no function cout() in DuckDB (nor in spark): check its spelling" in text
    assert "hash() has no spark equivalent" in text  # DuckDB has it: not "misspelt"
    assert "date part 'millisecond'" in text
    assert "POSIX class" in text and "options 's'" in text
    assert "list()/array_agg() with ORDER BY" in text and "date_diff() in weeks" in text
    assert "JAROWINKLER" not in text and "LISTAGG" not in text


def test_spark_functions_with_duckdbs_meaning_compile(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, {"silver/kept.sql": KEPT}, DATA)
    out = project.compile("spark").output / "silver" / "kept.sql"
    sql = out.read_text(encoding="utf-8")
    assert "LISTAGG(" in sql and "LOCATE(" in sql and "TRANSFORM(" in sql and "MEDIAN(" in sql
    assert "REGEXP_REPLACE(ville, '(?i)a', '$0!')" in sql


def test_a_misspelt_function_is_not_sent_to_duckdb(make_project: Callable[..., Project]) -> None:
    config = CONFIG + "engine: {type: spark}\n"
    typo = "select id, cout(*) over () as n from bronze.c\n"
    with pytest.raises(ModelError) as info:
        make_project(config, {"silver/typo.sql": typo}, DATA, name="typo").run(trigger="test")
    assert "no function cout() in DuckDB" in str(info.value)
    assert "--engine duckdb" not in str(info.value.hint)
    lacking = "select id, jaro_winkler_similarity(ville, 'x') as j from bronze.c\n"
    with pytest.raises(ModelError) as info:
        make_project(config, {"silver/lacking.sql": lacking}, DATA, name="lacking").run(
            trigger="test"
        )
    assert "--engine duckdb" in str(info.value.hint)
