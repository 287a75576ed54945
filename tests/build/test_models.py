"""Model kinds (table, view), Python models, and graph selection in real runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medallion.project import Project
from medallion.storage import snapshot, tables

CONFIG = """
name: m
sources:
  sales:
    path: data/sales.csv
    columns: {id: INTEGER, region: VARCHAR, amount: INTEGER}
"""
FILES = {"data/sales.csv": "id,region,amount\n1,north,10\n2,south,20\n3,north,30\n4,east,5\n"}


def test_table_model_is_one_overwrite_commit_per_run(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/by_region.sql": "select region, sum(amount) as total "
            "from bronze.sales group by 1"
        },
        FILES,
    )
    first = project.run(trigger="test")
    unchanged = project.run(trigger="test")  # nothing new: not rewritten
    assert "up to date" in unchanged.step("silver.by_region").note
    (project.root / "models" / "silver" / "by_region.sql").write_text(
        "select region, sum(amount) as total from bronze.sales group by all\n"
    )
    project = Project.load(project.root)
    second = project.run(trigger="test")  # the model file changed: rebuilt
    path = project.catalog.path("silver.by_region")
    history = tables.history(path)
    assert [h["version"] for h in history] == [1, 0]
    assert [h["operationParameters"]["mode"] for h in history] == ["Overwrite", "Overwrite"]
    assert [h["medallion.run_id"] for h in history] == [second.run_id, first.run_id]
    rows = project.query("select region, total from silver.by_region").to_pylist()
    got = {r["region"]: r["total"] for r in rows}
    assert got == {"north": 40, "south": 20, "east": 5}
    # sum(integer) is HUGEINT in DuckDB; stored as a 64-bit integer, not a decimal(38,0)
    import pyarrow as pa

    assert snapshot.dataset(path).schema.field("total").type == pa.int64()


def test_partitioned_model(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/sales_p.sql": "/* ---\npartition_by: region\n--- */\n"
            "select id, region, amount from bronze.sales"
        },
        FILES,
    )
    assert project.run(trigger="test").ok
    path = project.catalog.path("silver.sales_p")
    assert tables.open_table(path).metadata().partition_columns == ["region"]
    assert sorted(p.name for p in path.iterdir() if p.name.startswith("region=")) == [
        "region=east",
        "region=north",
        "region=south",
    ]
    rows = project.query("select sum(amount) s from silver.sales_p where region = 'north'")
    assert rows["s"][0].as_py() == 40


def test_partition_column_missing_is_an_error(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {"silver/x.sql": "/* ---\npartition_by: [day]\n--- */\nselect id from bronze.sales"},
        FILES,
    )
    result = project.run(trigger="test")
    assert result.step("silver.x").status == "failed"
    assert "partition_by column 'day' is not in the model's output" in result.step("silver.x").error
    assert not project.catalog.exists("silver.x")


def test_view_is_not_materialized_and_resolves_at_query_time(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/clean.sql": "select * from bronze.sales where amount >= 10",
            "gold/north.sql": "/* ---\nkind: view\n--- */\n"
            "select id, amount from silver.clean where region = 'north'",
            "gold/north_total.sql": "select sum(amount) as total from gold.north",
        },
        FILES,
    )
    result = project.run(trigger="test")
    assert result.ok
    assert result.step("gold.north").step == "view"
    assert not project.catalog.exists("gold.north")
    assert project.query("select total from gold.north_total")["total"][0].as_py() == 40
    assert project.query("select count(*) n from gold.north")["n"][0].as_py() == 2
    # the view follows its upstream without being rebuilt
    (project.root / "data" / "sales2.csv").write_text("id,region,amount\n5,north,100\n")
    (project.root / "medallion.yml").write_text(
        (project.root / "medallion.yml").read_text().replace("data/sales.csv", "data/sales*.csv")
    )
    project = Project.load(project.root)
    assert project.run(["bronze.sales", "silver.clean"], trigger="test").ok
    assert project.query("select count(*) n from gold.north")["n"][0].as_py() == 3
    kinds = {f"{t.layer}.{t.name}": t.kind for t in project.tables()}
    assert kinds["gold.north"] == "view"


@pytest.mark.parametrize(
    "body",
    [
        "n = ctx.table('bronze.sales').aggregate('count(*)').fetchall()[0][0]\n"
        "    return pa.table({'n': [n]})",
        "return ctx.sql('select count(*) as n from bronze.sales')",
        "return ctx.sql('select count(*) as n from bronze.sales').arrow()",
        "return pa.table({'n': [4]}).to_reader()",
    ],
    ids=["arrow-table", "duckdb-relation", "arrow-reader-from-duckdb", "arrow-reader"],
)
def test_python_model_return_types(make_project: Callable[..., Project], body: str) -> None:
    source = (
        '"""---\ndescription: counts sales\ndepends_on: [bronze.sales]\n"""\n'
        "import pyarrow as pa\n\n\ndef model(ctx):\n    " + body + "\n"
    )
    project = make_project(CONFIG, {"gold/count.py": source}, FILES)
    result = project.run(trigger="test")
    assert result.ok, result.error
    assert project.query("select n from gold.count")["n"][0].as_py() == 4
    assert result.step("gold.count").rows_read == 4


def test_python_model_cannot_read_undeclared_tables(make_project: Callable[..., Project]) -> None:
    source = (
        '"""---\ndepends_on: [bronze.sales]\n"""\n\n\ndef model(ctx):\n'
        "    return ctx.sql('select * from silver.clean')\n"
    )
    project = make_project(
        CONFIG,
        {"gold/sneaky.py": source, "silver/clean.sql": "select * from bronze.sales"},
        FILES,
    )
    result = project.run(trigger="test")
    step = result.step("gold.sneaky")
    assert step.status == "failed"
    assert "reads silver.clean, which is not in its depends_on" in step.error


def test_python_model_returning_junk(make_project: Callable[..., Project]) -> None:
    source = '"""---\ndepends_on: [bronze.sales]\n"""\n\n\ndef model(ctx):\n    return 42\n'
    project = make_project(CONFIG, {"gold/junk.py": source}, FILES)
    step = project.run(trigger="test").step("gold.junk")
    assert step.status == "failed"
    assert "model() returned int" in step.error


SELECT_MODELS = {
    "silver/a.sql": "select * from bronze.sales",
    "silver/b.sql": "select * from silver.a",
    "gold/c.sql": "select count(*) n from silver.b",
    "gold/d.sql": "select count(*) n from silver.a",
}


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (None, ["bronze.sales", "silver.a", "silver.b", "gold.c", "gold.d"]),
        (["+c"], ["bronze.sales", "silver.a", "silver.b", "gold.c"]),
        (["a+"], ["silver.a", "silver.b", "gold.c", "gold.d"]),
        (["b", "d"], ["silver.b", "gold.d"]),
        (["layer:gold"], ["gold.c", "gold.d"]),
        (["sales+ , +d"], ["bronze.sales", "silver.a", "silver.b", "gold.c", "gold.d"]),
    ],
)
def test_selection_runs_exactly_the_selected_nodes(
    make_project: Callable[..., Project], select: list[str] | None, expected: list[str]
) -> None:
    project = make_project(CONFIG, SELECT_MODELS, FILES)
    assert project.run(trigger="test").ok  # build everything once
    result = project.run(select, trigger="test")
    assert result.ok
    assert [s.node for s in result.steps] == expected
    assert project.last_run()["selection"] == (" ".join(select) if select else None)


def test_rows_read_counts_materialized_inputs(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/a.sql": "select * from bronze.sales",
            "silver/v.sql": "/* ---\nkind: view\n--- */\nselect * from silver.a where amount > 5",
            "gold/j.sql": "select count(*) n from silver.v join bronze.sales using (id)",
        },
        FILES,
    )
    result = project.run(trigger="test")
    assert result.ok
    assert result.step("silver.a").rows_read == 4
    # through the view: silver.a (4) + bronze.sales (4)
    assert result.step("gold.j").rows_read == 8
    assert result.step("gold.j").details["upstream_versions"] == {"silver.a": 0, "bronze.sales": 0}
