"""load_models on real project folders: layout, names, dependencies, kind rules, cycles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from medallion.errors import ModelError
from medallion.project import Project

MakeProject = Callable[..., Project]

CONFIG = """
name: p
sources:
  orders:
    path: data/orders.csv
  customers:
    path: data/customers.csv
"""

PY_MODEL = '''
"""---
{header}
"""


def model(ctx):
    return None
'''


def py_model(header: str) -> str:
    return PY_MODEL.format(header=header)


def load_error(make_project: MakeProject, models: dict[str, str]) -> tuple[ModelError, Path]:
    project = make_project(CONFIG, models)
    with pytest.raises(ModelError) as info:
        _ = project.models
    return info.value, project.root


def rel(err: ModelError, root: Path) -> str:
    assert err.file is not None
    return Path(err.file).relative_to(root).as_posix()


# -- layout -----------------------------------------------------------------------------------


def test_models_in_layer_folders_and_sub_folders(make_project: MakeProject) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/fact_orders.sql": "select * from bronze.orders",
            "silver/staging/stg_customers.sql": "select * from bronze.customers",
            "gold/reports/daily/sales.sql": """
                select * from silver.fact_orders join silver.stg_customers using (customer_id)
            """,
        },
    )
    models = project.models
    assert sorted(models) == ["gold.sales", "silver.fact_orders", "silver.stg_customers"]
    stg = models["silver.stg_customers"]
    assert (stg.layer, stg.name, stg.language) == ("silver", "stg_customers", "sql")
    assert stg.path == project.root / "models" / "silver" / "staging" / "stg_customers.sql"
    assert models["silver.fact_orders"].depends_on == ["bronze.orders"]
    assert models["gold.sales"].depends_on == ["silver.fact_orders", "silver.stg_customers"]


def test_no_models_folder_means_no_models(make_project: MakeProject) -> None:
    assert make_project(CONFIG).models == {}


def test_hidden_underscored_and_other_files_are_skipped(make_project: MakeProject) -> None:
    project = make_project(
        CONFIG,
        {
            "README.md": "notes",
            "_drafts/x.sql": "not sql at all",
            "silver/_wip.sql": "not sql at all",
            "silver/.hidden.sql": "not sql at all",
            "silver/_old/y.sql": "not sql at all",
            "silver/notes.txt": "text",
            "silver/a.sql": "select 1 as x",
        },
    )
    assert list(project.models) == ["silver.a"]


def test_folder_that_is_not_a_layer_with_suggestion(make_project: MakeProject) -> None:
    err, root = load_error(make_project, {"silvr/a.sql": "select 1"})
    assert err.message == "folder 'silvr' is not a layer"
    assert err.hint == "did you mean 'silver'?"
    assert rel(err, root) == "models/silvr"


def test_folder_that_is_not_a_layer_lists_layers(make_project: MakeProject) -> None:
    err, _ = load_error(make_project, {"platinum/a.sql": "select 1"})
    assert err.message == "folder 'platinum' is not a layer"
    assert err.hint == "layers are: bronze, silver, gold"


def test_model_file_directly_in_models(make_project: MakeProject) -> None:
    err, root = load_error(make_project, {"orphan.sql": "select 1"})
    assert err.message == "model files go in a folder named after their layer"
    assert rel(err, root) == "models/orphan.sql"
    assert err.hint == "move it to models/<layer>/orphan.sql (layers: bronze, silver, gold)"


def test_duplicate_names_in_one_layer(make_project: MakeProject) -> None:
    err, root = load_error(
        make_project, {"silver/a/dup.sql": "select 1", "silver/b/dup.sql": "select 2"}
    )
    assert err.message == "two models are named silver.dup"
    assert rel(err, root) == "models/silver/b/dup.sql"
    assert err.hint == f"the other one is {root / 'models' / 'silver' / 'a' / 'dup.sql'}"


def test_same_name_in_two_layers_is_fine(make_project: MakeProject) -> None:
    project = make_project(
        CONFIG, {"silver/orders.sql": "select 1", "gold/orders.sql": "select * from silver.orders"}
    )
    assert project.models["gold.orders"].depends_on == ["silver.orders"]


def test_model_named_like_a_source_table(make_project: MakeProject) -> None:
    err, root = load_error(make_project, {"bronze/orders.sql": "select 1"})
    assert err.message == "bronze.orders is already the table a source lands in"
    assert rel(err, root) == "models/bronze/orders.sql"
    assert err.hint == "rename the model or the source in medallion.yml"


def test_sql_errors_carry_model_file_and_line(make_project: MakeProject) -> None:
    err, root = load_error(
        make_project,
        {
            "silver/a.sql": """
                /* ---
                description: Orders with their customers
                --- */
                select *
                from bronze.orders
                join bronze.custmers using (customer_id)
            """
        },
    )
    assert err.message == "unknown table bronze.custmers"
    assert (err.line, err.column) == (6, 6)
    assert err.model == "silver.a"
    assert rel(err, root) == "models/silver/a.sql"


def test_model_reading_itself(make_project: MakeProject) -> None:
    err, _ = load_error(make_project, {"silver/a.sql": "select * from silver.a"})
    assert err.message == "silver.a reads itself"
    assert err.model == "silver.a"


def test_sql_model_cannot_use_depends_on(make_project: MakeProject) -> None:
    err, _ = load_error(
        make_project,
        {"silver/a.sql": "/* ---\ndepends_on: [bronze.orders]\n--- */\nselect 1\n"},
    )
    assert err.message == (
        "depends_on is for Python models; a SQL model's dependencies come from its SQL"
    )


# -- Python models ----------------------------------------------------------------------------


def test_python_model_depends_on(make_project: MakeProject) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/a.sql": "select 1 as x",
            "silver/scored.py": py_model("depends_on: [bronze.orders, silver.a]"),
        },
    )
    scored = project.models["silver.scored"]
    assert scored.language == "python"
    assert scored.depends_on == ["bronze.orders", "silver.a"]
    assert project.graph.order.index("silver.a") < project.graph.order.index("silver.scored")


@pytest.mark.parametrize("dep", ["orders", "platinum.orders"])
def test_python_depends_on_must_be_qualified(make_project: MakeProject, dep: str) -> None:
    err, root = load_error(make_project, {"silver/p.py": py_model(f"depends_on: [{dep}]")})
    assert err.message == f"depends_on entry {dep!r} must be <layer>.<name>"
    assert err.hint == "layers are: bronze, silver, gold"
    assert err.model == "silver.p"
    assert rel(err, root) == "models/silver/p.py"


def test_python_depends_on_unknown_table(make_project: MakeProject) -> None:
    err, _ = load_error(make_project, {"silver/p.py": py_model("depends_on: [bronze.ordrs]")})
    assert err.message == "depends_on names unknown table bronze.ordrs"
    assert err.hint == "did you mean bronze.orders?"


def test_python_model_cannot_be_a_view(make_project: MakeProject) -> None:
    err, root = load_error(make_project, {"silver/p.py": py_model("kind: view")})
    assert err.message == "a Python model cannot be a view"
    assert err.hint == "use kind: table"
    assert rel(err, root) == "models/silver/p.py"


# -- kinds ------------------------------------------------------------------------------------


def test_view_cannot_be_partitioned(make_project: MakeProject) -> None:
    err, root = load_error(
        make_project,
        {"silver/v.sql": "/* ---\nkind: view\npartition_by: day\n--- */\nselect 1 as day\n"},
    )
    assert err.message == "a view cannot be partitioned (partition_by)"
    assert err.model == "silver.v"
    assert rel(err, root) == "models/silver/v.sql"


def test_table_can_be_partitioned_and_views_can_be_read(make_project: MakeProject) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/v.sql": "/* ---\nkind: view\n--- */\nselect * from bronze.orders\n",
            "gold/t.sql": "/* ---\npartition_by: day\n--- */\nselect 1 as day from silver.v\n",
        },
    )
    assert project.models["silver.v"].kind == "view"
    assert project.models["gold.t"].config.partition_by == ["day"]
    assert project.models["gold.t"].depends_on == ["silver.v"]


# -- cycles through the project ---------------------------------------------------------------


def test_cycle_names_a_model_file(make_project: MakeProject) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/a.sql": "select * from silver.c",
            "silver/b.sql": "select * from silver.a",
            "silver/c.sql": "select * from silver.b join bronze.orders on true",
        },
    )
    _ = project.models  # each model loads fine on its own
    with pytest.raises(ModelError) as info:
        project.validate()
    err = info.value
    assert err.message == "dependency cycle: silver.a -> silver.b -> silver.c -> silver.a"
    assert err.model == "silver.a"
    assert rel(err, project.root) == "models/silver/a.sql"
    assert err.hint is not None and "built from itself" in err.hint
