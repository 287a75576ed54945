"""`plan` and `validate` say beforehand what `run` would fail on: a source path that matches no
file, a full refresh that would delete the rows of files gone from the landing folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import medallion

from medallion.project import Project

CONFIG = """
name: planned
sources:
  sales: {path: data/sales*.csv}
"""
MODELS = {
    "silver/clean.sql": "select * from bronze.sales\n",
    "gold/total.sql": "select sum(amount) as total from silver.clean\n",
}
FILES = {"data/sales1.csv": "id,amount\n1,10\n2,20\n"}


def typo(project: Project) -> None:
    yml = project.root / "medallion.yml"
    yml.write_text(yml.read_text().replace("data/sales*.csv", "data/sals*.csv"))


def cli(*args: str, cwd: Path):  # type: ignore[no-untyped-def]
    return medallion(*args, cwd=cwd, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def test_plan_shows_a_source_matching_no_file_as_failing(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(CONFIG, MODELS, FILES)
    assert project.run(trigger="test").ok
    before = versions(project)
    typo(project)
    plan = Project.load(project.root).plan()
    steps = {e.node: (e.action, e.why) for e in plan.entries}
    assert steps["bronze.sales"] == ("fails", "no file matches 'data/sals*.csv'")
    assert steps["silver.clean"] == ("skipped", "upstream bronze.sales would fail")
    assert steps["gold.total"] == ("skipped", "upstream bronze.sales would fail")
    assert [e.node for e in plan.failing] == ["bronze.sales"]
    assert plan.changes == []
    # --full-refresh of it fails the same way, not "full refresh"
    refresh = Project.load(project.root).plan(full_refresh=["bronze.sales"])
    assert refresh.entries[0].action == "fails"

    text = cli("plan", cwd=project.root)
    assert text.returncode == 1
    assert "no file matches 'data/sals*.csv'" in text.stdout
    assert "Would fail: bronze.sales" in text.stdout
    assert "Nothing to do" not in text.stdout
    checked = cli("validate", cwd=project.root)
    assert checked.returncode == 1
    assert "source sales: no file matches 'data/sals*.csv'" in checked.stderr
    assert "no problems found" not in checked.stdout
    assert versions(project) == before  # planning and validating wrote nothing


def test_plan_refuses_a_full_refresh_that_would_drop_rows_of_gone_files(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, MODELS, FILES)
    assert project.run(trigger="test").ok
    (project.root / "data/sales1.csv").rename(project.root / "data/sales2.csv")
    plan = project.plan(full_refresh=["bronze.sales"])
    first = plan.entries[0]
    assert first.action == "refused"
    assert first.why is not None and "1 of the 1 files it holds rows of are gone" in first.why
    assert "--allow-missing-files" in first.why
    # and run refuses it as planned
    assert not project.run(full_refresh=["bronze.sales"], trigger="test").ok
    # without a full refresh the renamed file is new input, as run takes it
    assert project.plan().entries[0].action == "new input"
