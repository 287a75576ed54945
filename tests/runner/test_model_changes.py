"""A changed model is never silently ignored: after an edit, the next run leaves every table
equal to what a fresh build of the edited project writes — with and without new data — and
`plan` says so beforehand."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import medallion

from medallion.project import Project

CONFIG = """\
name: changes
sources:
  orders: {path: data/orders*.csv}
"""

DAY1 = "id,customer,amount,status,day\n1,a,10,new,2024-01-01\n2,b,25,new,2024-01-01\n"
DAY1 += "3,a,40,shipped,2024-01-02\n"
DAY2 = "id,customer,amount,status,day\n4,c,5,new,2024-01-02\n2,b,30,shipped,2024-01-03\n"

HEADERS = {
    "append": "kind: append",
    "merge": "kind: merge\nunique_key: id\norder_by: day",
    "incremental_by_time": "kind: incremental_by_time\ntime_column: day",
}
BODY = "select id, customer, amount, status, cast(day as date) as day\nfrom bronze.orders\n"

EDITS = {
    "add a column": ("status, ", "status, upper(status) as status_code, "),
    "remove a column": ("customer, ", ""),
    "retype a column": ("amount, ", "cast(amount as double) as amount, "),
    "change a filter": ("from bronze.orders\n", "from bronze.orders\nwhere amount >= 20\n"),
    "change an expectation": (
        "--- */",
        "expectations:\n  small: {expect: amount < 30, action: quarantine}\n--- */",
    ),
}


def model(kind: str, body: str = BODY) -> str:
    return f"/* ---\n{HEADERS[kind]}\n--- */\n{body}"


def table(project: Project, fqn: str) -> list[tuple]:
    """The table's rows, in a stable order, without the ingestion time (a fresh build ingests
    at another time)."""
    rows = project.query(f"select * from {fqn}").to_pylist()
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k != "_ingested_at")) for r in rows)


def fresh(project: Project, tmp: Path) -> Project:
    """The project as it is now, built from scratch in a copy."""
    copy = tmp / "fresh"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project.root, copy, ignore=shutil.ignore_patterns("lakehouse", ".medallion"))
    built = Project.load(copy)
    assert built.run(trigger="test").ok
    return built


def edit(project: Project, rel: str, old: str, new: str) -> Project:
    path = project.root / "models" / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return Project.load(project.root)


@pytest.mark.parametrize("new_data", [False, True], ids=["no new data", "new data"])
@pytest.mark.parametrize("change", list(EDITS))
@pytest.mark.parametrize("kind", list(HEADERS))
def test_an_edited_incremental_model_equals_a_fresh_build_after_the_next_run(
    make_project: Callable[..., Project], tmp_path: Path, kind: str, change: str, new_data: bool
) -> None:
    project = make_project(CONFIG, {"silver/m.sql": model(kind)}, {"data/orders1.csv": DAY1})
    assert project.run(trigger="test").ok
    project = edit(project, "silver/m.sql", *EDITS[change])
    if new_data:
        (project.root / "data/orders2.csv").write_text(DAY2)

    planned = {e.node: e for e in project.plan().entries}["silver.m"]
    assert (planned.action, planned.why) == ("rebuild", "model changed")
    assert planned.diff and any(line.startswith(("+", "-")) for line in planned.diff.splitlines())

    result = project.run(trigger="test", yes=True)

    assert result.ok, result.error
    step = result.step("silver.m")
    assert step.details["rebuild"] == "model changed"
    assert step.details["mode"] == "full"
    assert "rebuilt: model changed" in step.note
    assert table(project, "silver.m") == table(fresh(project, tmp_path), "silver.m")
    # and the edit is now part of the table: nothing more to do
    assert {e.node: e.action for e in project.plan().entries}["silver.m"] == "up to date"


def test_descriptions_comments_and_spacing_are_not_changes(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, {"silver/m.sql": model("merge")}, {"data/orders1.csv": DAY1})
    assert project.run(trigger="test").ok
    path = project.root / "models/silver/m.sql"
    path.write_text(
        path.read_text()
        .replace("--- */", "description: what it is\ntags: [x]\n--- */\n-- a comment")
        .replace("select id,", "SELECT   id,")
    )
    project = Project.load(project.root)
    assert {e.node: e.action for e in project.plan().entries}["silver.m"] == "up to date"
    assert project.run(trigger="test").step("silver.m").note == "no new data upstream"


GOLD_WHOLE = """\
/* ---
kind: merge
unique_key: id
incremental_inputs: [bronze.orders]
--- */
select o.id, o.amount, c.segment
from bronze.orders as o left join silver.customers as c on o.customer = c.customer
"""
CUSTOMERS = "select distinct customer, 'retail' as segment from bronze.orders\n"


def test_a_model_reading_a_changed_model_whole_is_rebuilt_with_it(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    project = make_project(
        CONFIG,
        {"silver/customers.sql": CUSTOMERS, "gold/g.sql": GOLD_WHOLE},
        {"data/orders1.csv": DAY1},
    )
    assert project.run(trigger="test").ok
    project = edit(project, "silver/customers.sql", "'retail'", "'corporate'")

    entries = {e.node: e for e in project.plan().entries}
    assert (entries["silver.customers"].action, entries["silver.customers"].why) == (
        "rebuild",
        "model changed",
    )
    assert (entries["gold.g"].action, entries["gold.g"].why) == (
        "rebuild",
        "upstream silver.customers changed",
    )
    result = project.run(trigger="test", yes=True)

    assert result.ok, result.error
    assert result.step("gold.g").details["rebuild"] == "upstream silver.customers changed"
    assert {r["segment"] for r in project.query("select segment from gold.g").to_pylist()} == {
        "corporate"
    }
    assert table(project, "gold.g") == table(fresh(project, tmp_path), "gold.g")


MERGED_DOWNSTREAM = """\
/* ---
kind: merge
unique_key: id
incremental_inputs: [silver.m]
--- */
select id, amount * 2 as double_amount from silver.m
"""


def test_a_merge_reading_a_changed_model_incrementally_merges_its_rows_again(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    project = make_project(
        CONFIG,
        {"silver/m.sql": model("merge"), "gold/g.sql": MERGED_DOWNSTREAM},
        {"data/orders1.csv": DAY1},
    )
    assert project.run(trigger="test").ok
    project = edit(project, "silver/m.sql", "amount, ", "amount + 1 as amount, ")

    entries = {e.node: e for e in project.plan().entries}
    assert entries["gold.g"].action == "incremental"
    assert entries["gold.g"].why == "upstream silver.m changed: its rows are merged again"
    assert project.run(trigger="test", yes=True).ok
    assert table(project, "gold.g") == table(fresh(project, tmp_path), "gold.g")
    assert {e.node: e.action for e in project.plan().entries}["gold.g"] == "up to date"


def test_a_removed_column_fails_the_model_that_reads_it_instead_of_writing_nulls(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    downstream = (
        "/* ---\nkind: merge\nunique_key: id\nincremental_inputs: [silver.m]\n--- */\n"
        "select id, customer from silver.m\n"
    )
    project = make_project(
        CONFIG,
        {"silver/m.sql": model("merge"), "gold/g.sql": downstream},
        {"data/orders1.csv": DAY1},
    )
    assert project.run(trigger="test").ok
    before = versions(project)["gold.g"]
    project = edit(project, "silver/m.sql", "customer, ", "")

    result = project.run(trigger="test", yes=True)

    assert not result.ok
    assert result.step("silver.m").status == "success"
    step = result.step("gold.g")
    assert step.status == "failed"
    assert "customer" in (step.error or "")
    assert versions(project)["gold.g"] == before
    assert project.query("select count(customer) as n from gold.g").to_pylist() == [{"n": 3}]


SCD2 = (
    "/* ---\nkind: scd2\nunique_key: id\n--- */\nselect id, customer, status from bronze.orders\n"
)


def test_an_scd2_change_is_refused_until_forced_as_its_history_is_only_in_the_table(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(CONFIG, {"silver/h.sql": SCD2}, {"data/orders1.csv": DAY1})
    assert project.run(trigger="test").ok
    (project.root / "data/orders2.csv").write_text(DAY2)
    assert project.run(trigger="test").ok
    history = project.query("select count(*) as n from silver.h").to_pylist()[0]["n"]
    assert history == 5  # 4 keys, id 2 in two versions
    before = versions(project)["silver.h"]
    project = edit(project, "silver/h.sql", "status from", "upper(status) as status from")

    planned = {e.node: e for e in project.plan().entries}["silver.h"]
    assert planned.action == "refused"
    assert "replaces the history" in (planned.why or "")

    refused = project.run(trigger="test", yes=True)
    assert not refused.ok
    step = refused.step("silver.h")
    assert step.status == "failed"
    assert "not rebuilt: model changed" in (step.error or "")
    assert versions(project)["silver.h"] == before

    forced = project.run(full_refresh=["silver.h"], trigger="test", yes=True)
    assert forced.ok, forced.error
    assert project.query("select count(*) as n from silver.h").to_pylist() == [{"n": 4}]


def test_a_rebuild_that_would_empty_half_the_table_needs_yes(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(CONFIG, {"silver/m.sql": model("merge")}, {"data/orders1.csv": DAY1})
    assert project.run(trigger="test").ok
    before = versions(project)["silver.m"]
    project = edit(
        project, "silver/m.sql", "from bronze.orders\n", "from bronze.orders\nwhere amount > 30\n"
    )

    refused = project.run(trigger="test")

    assert not refused.ok
    step = refused.step("silver.m")
    assert "would leave 1 of the table's 3 rows" in (step.error or "")
    assert versions(project)["silver.m"] == before
    confirmed = project.run(trigger="test", yes=True)
    assert confirmed.ok, confirmed.error
    assert project.query("select id from silver.m").to_pylist() == [{"id": 3}]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return medallion(*args, cwd=cwd, env={**os.environ, "NO_COLOR": "1"})


def test_plan_text_and_json(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {"silver/m.sql": model("merge"), "gold/g.sql": MERGED_DOWNSTREAM},
        {"data/orders1.csv": DAY1},
    )
    assert project.run(trigger="test").ok
    quiet = cli("plan", cwd=project.root)
    assert quiet.returncode == 0, quiet.stderr
    assert "Nothing to do" in quiet.stdout
    (project.root / "data/orders2.csv").write_text(DAY2)
    edit(project, "gold/g.sql", "amount * 2", "amount * 3")

    text = cli("plan", cwd=project.root)
    assert text.returncode == 0, text.stderr
    lines = {
        line.split()[1]: line
        for line in text.stdout.splitlines()
        if line.strip()[:6] in ("ingest", "model ")
    }
    assert "new input" in lines["bronze.orders"] and "1 new file" in lines["bronze.orders"]
    assert "incremental" in lines["silver.m"] and "after bronze.orders" in lines["silver.m"]
    assert "rebuild" in lines["gold.g"] and "model changed" in lines["gold.g"]
    assert "gold.g changed since it was built:" in text.stdout
    assert "-  amount * 2 AS double_amount" in text.stdout
    assert "+  amount * 3 AS double_amount" in text.stdout
    as_json = json.loads(cli("plan", "--json", cwd=project.root).stdout)
    steps = {s["node"]: s for s in as_json["steps"]}
    assert steps["bronze.orders"]["new_files"] == 1
    assert steps["gold.g"]["action"] == "rebuild"
    assert steps["gold.g"]["why"] == "model changed"
    assert "+" in steps["gold.g"]["diff"] and "amount * 3" in steps["gold.g"]["diff"]
    # planning wrote nothing
    assert cli("plan", "--json", cwd=project.root).stdout == json.dumps(as_json, indent=2) + "\n"


def test_a_table_reading_a_changed_view_is_rebuilt(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    view = "/* ---\nkind: view\n--- */\nselect id, amount from bronze.orders\n"
    gold = "select count(*) as n, sum(amount) as total from silver.v\n"
    project = make_project(
        CONFIG, {"silver/v.sql": view, "gold/g.sql": gold}, {"data/orders1.csv": DAY1}
    )
    assert project.run(trigger="test").ok
    project = edit(project, "silver/v.sql", "from bronze.orders", "from bronze.orders where id > 1")

    entries = {e.node: e for e in project.plan().entries}
    assert (entries["gold.g"].action, entries["gold.g"].why) == (
        "rebuild",
        "upstream silver.v changed",
    )
    assert project.run(trigger="test", yes=True).ok
    assert project.query("select n, total from gold.g").to_pylist() == [{"n": 2, "total": 65}]


def test_an_edited_python_model_is_rebuilt_but_not_for_a_comment(
    make_project: Callable[..., Project],
) -> None:
    python = (
        '"""---\ndepends_on: [bronze.orders]\n---"""\n\n\ndef model(ctx):\n'
        '    return ctx.sql("select id, amount from bronze.orders where amount > 0")\n'
    )
    project = make_project(CONFIG, {"silver/p.py": python}, {"data/orders1.csv": DAY1})
    assert project.run(trigger="test").ok
    project = edit(project, "silver/p.py", "def model(ctx):", "# a comment\ndef model(ctx):")
    assert {e.node: e.action for e in project.plan().entries}["silver.p"] == "up to date"
    project = edit(project, "silver/p.py", "amount > 0", "amount > 20")
    planned = {e.node: e for e in project.plan().entries}["silver.p"]
    assert (planned.action, planned.why) == ("rebuild", "model changed")
    assert project.run(trigger="test", yes=True).ok
    assert project.query("select count(*) as n from silver.p").to_pylist() == [{"n": 2}]


def test_a_merge_whose_input_changed_a_column_type_during_the_run_is_rebuilt(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    downstream = (
        "/* ---\nkind: merge\nunique_key: id\nincremental_inputs: [silver.m]\n--- */\n"
        "select id, amount from silver.m\n"
    )
    project = make_project(
        CONFIG,
        {"silver/m.sql": model("merge"), "gold/g.sql": downstream},
        {"data/orders1.csv": DAY1},
    )
    assert project.run(trigger="test").ok
    # silver.m is rebuilt with amount as DOUBLE: gold.g would merge its rows again, but the
    # rows it holds were built from a BIGINT amount, so it is rebuilt when its turn comes
    project = edit(project, "silver/m.sql", "amount, ", "cast(amount as double) as amount, ")
    assert {e.node: e.action for e in project.plan().entries}["gold.g"] == "incremental"

    result = project.run(trigger="test", yes=True)

    assert result.ok, result.error
    step = result.step("gold.g")
    assert (
        step.details["rebuild"] == "schema of input changed: silver.m.amount is double, was int64"
    )
    assert step.details["mode"] == "full"
    assert table(project, "gold.g") == table(fresh(project, tmp_path), "gold.g")
    types = project.query("select typeof(amount) as t from gold.g limit 1").to_pylist()
    assert types == [{"t": "DOUBLE"}]
