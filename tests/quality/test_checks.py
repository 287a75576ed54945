"""Table-level checks: every type on a six-row table with failing counts worked out by hand.

data/orders.csv               not_null     unique(id)  status ok?  customer in     amount > 0
id cust status  amount        cust/amount  (id, cust)              z_customers?
1  10   new     5                                      yes         yes            yes
2  10   shipped 7                          dup         yes         yes            yes
2  10   new     NULL          amount       dup         yes         yes            NULL
3  NULL lost    4             cust                     no          (NULL: skip)   yes
4  99   weird   -6                                     no          no             no
5  11   weird   8                                      no          yes            yes
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from medallion.errors import ExecutionError
from medallion.project import Project

CONFIG = """
name: q
sources:
  orders:
    path: data/orders.csv
    columns: {id: INTEGER, customer_id: INTEGER, status: VARCHAR, amount: INTEGER}
  customers:
    path: data/customers.csv
    columns: {id: INTEGER}
"""
FILES = {
    "data/orders.csv": "id,customer_id,status,amount\n"
    "1,10,new,5\n2,10,shipped,7\n2,10,new,\n3,,lost,4\n4,99,weird,-6\n5,11,weird,8\n",
    "data/customers.csv": "id\n10\n11\n",
}
SELECT = "select id, customer_id, status, amount from bronze.orders\n"
# named so that alphabetical order would put the checked table first
PARENT = {"silver/z_customers.sql": "select id from bronze.customers\n"}


def orders_model(checks: str) -> dict[str, str]:
    return {"silver/a_orders.sql": f"/* ---\nchecks:\n{checks}--- */\n{SELECT}", **PARENT}


def results(project: Project, run_id: str) -> dict[str, tuple[Any, ...]]:
    return {
        r["name"]: (r["kind"], r["severity"], r["status"], r["failing_rows"], r["message"])
        for r in project.check_results(run_id)
    }


ALL_WARN = """\
  - not_null: [customer_id, amount]
    severity: warn
  - unique: id
    severity: warn
  - unique: [id, customer_id]
    severity: warn
  - unique: [id, status]
    severity: warn
  - accepted_values: {column: status, values: [new, shipped]}
    severity: warn
  - relationships: {column: customer_id, to: silver.z_customers.id}
    severity: warn
  - row_count: {min: 1, max: 3}
    severity: warn
  - row_count: {min: 6, max: 6}
    name: exactly_six
  - expression_is_true: amount > 0
    severity: warn
"""


def test_each_check_type_counts_failing_rows(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, orders_model(ALL_WARN), FILES)
    result = project.run()
    assert result.ok, result.error
    order = [s.node for s in result.steps]
    assert order.index("silver.z_customers") < order.index("silver.a_orders")
    step = result.step("silver.a_orders")
    assert step.status == "success"
    assert [(c.name, c.status) for c in step.checks] == [
        ("not_null_customer_id__amount", "warn"),
        ("unique_id", "warn"),
        ("unique_id__customer_id", "warn"),
        ("unique_id__status", "pass"),
        ("accepted_values_status", "warn"),
        ("relationships_customer_id__silver_z_customers", "warn"),
        ("row_count", "warn"),
        ("exactly_six", "pass"),
        ("expression_is_true_amount_0", "warn"),
    ]
    assert results(project, result.run_id) == {
        "not_null_customer_id__amount": (
            "not_null",
            "warn",
            "warn",
            2,
            "NULL values: customer_id (1), amount (1)",
        ),
        "unique_id": ("unique", "warn", "warn", 2, "1 duplicated value(s) of (id) over 2 rows"),
        "unique_id__customer_id": (
            "unique",
            "warn",
            "warn",
            2,
            "1 duplicated value(s) of (id, customer_id) over 2 rows",
        ),
        "unique_id__status": ("unique", "warn", "pass", 0, "all unique"),
        "accepted_values_status": (
            "accepted_values",
            "warn",
            "warn",
            3,
            "3 rows with values not accepted: 'weird', 'lost'",
        ),
        "relationships_customer_id__silver_z_customers": (
            "relationships",
            "warn",
            "warn",
            1,
            "1 rows (1 values of customer_id) have no match in silver.z_customers.id",
        ),
        "row_count": ("row_count", "warn", "warn", None, "6 rows, outside [1, 3]"),
        "exactly_six": ("row_count", "error", "pass", None, "6 rows, within [6, 6]"),
        "expression_is_true_amount_0": (
            "expression_is_true",
            "warn",
            "warn",
            2,
            "2 rows where (amount > 0) is not true",
        ),
    }
    stored = {r["name"]: r for r in project.check_results(result.run_id)}
    assert stored["row_count"]["observed"] == 6.0
    assert stored["unique_id"]["sample"] == [{"id": 2, "n": 2}]
    assert stored["relationships_customer_id__silver_z_customers"]["sample"] == [
        {"customer_id": 99, "n": 1}
    ]
    assert sorted(r["id"] for r in stored["expression_is_true_amount_0"]["sample"]) == [2, 4]


def test_where_filters_the_checked_rows(make_project: Callable[..., Project]) -> None:
    checks = "  - not_null: customer_id\n    where: status <> 'lost'\n"
    project = make_project(CONFIG, orders_model(checks), FILES)
    result = project.run()
    assert result.ok, result.error
    assert results(project, result.run_id)["not_null_customer_id"] == (
        "not_null",
        "error",
        "pass",
        0,
        "no NULLs",
    )


def test_error_check_fails_step_skips_downstream_but_table_is_written(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    models = {
        **orders_model("  - unique: id\n"),
        "gold/totals.sql": "select count(*) as n from silver.a_orders\n",
        "gold/deeper.sql": "select n from gold.totals\n",
        "gold/other.sql": "select count(*) as n from silver.z_customers\n",
    }
    project = make_project(CONFIG, models, FILES)
    result = project.run()
    assert not result.ok
    assert result.status == "failed"
    assert result.error == "1 step(s) failed: silver.a_orders"
    step = result.step("silver.a_orders")
    assert step.status == "failed"
    assert step.error == ("check(s) failed: unique_id: 1 duplicated value(s) of (id) over 2 rows")
    # dbt semantics: the table was written before its checks ran
    assert step.delta_version == 0
    assert versions(project)["silver.a_orders"] == 0
    assert project.query("select count(*) as n from silver.a_orders")["n"].to_pylist() == [6]
    assert (result.step("gold.totals").status, result.step("gold.totals").error) == (
        "skipped",
        "upstream silver.a_orders failed its checks",
    )
    assert (result.step("gold.deeper").status, result.step("gold.deeper").error) == (
        "skipped",
        "upstream gold.totals was skipped",
    )
    assert result.step("gold.other").status == "success"
    assert not project.catalog.exists("gold.totals")
    stored = {(s["table_name"], s["status"]) for s in project.steps(result.run_id)}
    assert ("totals", "skipped") in stored and ("a_orders", "failed") in stored
    assert results(project, result.run_id)["unique_id"][2] == "fail"


def test_a_failed_check_is_not_forgotten_by_the_next_run(
    make_project: Callable[..., Project],
) -> None:
    """Nothing new upstream: the model is up to date, but its failed check runs again, fails
    again, and what reads the table is still skipped (a check that passed is not re-run)."""
    models = {
        **orders_model("  - unique: id\n  - not_null: id\n"),
        "gold/totals.sql": "select count(*) as n from silver.a_orders\n",
    }
    project = make_project(CONFIG, models, FILES)
    assert not project.run().ok
    again = project.run()
    assert not again.ok
    step = again.step("silver.a_orders")
    assert step.note.startswith("up to date")
    assert [(c.name, c.status) for c in step.checks] == [("unique_id", "fail")]
    assert again.step("gold.totals").status == "skipped"


def test_warn_check_logs_and_run_succeeds(make_project: Callable[..., Project]) -> None:
    models = {
        **orders_model("  - unique: id\n    severity: warn\n"),
        "gold/totals.sql": "select count(*) as n from silver.a_orders\n",
    }
    project = make_project(CONFIG, models, FILES)
    result = project.run()
    assert result.ok, result.error
    assert result.step("silver.a_orders").status == "success"
    assert result.step("gold.totals").status == "success"
    assert results(project, result.run_id)["unique_id"][:4] == ("unique", "warn", "warn", 2)


def test_a_check_naming_a_missing_column_fails_the_step_before_writing(
    make_project: Callable[..., Project],
) -> None:
    """The check is bound against the model's output before the table is written: a misspelt
    column fails the model's step, naming the check, the column and the file, and no table
    version is written (a check that could not run used to be found after the commit)."""
    project = make_project(CONFIG, orders_model("  - not_null: custmer_id\n"), FILES)
    result = project.run()
    assert result.status == "failed"
    step = result.step("silver.a_orders")
    assert step.status == "failed"
    assert step.error is not None
    assert "check 'not_null_custmer_id': column 'custmer_id' is not in the model's output" in (
        step.error
    )
    assert "a_orders.sql" in step.error
    assert not project.catalog.exists("silver.a_orders")
    # validate says the same once the inputs exist
    with pytest.raises(ExecutionError, match="column 'custmer_id' is not in the model's output"):
        project.bind()


def test_a_check_expression_that_does_not_bind_fails_the_step_before_writing(
    make_project: Callable[..., Project],
) -> None:
    checks = "  - expression_is_true: amont > 0\n  - row_count: {min: 1, where: sttus = 'new'}\n"
    project = make_project(CONFIG, orders_model(checks), FILES)
    result = project.run()
    step = result.step("silver.a_orders")
    assert step.status == "failed"
    assert "check 'expression_is_true" in str(step.error)
    assert "its expression does not bind" in str(step.error)
    assert not project.catalog.exists("silver.a_orders")


PASSING = """\
  - not_null: id
  - unique: [id, status]
  - accepted_values: {column: status, values: [new, shipped, lost, weird]}
  - row_count: {min: 6}
  - expression_is_true: id > 0
"""


def test_passing_checks_are_settled_by_one_query(
    make_project: Callable[..., Project], monkeypatch: Any
) -> None:
    """The counting checks of a table are counted together; a check that finds nothing needs
    no query of its own (one query per check made the retail run 0.1 s slower at 100k rows)."""
    from medallion.quality import checks

    project = make_project(CONFIG, orders_model(PASSING), FILES)
    queries: list[str] = []
    real = checks._rows
    monkeypatch.setattr(checks, "_rows", lambda con, q: queries.append(q.sql()) or real(con, q))
    result = project.run()
    assert result.ok, result.error
    assert [c.status for c in result.step("silver.a_orders").checks] == ["pass"] * 5
    assert len(queries) == 1
    got = results(project, result.run_id)
    assert got["unique_id__status"] == ("unique", "error", "pass", 0, "all unique")
    assert got["row_count"] == ("row_count", "error", "pass", None, "6 rows, within [6, ]")


def test_a_check_that_cannot_run_among_passing_ones(
    make_project: Callable[..., Project],
) -> None:
    """The shared count fails on a check that cannot run (a column of the table dropped since
    it was written, as `medallion test` finds it): every check then runs on its own, so the
    error names its check and the others still pass."""
    from medallion.config.checks import NotNull
    from medallion.quality.checks import run_checks

    project = make_project(CONFIG, orders_model(PASSING), FILES)
    assert project.run().ok
    engine = project.workspace.new_engine()
    try:
        from medallion.engine import attach

        attach.table(engine, project.workspace.lakehouse, "silver.a_orders")
        specs = [*project.checks.tables["silver.a_orders"], NotNull(columns=["custmer_id"])]
        found = run_checks(engine, "silver.a_orders", specs)
    finally:
        engine.close()
    statuses = {c.name: c.status for c in found}
    assert statuses.pop("not_null_custmer_id") == "error"
    assert set(statuses.values()) == {"pass"} and len(statuses) == 5


FRESH_MODELS = {
    "silver/ts_now.sql": "/* ---\nchecks:\n  - freshness: {column: ts, max_age: 1 hour}\n--- */\n"
    "select now() as ts\n",
    "silver/ts_old.sql": "/* ---\nchecks:\n  - freshness: {column: ts, max_age: 2 days}\n"
    "    severity: warn\n--- */\nselect timestamp '2000-01-01 00:00:00' as ts\n",
    "silver/d_now.sql": "/* ---\nchecks:\n  - freshness: {column: d, max_age: 2 days}\n--- */\n"
    "select current_date as d\n",
    "silver/d_old.sql": "/* ---\nchecks:\n  - freshness: {column: d, max_age: 2 days}\n"
    "    severity: warn\n--- */\nselect date '2000-01-01' as d\n",
}


def test_freshness_on_timestamp_and_date(make_project: Callable[..., Project]) -> None:
    project = make_project("name: q\n", FRESH_MODELS)
    result = project.run()
    assert result.ok, result.error
    status = {
        s.node: (c.name, c.status) for s in result.steps for c in s.checks if c.kind == "freshness"
    }
    assert status == {
        "silver.ts_now": ("freshness_ts", "pass"),
        "silver.ts_old": ("freshness_ts", "warn"),
        "silver.d_now": ("freshness_d", "pass"),
        "silver.d_old": ("freshness_d", "warn"),
    }
    old = result.step("silver.ts_old").checks[0]
    assert old.message.startswith("newest ts is 2000-01-01T00:00:00+00:00: ")
    assert old.message.endswith(" days old, over 2 days")
    assert old.observed is not None and old.observed > 20 * 365 * 86400
    fresh = result.step("silver.ts_now").checks[0]
    assert fresh.observed is not None and 0 <= fresh.observed < 3600
    d_old = result.step("silver.d_old").checks[0]
    assert d_old.message.startswith("newest d is 2000-01-01T")


RECON_LEFT = "select * from (values (40), (60)) as t(amount)\n"  # sum 100
RECON_RIGHT = "select * from (values (100.5::double)) as t(x)\n"  # sum 100.5


def recon_project(make_project: Callable[..., Project], options: str) -> Project:
    header = (
        "/* ---\nchecks:\n  - reconciliation:\n      expression: sum(amount)\n"
        "      equals: {table: silver.b_right, expression: sum(x)}\n"
        f"{options}--- */\n"
    )
    return make_project(
        "name: q\n", {"silver/a_left.sql": header + RECON_LEFT, "silver/b_right.sql": RECON_RIGHT}
    )


def recon_result(project: Project) -> tuple[str, float | None, str]:
    result = project.run()
    order = [s.node for s in result.steps]
    assert order == ["silver.b_right", "silver.a_left"]
    check = result.step("silver.a_left").checks[0]
    assert check.name == "reconciliation_silver_b_right"
    assert result.ok == (check.status == "pass")
    return check.status, check.observed, check.message


def test_reconciliation_within_absolute_tolerance(make_project: Callable[..., Project]) -> None:
    project = recon_project(make_project, "      tolerance: 1\n")
    assert recon_result(project) == (
        "pass",
        -0.5,
        "sum(amount) = 100 vs silver.b_right: sum(x) = 100.5; difference -0.5 within tolerance",
    )


def test_reconciliation_over_absolute_tolerance(make_project: Callable[..., Project]) -> None:
    project = recon_project(make_project, "      tolerance: 0.1\n")
    assert recon_result(project) == (
        "fail",
        -0.5,
        "sum(amount) = 100 vs silver.b_right: sum(x) = 100.5; difference -0.5 over tolerance 0.1",
    )


def test_reconciliation_relative_tolerance(make_project: Callable[..., Project]) -> None:
    # allowed = 0.01 * 100.5 = 1.005 >= 0.5
    ok = recon_project(make_project, "      tolerance: 0.01\n      relative: true\n")
    assert recon_result(ok)[0] == "pass"


def test_reconciliation_relative_tolerance_exceeded(
    make_project: Callable[..., Project],
) -> None:
    # allowed = 0.001 * 100.5 = 0.1005 < 0.5
    bad = recon_project(make_project, "      tolerance: 0.001\n      relative: true\n")
    assert recon_result(bad) == (
        "fail",
        -0.5,
        "sum(amount) = 100 vs silver.b_right: sum(x) = 100.5; difference -0.5 "
        "over tolerance 0.1005",
    )


def test_singular_checks_warn_and_error(make_project: Callable[..., Project]) -> None:
    files = {
        **FILES,
        "checks/negative_amounts.sql": "/* ---\nseverity: warn\n--- */\n"
        "select id, amount from silver.a_orders where amount < 0\n",
        "checks/orphans.sql": "select o.id from silver.a_orders o\n"
        "left join silver.z_customers c on c.id = o.customer_id\n"
        "where o.customer_id is not null and c.id is null\n",
        "checks/none_missing.sql": "select id from silver.z_customers where id is null\n",
    }
    models = {"silver/a_orders.sql": SELECT, **PARENT}
    project = make_project(CONFIG, models, files)
    result = project.run()
    assert result.status == "failed"
    assert result.error == "1 step(s) failed: checks.orphans"
    singular = {
        s.node: (s.step, s.status, s.error) for s in result.steps if s.node.startswith("checks.")
    }
    assert singular == {
        "checks.negative_amounts": ("check", "success", None),
        "checks.none_missing": ("check", "success", None),
        "checks.orphans": ("check", "failed", "orphans: 1 failing rows"),
    }
    stored = results(project, result.run_id)
    assert stored["negative_amounts"] == ("singular", "warn", "warn", 1, "1 failing rows")
    assert stored["orphans"] == ("singular", "error", "fail", 1, "1 failing rows")
    assert stored["none_missing"] == ("singular", "error", "pass", 0, "no failing rows")
    sample = {r["name"]: r["sample"] for r in project.check_results(result.run_id)}
    assert sample["negative_amounts"] == [{"id": 4, "amount": -6}]
    assert sample["orphans"] == [{"id": 4}]


def test_a_failed_relationships_target_skips_the_checked_table(
    make_project: Callable[..., Project],
) -> None:
    models = {
        "silver/a_orders.sql": f"/* ---\nchecks:\n  - relationships: "
        f"{{column: customer_id, to: silver.z_customers.id}}\n--- */\n{SELECT}",
        "silver/z_customers.sql": "select id from bronze.customers\n"
        "where error('customers are broken') is null\n",
    }
    files = {
        **FILES,
        "checks/orders_exist.sql": "select id from silver.a_orders where id is null\n",
    }
    project = make_project(CONFIG, models, files)
    result = project.run()
    assert result.status == "failed"
    broken = result.step("silver.z_customers")
    assert broken.status == "failed"
    assert "customers are broken" in (broken.error or "")
    checked = result.step("silver.a_orders")
    assert (checked.status, checked.error) == ("skipped", "upstream silver.z_customers failed")
    singular = result.step("checks.orders_exist")
    assert (singular.status, singular.error) == (
        "skipped",
        "upstream silver.a_orders was skipped",
    )
    assert not project.catalog.exists("silver.a_orders")


WARN_RELATIONSHIPS = (
    "/* ---\nchecks:\n  - relationships: {column: customer_id, to: silver.z_customers.id}\n"
    f"    severity: warn\n--- */\n{SELECT}"
)


def test_a_warn_check_reading_a_failed_table_does_not_skip_the_checked_table(
    make_project: Callable[..., Project],
) -> None:
    """bronze.customers fails (the shrink guard of a full refresh), so silver.z_customers is
    skipped; silver.a_orders only reaches it through a warn relationships check: it is built,
    and so is gold, and the check runs against z_customers' latest version (the last one
    committed, untouched by this run), saying so."""
    models = {
        "silver/a_orders.sql": WARN_RELATIONSHIPS,
        **PARENT,
        "gold/totals.sql": "select customer_id, sum(amount) as total from silver.a_orders "
        "group by customer_id\n",
    }
    files = {**FILES, "data/customers.csv": "id\n" + "".join(f"{i}\n" for i in range(10, 20))}
    project = make_project(CONFIG, models, files)
    first = project.run()
    assert first.ok, first.error
    (project.root / "data" / "customers.csv").write_text("id\n10\n")
    result = project.run(full_refresh=True)
    assert result.status == "failed"
    assert result.step("bronze.customers").status == "failed"
    assert (result.step("silver.z_customers").status, result.step("silver.z_customers").error) == (
        "skipped",
        "upstream bronze.customers failed",
    )
    orders = result.step("silver.a_orders")
    assert orders.status == "success" and orders.delta_version == 1
    assert result.step("gold.totals").status == "success"
    [check] = orders.checks
    assert (check.status, check.failing_rows) == ("warn", 1)  # customer 99 (11 is known at v0)
    assert check.message == (
        "1 rows (1 values of customer_id) have no match in silver.z_customers.id (against "
        "silver.z_customers v0, its latest version: its step was skipped in this run)"
    )
    assert check.versions["silver.z_customers"] == 0


def test_a_warn_check_whose_table_was_never_built_is_reported_not_run(
    make_project: Callable[..., Project],
) -> None:
    models = {
        "silver/a_orders.sql": WARN_RELATIONSHIPS,
        "silver/z_customers.sql": "select id from bronze.customers\n"
        "where error('customers are broken') is null\n",
    }
    project = make_project(CONFIG, models, FILES)
    result = project.run()
    assert result.status == "failed"
    assert result.step("silver.z_customers").status == "failed"
    orders = result.step("silver.a_orders")
    assert orders.status == "success" and project.catalog.exists("silver.a_orders")
    [check] = orders.checks
    assert (check.severity, check.status) == ("warn", "error")
    assert check.message == (
        "not run: silver.z_customers, which it compares with, has no version yet (its step "
        "failed in this run)"
    )


def test_failing_rows_with_a_timestamp_column(make_project: Callable[..., Project]) -> None:
    # the samples of failing rows include a TIMESTAMP WITH TIME ZONE column
    sql = (
        "/* ---\nchecks:\n  - not_null: id\n    severity: warn\n"
        "  - expression_is_true: id > 1\n    severity: warn\n--- */\n"
        "select * from (values (1, timestamptz '2024-01-02 03:04:05+00'),"
        " (null, timestamptz '2024-01-02 03:04:05+00'), (2, null)) as t(id, ts)\n"
    )
    project = make_project("name: q\n", {"silver/t.sql": sql})
    result = project.run()
    assert result.ok, result.error
    checks = [(c.name, c.status, c.failing_rows) for c in result.step("silver.t").checks]
    assert checks == [("not_null_id", "warn", 1), ("expression_is_true_id_1", "warn", 2)]
    sample = result.step("silver.t").checks[0].sample
    assert sample == [{"id": None, "ts": "2024-01-02T03:04:05+00:00"}]


def test_checks_may_name_the_columns_an_scd2_model_adds(
    make_project: Callable[..., Project],
) -> None:
    scd2 = (
        "/* ---\nkind: scd2\nunique_key: id\ntrack: [status]\nchecks:\n"
        "  - unique: [id, valid_from]\n  - not_null: is_current\n"
        "  - expression_is_true: valid_to is null or valid_to >= valid_from\n--- */\n"
        "select id, status from bronze.orders\n"
    )
    project = make_project(CONFIG, {"silver/hist.sql": scd2}, FILES)
    result = project.run()
    assert result.ok, result.error
    assert project.bind()["silver.hist"] is None
