"""A run checks the rows it wrote (quality/scoped.py): what it finds must be what checking the
whole table finds. Every count below is worked out from the CSV text of the test."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medallion.project import Project

CONFIG = """
name: scoped
sources:
  customers:
    path: data/customers*.csv
    columns: {code: VARCHAR, region: VARCHAR, op: VARCHAR}
  orders:
    path: data/orders*.csv
    columns: {order_id: VARCHAR, customer: VARCHAR, status: VARCHAR, amount: INTEGER}
"""
CUSTOMERS = """/* ---
kind: merge
unique_key: code
delete_when: op = 'D'
--- */
select code, region, op from bronze.customers
"""
ORDERS = """/* ---
kind: append
checks:
  - unique: order_id
  - not_null: customer
  - accepted_values: {column: status, values: [NEW, PAID]}
  - relationships: {column: customer, to: silver.customers.code}
  - row_count: {min: 1}
--- */
select order_id, customer, status, amount from bronze.orders
"""
FILES = {
    "data/customers1.csv": "code,region,op\nC1,North,\nC2,South,\nC3,East,\n",
    "data/orders1.csv": (
        "order_id,customer,status,amount\nO1,C1,NEW,10\nO2,C2,PAID,20\nO3,C2,NEW,30\n"
    ),
}
ORDERS_OK = "order_id,customer,status,amount\nO4,C3,PAID,40\nO5,C1,NEW,50\n"


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    p = make_project(
        CONFIG, {"silver/customers.sql": CUSTOMERS, "silver/orders.sql": ORDERS}, FILES
    )
    first = p.run(trigger="test")
    assert first.ok, first.error
    # the first build checks the whole table
    assert not any("written since" in c.message for c in first.step("silver.orders").checks)
    return p


def _checks(result, table: str = "silver.orders") -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {c.name: c for c in result.step(table).checks}


def test_a_run_checks_the_rows_it_wrote(project: Project) -> None:
    (project.root / "data/orders2.csv").write_text(ORDERS_OK)

    result = project.run(trigger="test")

    assert result.ok, result.error
    checks = _checks(result)
    assert {n: c.status for n, c in checks.items()} == dict.fromkeys(checks, "pass")
    written = "the 2 rows written since version 0"
    for name in (
        "not_null_customer",
        "accepted_values_status",
        "relationships_customer__silver_customers",
    ):
        assert checks[name].message.endswith(f"(checked on {written})"), checks[name].message
    assert checks["unique_order_id"].message.endswith(f"sharing a key with {written})")
    assert "written since" not in checks["row_count"].message  # whole-table checks stay whole
    assert project.test().ok  # and `medallion test` over whole tables agrees


def test_a_new_row_repeating_an_old_key_fails_unique(project: Project) -> None:
    (project.root / "data/orders2.csv").write_text(
        "order_id,customer,status,amount\nO6,C1,NEW,60\nO2,C3,PAID,70\n"
    )

    result = project.run(trigger="test")

    unique = _checks(result)["unique_order_id"]
    assert unique.status == "fail"
    assert unique.failing_rows == 2  # O2 of the first file and O2 of the second
    assert unique.sample == [{"order_id": "O2", "n": 2}]
    assert not result.ok


def test_bad_new_values_fail_and_stay_failed_until_fixed(project: Project) -> None:
    (project.root / "data/orders2.csv").write_text(
        "order_id,customer,status,amount\nO7,C9,LOST,70\nO8,,PAID,80\n"
    )

    result = project.run(trigger="test")

    checks = _checks(result)
    assert (
        checks["accepted_values_status"].status,
        checks["accepted_values_status"].failing_rows,
    ) == ("fail", 1)
    assert (checks["not_null_customer"].status, checks["not_null_customer"].failing_rows) == (
        "fail",
        1,
    )
    assert (
        checks["relationships_customer__silver_customers"].status,
        checks["relationships_customer__silver_customers"].failing_rows,
    ) == ("fail", 1)
    # the rows stay in the table (the append was committed): a check that failed is checked on
    # the whole table by the next run, which still finds them although its own rows are fine
    (project.root / "data/orders3.csv").write_text(
        "order_id,customer,status,amount\nO9,C1,NEW,90\n"
    )
    again = _checks(project.run(trigger="test"))
    assert (
        again["accepted_values_status"].status,
        again["accepted_values_status"].failing_rows,
    ) == ("fail", 1)
    assert "written since" not in again["accepted_values_status"].message
    assert again["unique_order_id"].status == "pass"  # it passed: its new rows are enough


def test_a_referenced_value_that_went_away_is_found_in_old_rows(project: Project) -> None:
    # C2 is deleted from silver.customers; orders O2 and O3 of the first run still point at it
    (project.root / "data/customers2.csv").write_text("code,region,op\nC2,South,D\n")
    (project.root / "data/orders2.csv").write_text(ORDERS_OK)

    result = project.run(trigger="test")

    rel = _checks(result)["relationships_customer__silver_customers"]
    assert (rel.status, rel.failing_rows) == ("fail", 2)
    assert "written since" not in rel.message  # checked on the whole table
    assert _checks(result)["not_null_customer"].message.endswith("since version 0)")


def test_a_referenced_table_that_only_changed_keeps_the_check_scoped(project: Project) -> None:
    # C1 moves (an update, no key goes away): the orders' check still reads only new rows
    (project.root / "data/customers2.csv").write_text("code,region,op\nC1,West,\n")
    (project.root / "data/orders2.csv").write_text(ORDERS_OK)

    result = project.run(trigger="test")

    assert result.ok, result.error
    rel = _checks(result)["relationships_customer__silver_customers"]
    assert rel.message.endswith("(checked on the 2 rows written since version 0)"), rel.message
