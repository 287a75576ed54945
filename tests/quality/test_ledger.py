"""The row ledger (`project.verify()`, `medallion verify`): every step's rows balance, and agree
with what the Delta log recorded; a failing reconciliation makes verify fail too.

    data/a.csv   id  amount  email      amount > 0 (drop)   email like '%@%' (quarantine)
                 1   10      a@x.com    T                   T
                 2   -5      b@x.com    F                   T          -> dropped
                 3   20      bad        T                   F          -> quarantined
                 4   30      NULL       T                   NULL       -> quarantined
                 5   40      c@x.com    T                   T
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medallion.project import Project
from medallion.storage import tables

CONFIG = """
name: q
sources:
  orders:
    path: data/a.csv
    columns: {id: INTEGER, amount: INTEGER, email: VARCHAR}
"""
DATA = "id,amount,email\n1,10,a@x.com\n2,-5,b@x.com\n3,20,bad\n4,30,\n5,40,c@x.com\n"
MODEL = (
    "/* ---\nexpectations:\n  positive: {expect: amount > 0, action: drop}\n"
    "  valid_email: {expect: \"email like '%@%'\", action: quarantine}\n--- */\n"
    "select id, amount, email from bronze.orders\n"
)
GOLD = "select sum(amount) as total from silver.x\n"  # 10 + 40 = 50


def built(make_project: Callable[..., Project], gold: str = GOLD) -> Project:
    project = make_project(
        CONFIG, {"silver/x.sql": MODEL, "gold/total.sql": gold}, {"data/a.csv": DATA}
    )
    result = project.run()
    assert result.ok, result.error
    return project


def line_tuple(line: Any) -> tuple[Any, ...]:
    return (
        line.step,
        line.table,
        line.rows_in,
        line.rows_written,
        line.rows_dropped,
        line.rows_quarantined,
        line.balanced,
        line.table_matches,
        line.quarantine_matches,
        line.ok,
        line.problem,
    )


def verify_cli(project: Project, *, script: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m medallion verify`, or the installed `medallion verify` console script."""
    command = (
        [str(Path(sys.executable).parent / "medallion")]
        if script
        else [
            sys.executable,
            "-m",
            "medallion",
        ]
    )
    return subprocess.run(
        [*command, "verify"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ledger_balances_after_drops_and_quarantines(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    result = project.verify()
    assert result.ok
    assert [line_tuple(line) for line in result.lines] == [
        ("ingest", "bronze.orders", 5, 5, 0, 0, True, True, None, True, ""),
        ("model", "silver.x", 5, 2, 1, 2, True, True, True, True, ""),
        ("model", "gold.total", 1, 1, 0, 0, True, True, None, True, ""),
    ]
    assert result.reconciliations == []
    run_id = project.runs(1)[0]["run_id"]
    assert result.runs() == {run_id: True}
    # the Delta log itself: the model commit added 2 rows, its quarantine commit 2
    step = {s["table_name"]: s for s in project.steps(run_id)}["x"]
    added = {
        h["version"]: h["operationMetrics"]["num_added_rows"]
        for h in tables.history(project.catalog.path("silver.x"))
    }
    assert added[step["delta_version"]] == 2
    q_added = {
        h["version"]: h["operationMetrics"]["num_added_rows"]
        for h in tables.history(project.catalog.path("silver.x__quarantine"))
    }
    assert q_added[step["details"]["quarantine_version"]] == 2
    cli = verify_cli(project)
    assert cli.returncode == 0, cli.stdout + cli.stderr


def test_runs_that_build_nothing_do_not_use_up_runs(make_project: Callable[..., Project]) -> None:
    """`verify --runs 1` checks the last run that built tables, not a later `test`."""
    project = built(make_project)
    build = project.runs(1)[0]["run_id"]
    project.test()
    project.optimize()
    result = project.verify(1)
    assert list(result.runs()) == [build]
    assert len(result.lines) == 3


def test_ledger_covers_several_runs(make_project: Callable[..., Project]) -> None:
    project = built(make_project)
    second = project.run()
    assert second.ok, second.error
    result = project.verify()
    assert result.ok
    # newest run first; the second run ingested nothing new
    assert [(line.run_id, line.table) for line in result.lines][:3] == [
        (second.run_id, "bronze.orders"),
        (second.run_id, "silver.x"),
        (second.run_id, "gold.total"),
    ]
    assert len(result.runs()) == 2 and all(result.runs().values())


def tamper(project: Project, table: str) -> tuple[str, int]:
    run_id = project.runs(1)[0]["run_id"]
    con = sqlite3.connect(project.state_dir / "state.db")
    try:
        step_no = con.execute(
            "SELECT step_no FROM run_steps WHERE run_id = ? AND table_name = ?", (run_id, table)
        ).fetchone()[0]
        con.execute(
            "UPDATE run_steps SET rows_written = rows_written + 1 WHERE run_id = ? AND step_no = ?",
            (run_id, step_no),
        )
        con.commit()
    finally:
        con.close()
    return run_id, step_no


def test_tampered_step_is_reported(make_project: Callable[..., Project]) -> None:
    project = built(make_project)
    run_id, step_no = tamper(project, "x")
    result = project.verify()
    assert not result.ok
    assert result.runs() == {run_id: False}
    bad = [line for line in result.lines if not line.ok]
    assert [(line.run_id, line.step_no, line.table) for line in bad] == [
        (run_id, step_no, "silver.x")
    ]
    line = bad[0]
    assert (line.rows_in, line.rows_written, line.balanced, line.table_matches) == (
        5,
        3,
        False,
        False,
    )
    assert line.problem == (
        f"in 5 != written 3 + dropped 1 + quarantined 2; "
        f"the Delta commit v{project.steps(run_id)[step_no - 1]['delta_version']} "
        "applied 2 rows, not 3"
    )
    # the other steps are still fine
    assert [line.ok for line in result.lines if line.table != "silver.x"] == [True, True]


def test_verify_console_script_exits_1_on_a_tampered_ledger(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    tamper(project, "x")
    cli = verify_cli(project, script=True)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "silver.x: in 5 != written 3 + dropped 1 + quarantined 2" in cli.stdout


def test_python_m_medallion_verify_exits_1_on_a_tampered_ledger(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    tamper(project, "x")
    cli = verify_cli(project)
    assert "1 run(s) do not add up" in cli.stdout
    assert cli.returncode == 1, cli.stdout + cli.stderr


def test_failing_reconciliation_makes_verify_fail(make_project: Callable[..., Project]) -> None:
    # gold.total must equal the sum over silver.x (50); it equals 51 here
    gold = (
        "/* ---\nchecks:\n  - reconciliation:\n      expression: sum(total)\n"
        "      equals: {table: silver.x, expression: sum(amount)}\n--- */\n"
        "select sum(amount) + 1 as total from silver.x\n"
    )
    project = make_project(
        CONFIG, {"silver/x.sql": MODEL, "gold/total.sql": gold}, {"data/a.csv": DATA}
    )
    run = project.run()
    assert run.status == "failed"
    assert run.step("gold.total").status == "failed"
    result = project.verify()
    # the rows still add up (gold.total was written before its check failed) ...
    assert [(line.table, line.ok) for line in result.lines] == [
        ("bronze.orders", True),
        ("silver.x", True),
        ("gold.total", True),
    ]
    # ... but the reconciliation does not
    assert not result.ok
    assert [(r.name, r.status, r.observed, r.message) for r in result.reconciliations] == [
        (
            "reconciliation_silver_x",
            "fail",
            1.0,
            "sum(total) = 51 vs silver.x: sum(amount) = 50; difference 1 over tolerance 0",
        )
    ]
    cli = verify_cli(project, script=True)
    assert cli.returncode == 1, cli.stdout + cli.stderr


def test_passing_reconciliation_keeps_verify_ok(make_project: Callable[..., Project]) -> None:
    gold = (
        "/* ---\nchecks:\n  - reconciliation:\n      expression: sum(total)\n"
        "      equals: {table: silver.x, expression: sum(amount)}\n--- */\n" + GOLD
    )
    project = built(make_project, gold)
    result = project.verify()
    assert result.ok
    assert [(r.name, r.status, r.observed) for r in result.reconciliations] == [
        ("reconciliation_silver_x", "pass", 0.0)
    ]


def test_reconciliation_on_a_view_is_verified(make_project: Callable[..., Project]) -> None:
    view = (
        "/* ---\nkind: view\nchecks:\n  - reconciliation:\n      expression: sum(total)\n"
        "      equals: {table: silver.x, expression: sum(amount)}\n--- */\n"
        "select sum(amount) + 1 as total from silver.x\n"
    )
    project = make_project(
        CONFIG, {"silver/x.sql": MODEL, "gold/v.sql": view}, {"data/a.csv": DATA}
    )
    assert project.run().status == "failed"  # the view's check fails in the run ...
    result = project.verify()
    assert not result.ok  # ... and in verify, which reads views too
    assert [(r.name, r.status) for r in result.reconciliations] == [
        ("reconciliation_silver_x", "fail")
    ]


def test_ledger_counts_a_source_quarantine(make_project: Callable[..., Project]) -> None:
    # line 3 of e.csv does not convert to INTEGER: quarantined at ingest
    config = CONFIG + "  events:\n    path: data/e.csv\n    columns: {id: INTEGER}\n"
    config += "    max_rejected: 100%\n"  # one line in three: more than the default 10%
    files = {"data/a.csv": DATA, "data/e.csv": "id\n1\nx\n2\n"}
    project = make_project(config, {"silver/x.sql": MODEL}, files)
    assert project.run().ok
    result = project.verify()
    assert result.ok
    assert [line_tuple(line) for line in result.lines if line.table == "bronze.events"] == [
        ("ingest", "bronze.events", 3, 2, 0, 1, True, True, True, True, "")
    ]
