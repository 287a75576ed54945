"""Where checks are declared (model header, checks.yml, a source in medallion.yml), the load-time
errors for bad declarations, and `project.test()` (checks without building).

    data/a.csv   id  amount
                 1   5
                 2   NULL
                 2   7        -> unique(id) fails on 2 rows, not_null(amount) on 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from medallion.errors import ConfigError, MedallionError, ModelError
from medallion.project import Project

CONFIG = """
name: q
sources:
  orders:
    path: data/a.csv
    columns: {id: INTEGER, amount: INTEGER}
"""
DATA = "id,amount\n1,5\n2,\n2,7\n"
SELECT = "select id, amount from bronze.orders\n"


def stored(project: Project, run_id: str) -> list[tuple[Any, ...]]:
    return [
        (r["table_name"], r["name"], r["kind"], r["severity"], r["status"], r["failing_rows"])
        for r in project.check_results(run_id)
    ]


def test_checks_yml_declares_checks(make_project: Callable[..., Project]) -> None:
    files = {
        "data/a.csv": DATA,
        "checks.yml": "silver.x:\n  - unique: id\n  - not_null: amount\n    severity: warn\n",
    }
    project = make_project(CONFIG, {"silver/x.sql": SELECT}, files)
    result = project.run()
    assert result.status == "failed"
    assert result.step("silver.x").error == (
        "check(s) failed: unique_id: 1 duplicated value(s) of (id) over 2 rows"
    )
    assert stored(project, result.run_id) == [
        ("silver.x", "unique_id", "unique", "error", "fail", 2),
        ("silver.x", "not_null_amount", "not_null", "warn", "warn", 1),
    ]


def test_checks_yml_adds_to_the_model_header(make_project: Callable[..., Project]) -> None:
    model = "/* ---\nchecks:\n  - row_count: {max: 3}\n--- */\n" + SELECT
    files = {"data/a.csv": DATA, "checks.yml": "silver.x:\n  - not_null: id\n"}
    project = make_project(CONFIG, {"silver/x.sql": model}, files)
    result = project.run()
    assert result.ok, result.error
    assert stored(project, result.run_id) == [
        ("silver.x", "row_count", "row_count", "error", "pass", None),
        ("silver.x", "not_null_id", "not_null", "error", "pass", 0),
    ]


def test_source_checks_run_after_ingest(make_project: Callable[..., Project]) -> None:
    config = CONFIG + "    checks:\n      - unique: id\n        severity: warn\n"
    config += "      - not_null: amount\n"
    project = make_project(config, {"silver/x.sql": SELECT}, {"data/a.csv": DATA})
    result = project.run()
    assert result.status == "failed"
    ingest = result.step("bronze.orders")
    assert (ingest.step, ingest.status, ingest.rows_written) == ("ingest", "failed", 3)
    assert ingest.error == "check(s) failed: not_null_amount: NULL values: amount (1)"
    assert project.catalog.exists("bronze.orders")
    skipped = result.step("silver.x")
    assert (skipped.status, skipped.error) == (
        "skipped",
        "upstream bronze.orders failed its checks",
    )
    assert stored(project, result.run_id) == [
        ("bronze.orders", "unique_id", "unique", "warn", "warn", 2),
        ("bronze.orders", "not_null_amount", "not_null", "error", "fail", 1),
    ]


def load_error(
    make_project: Callable[..., Project],
    models: dict[str, str],
    files: dict[str, str] | None = None,
) -> MedallionError:
    project = make_project(CONFIG, models, {"data/a.csv": DATA, **(files or {})})
    with pytest.raises(MedallionError) as err:
        project.validate()
    assert not project.catalog.exists("bronze.orders")
    return err.value


def header(checks: str) -> str:
    return f"/* ---\nchecks:\n{checks}--- */\n{SELECT}"


def test_unknown_check_type_in_header(make_project: Callable[..., Project]) -> None:
    err = load_error(make_project, {"silver/x.sql": header("  - uniqe: id\n")})
    assert isinstance(err, ModelError)
    assert err.file is not None and err.file.endswith("models/silver/x.sql")
    assert err.line == 3
    assert "unknown check type 'uniqe' — did you mean 'unique'?" in err.message


def test_row_count_min_over_max_is_a_load_error(make_project: Callable[..., Project]) -> None:
    err = load_error(make_project, {"silver/x.sql": header("  - row_count: {min: 10, max: 1}\n")})
    assert "row_count min (10) is greater than max (1)" in err.message


def test_unknown_key_in_header(make_project: Callable[..., Project]) -> None:
    err = load_error(make_project, {"silver/x.sql": header("  - unique: id\n    severty: warn\n")})
    assert isinstance(err, ModelError)
    assert err.file is not None and err.file.endswith("models/silver/x.sql")
    assert "unknown key 'severty'" in err.message
    assert "did you mean 'severity'?" in err.message
    assert err.line == 4  # the line of `severty:`


def test_unknown_key_in_checks_yml(make_project: Callable[..., Project]) -> None:
    files = {"checks.yml": "silver.x:\n  - unique: {columns: [id], sevrity: warn}\n"}
    err = load_error(make_project, {"silver/x.sql": SELECT}, files)
    assert isinstance(err, ConfigError)
    assert err.file is not None and err.file.endswith("checks.yml")
    assert err.line == 2
    assert "unknown key 'sevrity'" in err.message
    assert "did you mean 'severity'?" in err.message


def test_unknown_check_type_in_checks_yml(make_project: Callable[..., Project]) -> None:
    files = {"checks.yml": "silver.x:\n  - unique: id\n  - not_nul: id\n"}
    err = load_error(make_project, {"silver/x.sql": SELECT}, files)
    assert isinstance(err, ConfigError)
    assert err.file is not None and err.file.endswith("checks.yml")
    assert err.line == 3
    assert "unknown check type 'not_nul' — did you mean 'not_null'?" in err.message


def test_check_on_unknown_table_in_checks_yml(make_project: Callable[..., Project]) -> None:
    files = {"checks.yml": "silver.orders:\n  - unique: id\n"}
    err = load_error(make_project, {"silver/order.sql": SELECT}, files)
    assert isinstance(err, ConfigError)
    assert err.file is not None and err.file.endswith("checks.yml")
    assert err.line == 1
    assert err.message == "unknown table 'silver.orders'"
    assert err.hint == "did you mean silver.order?"


def test_relationships_to_unknown_table_in_header(make_project: Callable[..., Project]) -> None:
    models = {
        "silver/x.sql": header("  - relationships: {column: id, to: silver.parnt.id}\n"),
        "silver/parent.sql": SELECT,
    }
    err = load_error(make_project, models)
    assert isinstance(err, ModelError)
    assert err.file is not None and err.file.endswith("models/silver/x.sql")
    assert err.message == (
        "check 'relationships_id__silver_parnt' of silver.x reads unknown table silver.parnt"
    )
    assert err.hint == "did you mean silver.parent?"
    assert err.line == 3  # the line of the check


def test_relationships_to_unknown_table_in_checks_yml(
    make_project: Callable[..., Project],
) -> None:
    files = {"checks.yml": "silver.x:\n  - relationships: {column: id, to: silver.parnt.id}\n"}
    err = load_error(make_project, {"silver/x.sql": SELECT, "silver/parent.sql": SELECT}, files)
    assert err.message == (
        "check 'relationships_id__silver_parnt' of silver.x reads unknown table silver.parnt"
    )
    assert err.hint == "did you mean silver.parent?"
    # the check is declared in checks.yml, line 2 — not in the model file
    assert err.file is not None and err.file.endswith("checks.yml")
    assert err.line == 2


def test_invalid_check_sql_is_a_load_error(make_project: Callable[..., Project]) -> None:
    err = load_error(make_project, {"silver/x.sql": header("  - expression_is_true: amount >\n")})
    assert isinstance(err, ModelError)
    assert err.message.startswith(
        "check 'expression_is_true_amount' of silver.x: expression is not a valid SQL expression"
    )


def test_test_runs_checks_without_building(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    models = {
        "silver/x.sql": header("  - unique: id\n    severity: warn\n"),
        "silver/y.sql": header("  - not_null: amount\n"),
    }
    project = make_project(CONFIG, models, {"data/a.csv": DATA})
    assert project.run().status == "failed"  # silver.y's not_null fails
    before = versions(project)

    only_x = project.test(["silver.x"])
    assert only_x.ok
    assert only_x.status == "success"
    assert [(s.node, s.step, s.status) for s in only_x.steps] == [("silver.x", "test", "success")]
    assert stored(project, only_x.run_id) == [
        ("silver.x", "unique_id", "unique", "warn", "warn", 2)
    ]

    everything = project.test()
    assert not everything.ok
    assert everything.error == "1 check step(s) failed: silver.y"
    assert [(s.node, s.status) for s in everything.steps] == [
        ("silver.x", "success"),
        ("silver.y", "failed"),
    ]
    assert stored(project, everything.run_id) == [
        ("silver.x", "unique_id", "unique", "warn", "warn", 2),
        ("silver.y", "not_null_amount", "not_null", "error", "fail", 1),
    ]
    assert versions(project) == before
    run = project.state.run(everything.run_id)
    assert run is not None and (run["command"], run["status"]) == ("test", "failed")


def test_test_before_any_run_fails_clearly(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG, {"silver/x.sql": header("  - unique: id\n")}, {"data/a.csv": DATA}
    )
    result = project.test()
    assert not result.ok
    step = result.step("silver.x")
    assert step.status == "failed"
    assert "has not been built yet" in (step.error or "")
    assert project.catalog.tables() == []
