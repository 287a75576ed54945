"""Anomaly checks: a metric compared with its values in earlier successful runs.

Each run replaces `data/a.csv` and rebuilds bronze (`full_refresh=True`), so the model sees
exactly the rows of the current file. The means, changes and z-scores are worked out by hand in
the comments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medallion.project import Project

CONFIG = """
name: q
sources:
  events:
    path: data/a.csv
    columns: {id: INTEGER, amount: INTEGER, flag: INTEGER}
"""


def csv(rows: list[tuple[int, int]], flagged: int = 0) -> str:
    """(id, amount) rows, the first `flagged` of them with flag = 1."""
    lines = [f"{i},{a},{1 if n < flagged else 0}" for n, (i, a) in enumerate(rows)]
    return "id,amount,flag\n" + "".join(line + "\n" for line in lines)


def n_rows(n: int, flagged: int = 0) -> str:
    return csv([(i, 1) for i in range(1, n + 1)], flagged)


def model(check: str) -> str:
    return f"/* ---\nchecks:\n  - anomaly: {check}\n--- */\nselect id, amount from bronze.events\n"


def rerun(project: Project, data: str) -> Any:
    (project.root / "data/a.csv").write_text(data)
    return project.run(full_refresh=True, yes=True)


def anomaly(result: Any, node: str = "silver.x") -> tuple[str, float | None, str]:
    check = next(c for c in result.step(node).checks if c.kind == "anomaly")
    return check.status, check.observed, check.message


def test_relative_row_count_fires_when_rows_disappear(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/x.sql": model("{metric: row_count, method: relative, threshold: 0.5}"),
            "gold/n.sql": "select count(*) as n from silver.x\n",
        },
        {"data/a.csv": n_rows(12)},
    )
    first = project.run()
    assert first.ok, first.error
    assert anomaly(first) == (
        "pass",
        12.0,
        "row_count = 12; not enough history yet (0 of 1 past runs)",
    )

    second = rerun(project, n_rows(10))  # |10 - 12| / 12 = 16.7%
    assert second.ok, second.error
    assert anomaly(second) == (
        "pass",
        10.0,
        "row_count = 10 vs mean 12 of 1 past run(s): 17% change, within 50%",
    )

    third = rerun(project, n_rows(5))  # half of 10; mean of (12, 10) = 11: |5 - 11| / 11 = 54.5%
    assert not third.ok
    assert anomaly(third) == (
        "fail",
        5.0,
        "row_count = 5 vs mean 11 of 2 past run(s): 55% change, over 50%",
    )
    step = third.step("silver.x")
    assert step.status == "failed"
    assert step.error == (
        "check(s) failed: anomaly_row_count: row_count = 5 vs mean 11 of 2 past run(s): "
        "55% change, over 50%"
    )
    assert project.query("select count(*) as n from silver.x")["n"].to_pylist() == [5]
    assert third.step("gold.n").status == "skipped"
    assert project.query("select n from gold.n")["n"].to_pylist() == [10]

    # the failed run is not history: the same five rows are compared with (12, 10) again
    fourth = rerun(project, n_rows(5))
    assert anomaly(fourth) == (
        "fail",
        5.0,
        "row_count = 5 vs mean 11 of 2 past run(s): 55% change, over 50%",
    )
    stored = [
        (r["status"], r["observed"])
        for r in project.check_results(fourth.run_id)
        if r["name"] == "anomaly_row_count"
    ]
    assert stored == [("fail", 5.0)]


def test_history_only_counts_successful_runs(make_project: Callable[..., Project]) -> None:
    # silver.guard fails the whole run when a row is flagged; silver.x's anomaly passes in that
    # run, but its value (14) must not become history
    guard = (
        "/* ---\nexpectations:\n  unflagged: {expect: flag = 0, action: fail}\n--- */\n"
        "select flag from bronze.events\n"
    )
    project = make_project(
        CONFIG,
        {"silver/x.sql": model("{metric: row_count, threshold: 0.5}"), "silver/guard.sql": guard},
        {"data/a.csv": n_rows(10)},
    )
    assert project.run().ok

    failed = rerun(project, n_rows(14, flagged=1))  # |14 - 10| / 10 = 40%
    assert failed.status == "failed"
    assert failed.step("silver.guard").status == "failed"
    assert anomaly(failed) == (
        "pass",
        14.0,
        "row_count = 14 vs mean 10 of 1 past run(s): 40% change, within 50%",
    )

    third = rerun(project, n_rows(10))  # history is (10) only, not (14, 10)
    assert third.ok, third.error
    assert anomaly(third) == (
        "pass",
        10.0,
        "row_count = 10 vs mean 10 of 1 past run(s): 0% change, within 50%",
    )


def test_zscore_of_a_custom_metric_with_min_history(make_project: Callable[..., Project]) -> None:
    check = "{metric: sum(amount), method: zscore, threshold: 3, min_history: 2}"
    project = make_project(
        CONFIG, {"silver/x.sql": model(check)}, {"data/a.csv": csv([(1, 60), (2, 40)])}
    )
    first = project.run()
    assert first.ok, first.error
    assert anomaly(first) == (
        "pass",
        100.0,
        "sum(amount) = 100; not enough history yet (0 of 2 past runs)",
    )
    assert first.step("silver.x").checks[0].name == "anomaly_sum_amount"

    second = rerun(project, csv([(1, 110)]))
    assert second.ok, second.error
    assert anomaly(second) == (
        "pass",
        110.0,
        "sum(amount) = 110; not enough history yet (1 of 2 past runs)",
    )

    # past (110, 100): mean 105, sample stddev sqrt((25 + 25) / 1) = 7.07; z = 0
    third = rerun(project, csv([(1, 100), (2, 5)]))
    assert third.ok, third.error
    assert anomaly(third) == (
        "pass",
        105.0,
        "sum(amount) = 105, z-score 0.00 against 2 past run(s), within 3.0",
    )

    # past (105, 110, 100): mean 105, stddev sqrt((0 + 25 + 25) / 2) = 5; z = 95 / 5 = 19
    fourth = rerun(project, csv([(1, 200)]))
    assert not fourth.ok
    assert anomaly(fourth) == (
        "fail",
        200.0,
        "sum(amount) = 200, z-score 19.00 against 3 past run(s), over 3.0",
    )

    # 104: z = -1 / 5 = -0.2 against the same three successful runs
    fifth = rerun(project, csv([(1, 104)]))
    assert fifth.ok, fifth.error
    assert anomaly(fifth) == (
        "pass",
        104.0,
        "sum(amount) = 104, z-score -0.20 against 3 past run(s), within 3.0",
    )


def test_warn_anomaly_is_logged_and_the_run_succeeds(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {"silver/x.sql": model("{metric: row_count, threshold: 0.5}\n    severity: warn")},
        {"data/a.csv": n_rows(4)},
    )
    assert project.run().ok
    second = rerun(project, n_rows(1))  # |1 - 4| / 4 = 75%
    assert second.ok, second.error
    assert anomaly(second) == (
        "warn",
        1.0,
        "row_count = 1 vs mean 4 of 1 past run(s): 75% change, over 50%",
    )
