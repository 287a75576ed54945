"""What a run would do, decided before anything runs: runner/plan.py writes nothing."""

from __future__ import annotations

from collections.abc import Callable

from medallion.project import Project
from medallion.runner.plan import plan_run, plan_test

CONFIG = """
name: planned
sources:
  sales: {path: data/sales.csv}
"""
MODELS = {
    "silver/clean.sql": "/* ---\nchecks: [{not_null: id}]\n--- */\nselect * from bronze.sales\n",
    "gold/total.sql": "select sum(amount) as total from silver.clean\n",
    "gold/by_id.sql": "/* ---\nkind: view\n--- */\nselect id from silver.clean\n",
}
FILES = {"data/sales.csv": "id,amount\n1,10\n2,20\n"}


def test_the_plan_of_a_run(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, MODELS, FILES)
    ws = project.workspace
    plan = plan_run(ws, ["+gold.total"])
    assert plan.announced() == [
        ("bronze.sales", "ingest"),
        ("silver.clean", "model"),
        ("gold.total", "model"),
    ]
    assert not any(s.full_refresh for s in plan.steps)
    # a full refresh of a node outside the selection adds it, in dependency order
    plan = plan_run(ws, ["gold.total"], ["bronze.sales"])
    assert [(s.node, s.full_refresh) for s in plan.steps] == [
        ("bronze.sales", True),
        ("gold.total", False),
    ]
    # a pending `medallion reset` is a full refresh of that node, cleared once it runs
    project.reset("silver.clean")
    plan = plan_run(ws)
    reset = [s for s in plan.steps if s.reset]
    assert [(s.node, s.full_refresh) for s in reset] == [("silver.clean", True)]
    assert ("gold.by_id", "view") in plan.announced()
    # planning wrote nothing
    assert project.catalog.tables() == []
    assert project.runs() == []


def test_the_plan_of_a_test(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, MODELS, FILES)
    plan = plan_test(project.workspace)
    assert plan.announced() == [("silver.clean", "test")]


def test_a_view_passes_on_only_what_its_inputs_bring(
    make_project: Callable[..., Project],
) -> None:
    """A table read through a view is rebuilt when the view's inputs changed, not because a view
    is in between: plan says what the run then does."""
    models = {**MODELS, "gold/n_by_id.sql": "select count(*) as n from gold.by_id\n"}
    project = make_project(CONFIG, models, FILES)
    project.run()

    def actions() -> dict[str, str]:
        return {e.node: e.action for e in project.plan().entries}

    assert actions()["gold.n_by_id"] == "up to date"
    assert project.run().steps[-1].rows_written == 0
    (project.root / "data" / "sales.csv").write_text("id,amount\n1,10\n2,20\n3,30\n")
    assert actions()["gold.n_by_id"] == "rebuild"
    steps = {s.node: s for s in project.run().steps}
    assert steps["gold.n_by_id"].rows_written == 1
