"""The retail template end to end, with gold values recomputed independently from the raw CSVs.

The expected values are computed here in plain Python (csv module, Decimal) from the files the
generator wrote, applying the cleaning rules the models document: the latest row per key (text
codes such as ORD0001), trimmed and upper-cased codes, cancelled orders excluded from the
template's sales and included in the source system's (reported_sales: header totals). Nothing of
medallion's SQL is reused.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from medallion.project import Project
from medallion.storage import tables


def _rows(root: Path, name: str) -> list[dict[str, str]]:
    with open(root / "data" / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _dedupe(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    # one file per source and exact duplicate lines: any copy is the latest
    return {r[key]: r for r in rows}


def _money(text: str) -> Decimal:
    return Decimal(text) if text.strip() else Decimal("0")


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@pytest.fixture(scope="module")
def expected(retail_built: Project) -> dict[str, object]:
    """Gold and silver as the template documents them, from the raw CSVs: silver keeps the
    latest row per id and quarantines rows breaking its rules (invalid email, quantity <= 0,
    negative amounts, an order date that is not a date)."""
    root = retail_built.root
    all_orders = _dedupe(_rows(root, "orders.csv"), "order_id")
    all_lines = _dedupe(_rows(root, "order_lines.csv"), "order_line_id")
    all_customers = _dedupe(_rows(root, "customers.csv"), "customer_id")
    customers = {k: c for k, c in all_customers.items() if EMAIL.match(c["email"].strip().lower())}
    lines = {
        k: r
        for k, r in all_lines.items()
        if int(r["quantity"]) > 0
        and Decimal(r["unit_price"]) >= 0
        and _money(r["discount_amount"]) >= 0
        and int(r["quantity"]) * Decimal(r["unit_price"]) - _money(r["discount_amount"]) >= 0
    }
    orders = {
        k: o
        for k, o in all_orders.items()
        if _date(o["order_date"] or "") is not None and Decimal(o["total_amount"]) >= 0
    }

    net: dict[str, Decimal] = defaultdict(Decimal)
    items: dict[str, int] = defaultdict(int)
    for line in lines.values():
        oid = line["order_id"]
        qty = int(line["quantity"])
        net[oid] += qty * Decimal(line["unit_price"]) - _money(line["discount_amount"])
        items[oid] += qty

    daily: dict[date, dict[str, object]] = {}
    per_customer: dict[str, dict[str, object]] = {}
    mismatches = 0
    for oid, o in orders.items():
        day = _date(o["order_date"])
        assert day is not None
        status = o["status"].strip().upper()
        if Decimal(o["total_amount"]) != net[oid]:
            mismatches += 1
        d = daily.setdefault(
            day,
            {
                "reported": Decimal(0),
                "all_orders": 0,
                "sales": Decimal(0),
                "orders": 0,
                "items": 0,
                "cancelled": 0,
                "customers": set(),
            },
        )
        # the source system's figures: every order of the day, header totals
        d["reported"] += Decimal(o["total_amount"])  # type: ignore[operator]
        d["all_orders"] += 1  # type: ignore[operator]
        # one stats row per customer with any order, whether in the customers export or not
        cid = o["customer_id"]
        c = per_customer.setdefault(
            cid,
            {
                "all": 0,
                "reported": Decimal(0),
                "count": 0,
                "value": Decimal(0),
                "first": day,
                "last": day,
            },
        )
        c["all"] += 1  # type: ignore[operator]
        c["reported"] += Decimal(o["total_amount"])  # type: ignore[operator]
        c["first"] = min(c["first"], day)  # type: ignore[type-var]
        c["last"] = max(c["last"], day)  # type: ignore[type-var]
        if status == "CANCELLED":
            d["cancelled"] += 1  # type: ignore[operator]
            continue
        d["sales"] += net[oid]  # type: ignore[operator]
        d["orders"] += 1  # type: ignore[operator]
        d["items"] += items[oid]  # type: ignore[operator]
        d["customers"].add(cid)  # type: ignore[union-attr]
        c["count"] += 1  # type: ignore[operator]
        c["value"] += net[oid]  # type: ignore[operator]
    return {
        "orders": orders,
        "lines": lines,
        "customers": customers,
        "quarantined": {
            "silver.dim_customers": len(all_customers) - len(customers),
            "silver.fact_order_lines": len(all_lines) - len(lines),
            "silver.fact_orders": len(all_orders) - len(orders),
        },
        "daily": daily,
        "per_customer": per_customer,
        "mismatches": mismatches,
        "raw_counts": {
            name: len(_rows(root, f"{name}.csv"))
            for name in ("customers", "orders", "order_lines", "payments", "products")
        },
    }


def test_every_step_succeeds_and_is_logged(retail_built: Project) -> None:
    run = retail_built.last_run()
    assert run is not None and run["status"] == "success"
    steps = retail_built.steps(run["run_id"])
    assert [s["status"] for s in steps] == ["success"] * 15
    assert [f"{s['layer']}.{s['table_name']}" for s in steps][:5] == [
        "bronze.customers",
        "bronze.order_lines",
        "bronze.orders",
        "bronze.payments",
        "bronze.products",
    ]
    for s in steps:
        if f"{s['layer']}.{s['table_name']}" == "gold.reporting_customer_stats":
            continue  # a view: resolved at query time, no Delta table
        path = retail_built.catalog.path(f"{s['layer']}.{s['table_name']}")
        info = tables.info(path)
        assert s["rows_written"] == info.rows
        assert s["delta_version"] == info.version == 0
        assert s["duration_s"] > 0
        # the commit carries the run id, so Delta history joins the run log
        assert tables.history(path, 1)[0]["medallion.run_id"] == run["run_id"]


def test_bronze_holds_every_raw_line(retail_built: Project, expected: dict) -> None:
    for name, n in expected["raw_counts"].items():
        got = retail_built.query(f"select count(*) as n from bronze.{name}").column("n")[0].as_py()
        assert got == n, name
        quarantined = retail_built.catalog.exists(f"bronze.{name}__quarantine")
        assert not quarantined, f"clean generated data should not quarantine {name}"


def test_silver_is_deduplicated_and_standardised(retail_built: Project, expected: dict) -> None:
    q = retail_built.query
    assert q("select count(*) n from silver.dim_customers")["n"][0].as_py() == len(
        expected["customers"]
    )
    assert q("select count(*) n from silver.fact_orders")["n"][0].as_py() == len(expected["orders"])
    assert q("select count(*) n from silver.fact_order_lines")["n"][0].as_py() == len(
        expected["lines"]
    )
    dupes = q("select count(*) - count(distinct customer_id) as d from silver.dim_customers")["d"][
        0
    ].as_py()
    assert dupes == 0
    bad_emails = q(
        "select count(*) n from silver.dim_customers "
        "where email <> lower(trim(email)) or first_name <> trim(first_name)"
    )["n"][0].as_py()
    assert bad_emails == 0
    channels = set(q("select distinct channel from silver.fact_orders")["channel"].to_pylist())
    assert channels == {"WEB", "MOBILE", "STORE"}
    statuses = set(q("select distinct status from silver.fact_orders")["status"].to_pylist())
    assert statuses == {"PLACED", "SHIPPED", "DELIVERED", "CANCELLED"}
    mismatches = q("select count(*) n from silver.fact_orders where amount_mismatch")["n"][0]
    assert mismatches.as_py() == expected["mismatches"] > 0


def test_sales_summary_daily_matches_raw_data(retail_built: Project, expected: dict) -> None:
    got = {
        r["order_date"]: r
        for r in retail_built.query("select * from gold.sales_summary_daily").to_pylist()
    }
    daily = expected["daily"]
    assert set(got) == set(daily)
    assert len(got) == 60
    assert min(got) == date(2024, 5, 2) and max(got) == date(2024, 6, 30)
    for day, e in daily.items():
        g = got[day]
        assert g["reported_sales"] == e["reported"], day
        assert g["reported_orders"] == e["all_orders"], day
        assert g["total_sales"] == e["sales"], day
        assert g["total_orders"] == e["orders"], day
        assert g["total_items"] == e["items"], day
        assert g["cancelled_orders"] == e["cancelled"], day
        assert g["unique_customers"] == len(e["customers"]), day
        if e["orders"]:
            # an average is a double rounded to cents: within half a cent of the exact value
            exact = e["sales"] / e["orders"]
            assert abs(Decimal(str(g["avg_order_value"])) - exact) <= Decimal("0.005"), day


def test_gold_total_reconciles_with_silver(retail_built: Project) -> None:
    gold = retail_built.query("select sum(total_sales) s from gold.sales_summary_daily")["s"][0]
    silver = retail_built.query(
        "select sum(net_amount) s from silver.fact_orders "
        "where status <> 'CANCELLED' and order_date is not null"
    )["s"][0]
    assert gold.as_py() == silver.as_py()


def test_reporting_sales_wide_is_one_row_per_line(retail_built: Project, expected: dict) -> None:
    t = retail_built.query(
        "select count(*) n, count(distinct order_line_id) d, sum(line_total) s "
        "from gold.reporting_sales_wide"
    ).to_pylist()[0]
    assert t["n"] == t["d"] == len(expected["lines"])
    lines = expected["lines"].values()
    total = sum(
        int(r["quantity"]) * Decimal(r["unit_price"]) - _money(r["discount_amount"]) for r in lines
    )
    assert t["s"] == total


def test_customer_stats_match_raw_data(retail_built: Project, expected: dict) -> None:
    rows = {
        r["customer_id"]: r
        for r in retail_built.query("select * from gold.reporting_customer_stats").to_pylist()
    }
    per_customer = expected["per_customer"]
    assert set(rows) == set(per_customer)
    as_of = max(expected["daily"])
    customers = expected["customers"]
    for cid, e in per_customer.items():
        g = rows[cid]
        assert g["total_orders"] == e["all"]
        assert g["reported_lifetime_value"] == e["reported"]
        assert g["order_count"] == e["count"]
        assert g["lifetime_value"] == e["value"]
        # the customer's attributes where the customer is in dim_customers, else NULL
        assert (g["email"] is None) == (cid not in customers)
        assert g["first_order_date"] == e["first"]
        assert g["last_order_date"] == e["last"]
        days = (as_of - e["last"]).days
        assert g["days_since_last_order"] == days
        assert g["churn_risk"] == (
            "active" if days <= 30 else "at_risk" if days <= 90 else "churned"
        )


def test_gold_tables_readable_by_polars(retail_built: Project) -> None:
    polars = pytest.importorskip("polars")
    path = retail_built.catalog.path("gold.sales_summary_daily")
    df = polars.read_delta(str(path))
    assert df.height == 60
    assert "total_sales" in df.columns


def test_second_run_ingests_nothing_and_keeps_gold(retail_project: Project) -> None:
    first = retail_project.run(trigger="test")
    assert first.ok
    before = retail_project.query("select * from gold.sales_summary_daily order by order_date")
    second = retail_project.run(trigger="test")
    assert second.ok
    for name in ("customers", "orders", "order_lines", "payments", "products"):
        step = second.step(f"bronze.{name}")
        assert step.rows_written == 0
        assert step.delta_version is None
        assert tables.info(retail_project.catalog.path(f"bronze.{name}")).version == 0
    after = retail_project.query("select * from gold.sales_summary_daily order by order_date")
    assert after.equals(before)


def test_generate_scales_order_lines(tmp_path: Path) -> None:
    from medallion.templates.retail.generate import generate

    counts = generate(tmp_path, rows=1234, seed=7)
    with open(tmp_path / "order_lines.csv", encoding="utf-8", newline="") as fh:
        ids = {r["order_line_id"] for r in csv.DictReader(fh)}
    assert len(ids) == 1234
    assert counts["order_lines.csv"] >= 1234
    # deterministic: the same seed writes the same bytes
    first = (tmp_path / "orders.csv").read_bytes()
    generate(tmp_path, rows=1234, seed=7)
    assert (tmp_path / "orders.csv").read_bytes() == first


def test_rules_quarantine_exactly_the_bad_rows(retail_built: Project, expected: dict) -> None:
    for table, n in expected["quarantined"].items():
        assert n > 0, f"the generator should produce some rows {table} rejects"
        got = retail_built.query(f"select count(*) n from {table}__quarantine")["n"][0].as_py()
        assert got == n, table
    bad_emails = retail_built.query(
        "select email, _failed_expectations from silver.dim_customers__quarantine"
    ).to_pylist()
    assert all(r["_failed_expectations"] == ["valid_email"] for r in bad_emails)
    assert not any(EMAIL.match(r["email"] or "") for r in bad_emails)


def test_checks_pass_and_the_ledger_adds_up(retail_built: Project, expected: dict) -> None:
    run = retail_built.last_run()
    checks = retail_built.check_results(run["run_id"])
    by_name = {(c["table_name"], c["name"]): c for c in checks}
    failing = [c for c in checks if c["status"] in ("fail", "error")]
    assert failing == []
    orphans = by_name[("silver.fact_orders", "relationships_customer_id__silver_dim_customers")]
    assert orphans["status"] == "warn" and orphans["failing_rows"] > 0
    recon = by_name[("gold.sales_summary_daily", "reconciliation_silver_fact_orders")]
    assert recon["status"] == "pass"
    # expectations are logged with their violation counts
    quarantined = by_name[("silver.fact_order_lines", "positive_quantity")]
    assert quarantined["kind"] == "expectation" and quarantined["failing_rows"] > 0
    verification = retail_built.verify()
    assert verification.ok
    assert len(verification.lines) == 14  # every step but the view, which writes nothing
    steps = {line.table: line for line in verification.lines}
    lines_step = steps["silver.fact_order_lines"]
    assert lines_step.rows_in == lines_step.rows_written + lines_step.rows_quarantined
    assert lines_step.rows_quarantined == expected["quarantined"]["silver.fact_order_lines"]
    assert {r.name for r in verification.reconciliations} == {
        "reconciliation_silver_fact_orders",
        "reconciliation_reported_sales",
        "reconciliation_line_totals",
    }
