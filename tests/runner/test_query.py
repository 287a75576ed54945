"""`medallion query` reads stored tables; time travel does not need the models to load."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medallion.errors import QueryError
from medallion.project import Project

CONFIG = "name: p\nsources:\n  sales: {path: data/sales.csv}\n"
FILES = {"data/sales.csv": "id,amount\n1,10\n2,20\n"}


def test_time_travel_while_a_model_file_is_broken(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, {"silver/m.sql": "select * from bronze.sales"}, FILES)
    assert project.run(trigger="test").ok
    (project.root / "models" / "silver" / "bad.sql").write_text(
        "/* ---\nkind: nonsense\n--- */\nselect 1 as x\n"
    )
    edited = Project.load(project.root)
    # a version of a stored table: read as it was, whatever the model files say now
    assert edited.query("select count(*) as n from silver.m", as_of=0).to_pylist() == [{"n": 2}]
    # reading the current tables resolves the models (views among them): the error says why
    with pytest.raises(QueryError, match="kind"):
        edited.query("select count(*) as n from silver.m")


def test_a_declared_table_not_yet_made_says_how_to_make_it(
    make_project: Callable[..., Project],
) -> None:
    config = CONFIG + "  later: {path: data/later*.csv}\n"
    project = make_project(config, {"silver/m.sql": "select * from bronze.sales"}, FILES)
    assert project.run(select=["bronze.sales"], trigger="test").ok
    with pytest.raises(QueryError) as source:
        project.query("describe bronze.later")
    assert str(source.value).startswith("bronze.later has not been landed yet")
    assert source.value.hint == "run `medallion run` (or `medallion run --select bronze.later`)"
    with pytest.raises(QueryError) as model:
        project.query("select * from silver.m")
    assert str(model.value).startswith("silver.m has not been built yet")
    assert "medallion run --select silver.m" in str(model.value.hint)
    # a name nothing declares is still unknown
    with pytest.raises(QueryError, match=r"unknown table bronze\.nothing"):
        project.query("select * from bronze.nothing")


def test_an_unqualified_name_lists_every_layer_that_has_it(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, {"silver/sales.sql": "select * from bronze.sales"}, FILES)
    assert project.run(trigger="test").ok
    with pytest.raises(QueryError) as info:
        project.query("select * from sales")
    assert info.value.hint == "write it as bronze.sales or silver.sales"


def test_a_version_past_the_latest_names_the_versions_there_are(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, {"silver/m.sql": "select * from bronze.sales"}, FILES)
    assert project.run(trigger="test").ok
    (project.root / "data" / "sales.csv").write_text("id,amount\n1,10\n2,20\n3,30\n")
    assert project.run(full_refresh=True, trigger="test").ok
    with pytest.raises(QueryError) as info:
        project.query("select * from silver.m", as_of=7)
    assert str(info.value).startswith("silver.m has versions 0 to 1: there is no version 7")
    assert "kernel" not in str(info.value).lower()
    assert project.query("select count(*) as n from silver.m", as_of=1).to_pylist() == [{"n": 3}]
