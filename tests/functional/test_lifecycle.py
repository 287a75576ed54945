"""Around the incremental kinds: inputs that do not only grow, --full-refresh of one model,
reset (API and CLI), checkpoints, restore of an incremental model, and load-time errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from medallion.errors import ModelError
from medallion.project import Project

CONFIG = """
name: life
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: INTEGER, status: VARCHAR}
"""
ORDERS1 = "id,amount,status\n1,10,new\n2,20,new\n"
APPEND = "/* ---\nkind: append\n--- */\nselect id, amount from bronze.orders\n"
MERGE = """\
/* ---
kind: merge
unique_key: id
delete_when: status = 'deleted'
--- */
select id, amount, status, _ingested_at from bronze.orders
"""


def rows(project: Project, sql: str) -> list[dict[str, Any]]:
    return project.query(sql).to_pylist()


def add_file(project: Project, name: str, text: str) -> None:
    (project.root / "data" / name).write_text(text)


def cli(project: Project, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=project.root,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_append_over_a_rewritten_input_fails_and_full_refresh_fixes_it(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    app = (
        "/* ---\nkind: append\nincremental_inputs: [silver.s]\n--- */\n"
        "select id, amount from silver.s\n"
    )
    project = make_project(
        CONFIG, {"silver/s.sql": MERGE, "gold/app.sql": app}, {"data/orders1.csv": ORDERS1}
    )
    assert project.run(trigger="test").ok
    add_file(project, "orders2.csv", "id,amount,status\n2,25,new\n3,30,new\n")

    result = project.run(trigger="test")

    assert result.status == "failed"
    step = result.step("gold.app")
    assert step.status == "failed"
    assert (
        "append model reads silver.s, which was rewritten (overwritten or merged) since the "
        "last run, so its new rows are not only new" in step.error
    )
    assert "medallion run --select app --full-refresh" in step.error
    assert versions(project)["gold.app"] == 0
    assert rows(project, "select id, amount from gold.app order by id") == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
    ]

    fixed = project.run(full_refresh=["gold.app"], trigger="test")

    assert fixed.ok, fixed.error
    assert fixed.step("gold.app").details["mode"] == "full"
    assert rows(project, "select id, amount from gold.app order by id") == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 25},
        {"id": 3, "amount": 30},
    ]


def test_full_refresh_of_one_model_rebuilds_it_from_all_input(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(CONFIG, {"silver/app.sql": APPEND}, {"data/orders1.csv": ORDERS1})
    assert project.run(trigger="test").ok
    add_file(project, "orders2.csv", "id,amount,status\n3,30,new\n")
    assert project.run(trigger="test").ok
    # the model now keeps only amounts >= 20: the next run rebuilds it, as it changed
    (project.root / "models/silver/app.sql").write_text(
        APPEND.replace("from bronze.orders", "from bronze.orders where amount >= 20")
    )
    project = Project.load(project.root)
    changed = project.run(trigger="test", yes=True).step("silver.app")
    assert (changed.details["rebuild"], changed.details["mode"]) == ("model changed", "full")
    assert project.run(trigger="test").step("silver.app").note == "no new data upstream"
    before = versions(project)

    result = project.run(full_refresh=["silver.app"], trigger="test")

    assert result.ok, result.error
    step = result.step("silver.app")
    assert step.details["full_refresh"] is True
    assert step.details["mode"] == "full"
    assert rows(project, "select id, amount from silver.app order by id") == [
        {"id": 2, "amount": 20},
        {"id": 3, "amount": 30},
    ]
    # only the named model was rebuilt: bronze was not re-ingested
    assert result.step("bronze.orders").note == "no new files (2 already ingested)"
    assert versions(project) == {**before, "silver.app": before["silver.app"] + 1}
    assert project.run(trigger="test").step("silver.app").note == "no new data upstream"


def test_reset_makes_the_next_run_rebuild_the_model(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(CONFIG, {"silver/app.sql": APPEND}, {"data/orders1.csv": ORDERS1})
    assert project.run(trigger="test").ok
    add_file(project, "orders2.csv", "id,amount,status\n3,30,new\n")
    assert project.run(trigger="test").ok
    before = versions(project)

    assert project.reset("app") == "silver.app"

    assert versions(project) == before  # nothing is deleted now
    assert [c["node"] for c in project.checkpoints()] == ["bronze.orders"]
    result = project.run(trigger="test")
    assert result.ok, result.error
    assert result.step("silver.app").details["mode"] == "full"
    assert rows(project, "select id, amount from silver.app order by id") == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
        {"id": 3, "amount": 30},
    ]
    assert project.state.pending_resets() == set()
    assert project.run(trigger="test").step("silver.app").note == "no new data upstream"


def test_cli_reset_asks_for_confirmation(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, {"silver/app.sql": APPEND}, {"data/orders1.csv": ORDERS1})
    assert project.run(trigger="test").ok
    before = project.checkpoints()

    refused = cli(project, "reset", "silver.app", stdin="n\n")

    assert refused.returncode != 0
    assert "Reset silver.app?" in refused.stderr
    assert project.state.pending_resets() == set()
    assert project.checkpoints() == before

    accepted = cli(project, "reset", "silver.app", "-y")

    assert accepted.returncode == 0, accepted.stderr
    assert project.state.pending_resets() == {"silver.app"}


def test_checkpoints_after_runs_in_api_and_status_json(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {"silver/app.sql": APPEND, "silver/m.sql": MERGE},
        {"data/orders1.csv": ORDERS1},
    )
    assert project.run(trigger="test").ok
    add_file(project, "orders2.csv", "id,amount,status\n3,30,new\n")
    second = project.run(trigger="test")
    assert second.ok, second.error

    checkpoints = project.checkpoints()

    assert [
        {k: c[k] for k in ("node", "input", "value", "delta_version", "run_id")}
        for c in checkpoints
    ] == [
        {
            "node": "bronze.orders",
            "input": "files",
            "value": "2 files ingested",
            "delta_version": 1,
            "run_id": second.run_id,
        },
        {
            "node": "silver.app",
            "input": "bronze.orders",
            "value": "v1",
            "delta_version": 1,
            "run_id": second.run_id,
        },
        {
            "node": "silver.m",
            "input": "bronze.orders",
            "value": "v1",
            "delta_version": 1,
            "run_id": second.run_id,
        },
    ]
    status = cli(project, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["checkpoints"] == checkpoints


@pytest.mark.parametrize("target", [0, 1])
def test_restoring_an_append_model_reprocesses_what_came_after(
    make_project: Callable[..., Project], target: int
) -> None:
    project = make_project(CONFIG, {"silver/app.sql": APPEND}, {"data/orders1.csv": ORDERS1})
    assert project.run(trigger="test").ok
    add_file(project, "orders2.csv", "id,amount,status\n3,30,new\n")
    assert project.run(trigger="test").ok
    add_file(project, "orders3.csv", "id,amount,status\n4,40,new\n5,50,new\n")
    assert project.run(trigger="test").ok

    restored = project.restore("silver.app", target)
    assert restored.ok, restored.error
    assert restored.steps[0].delta_version == 3
    expected_after_restore = [[1, 2], [1, 2, 3]][target]
    assert [r["id"] for r in rows(project, "select id from silver.app order by id")] == (
        expected_after_restore
    )

    result = project.run(trigger="test")

    assert result.ok, result.error
    step = result.step("silver.app")
    assert step.rows_written == 5 - len(expected_after_restore)
    # what an uninterrupted run gives: every bronze row exactly once
    assert rows(project, "select id, amount from silver.app order by id") == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
        {"id": 3, "amount": 30},
        {"id": 4, "amount": 40},
        {"id": 5, "amount": 50},
    ]
    assert project.run(trigger="test").step("silver.app").note == "no new data upstream"


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            {"silver/m.sql": "/* ---\nkind: merge\n--- */\nselect id from bronze.orders\n"},
            "kind merge needs unique_key: the column(s) identifying a row",
        ),
        (
            {
                "silver/m.sql": "/* ---\nkind: incremental_by_time\n--- */\n"
                "select id from bronze.orders\n"
            },
            "kind incremental_by_time needs time_column",
        ),
        (
            {
                "silver/m.sql": "/* ---\nkind: merge\nunique_key: id\ntrack: [amount]\n--- */\n"
                "select id, amount from bronze.orders\n"
            },
            "track does not apply to kind merge",
        ),
        (
            {
                "silver/a.sql": "select id from bronze.orders\n",
                "silver/m.sql": "/* ---\nkind: append\nincremental_inputs: [silver.a]\n--- */\n"
                "select id from bronze.orders\n",
            },
            "incremental_inputs names silver.a, which the model does not read",
        ),
        (
            {
                "silver/v.sql": "/* ---\nkind: view\n--- */\nselect id from bronze.orders\n",
                "silver/m.sql": "/* ---\nkind: append\nincremental_inputs: [silver.v]\n--- */\n"
                "select id from silver.v\n",
            },
            "incremental input silver.v is a view; only tables have versions to read new rows from",
        ),
    ],
    ids=["merge-no-key", "by-time-no-column", "track-on-merge", "input-not-read", "view-input"],
)
def test_load_time_errors(
    make_project: Callable[..., Project], models: dict[str, str], message: str
) -> None:
    project = make_project(CONFIG, models, {"data/orders1.csv": ORDERS1})

    with pytest.raises(ModelError) as err:
        project.validate()

    assert err.value.message == message
    assert err.value.file is not None
    assert err.value.file.endswith("models/silver/m.sql")
    with pytest.raises(ModelError):
        project.run(trigger="test")
    assert project.catalog.tables() == []
