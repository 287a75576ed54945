"""The retail template on exports in the seed system's own shape, not on what our generator writes.

Part 1: a hand-made file set (``retail_exports/``, written by hand, 5-12 lines per file) with the
real system's shape - text keys (CUST0001, ORD0001, OL00001, PAY0001, PROD0001), upper-case codes,
ISO dates, order header totals that differ from their lines, payments of 0 - and the dirt a real
export has. Every count and figure below is worked out by hand from those files:

customers.csv (6 lines, 5 customers)
  CUST0002 is written twice (a duplicate line) with first name "  BEN " (-> Ben);
  CUST0003's email ``chen.li@example`` has no dot after the @ -> dim_customers__quarantine;
  CUST0004's email `` DANA.SMITH@Example.com `` is valid once trimmed and lower-cased; segment
  `` sme `` -> SME; CUST0005's segment is empty -> Unknown.
  customers_history 5, dim_customers 4 + 1 quarantined.
products.csv (5 lines): PROD0003's status `` active`` -> Active, brand empty -> Unbranded.
  dim_products 5.
orders.csv (9 lines, 8 orders)
  ORD0002 twice (duplicate), channel `` web `` ; ORD0003 ``Web``, CANCELLED; ORD0004 ``placed``;
  ORD0006's date ``2024-13-05`` is not a date -> fact_orders__quarantine; ORD0007's customer
  CUST0009 is in no export (an orphan); ORD0005's customer CUST0003 is quarantined.
  fact_orders 7 + 1 quarantined.
order_lines.csv (12 lines, 11 lines): OL00005 twice; OL00007 has quantity -1 -> quarantined;
  OL00002's discount is empty (0). fact_order_lines 10 + 1 quarantined.
  Line totals: OL1 2*25=50.00, OL2 4.50, OL3 80.00, OL4 60.00, OL5 3*12=36.00, OL6 2*12=24.00,
  OL8 80.00, OL9 25.00, OL10 60-6=54.00, OL11 4.50; sum 418.00.
payments.csv (9 lines, 8 payments): PAY0005 twice, method `` Paypal `` -> PAYPAL; PAY0008's
  status ``success`` -> SUCCESS; PAY0007 is 0.00 (kept, not a successful payment);
  PAY0003 FAILED, PAY0004 PENDING. fact_payments 8.

fact_orders (header total / net of lines / paid):
  ORD0001 03-01 DELIVERED 55.00 / 54.50 / 55.00  (header differs from lines)
  ORD0002 03-01 SHIPPED   80.00 / 80.00 / 80.00
  ORD0003 03-01 CANCELLED 60.00 / 60.00 /  0.00  (payment FAILED)
  ORD0004 03-02 PLACED    36.00 / 36.00 /  0.00  (payment PENDING)
  ORD0005 03-02 DELIVERED 49.00 / 24.00 / 49.00  (its -1 line is quarantined: differs)
  ORD0007 03-03 DELIVERED 25.00 / 25.00 /  0.00  (a 0 payment)
  ORD0008 03-03 DELIVERED 64.50 / 58.50 / 64.50  (header before the 6.00 discount: differs)

gold.sales_summary_daily (3 days)
  day    reported_sales (orders)  total_sales (orders) items customers cancelled paid
  03-01  55+80+60 = 195.00 (3)    54.50+80 = 134.50 (2)  3+1   2        1     135.00
  03-02  36+49    =  85.00 (2)    36+24    =  60.00 (2)  3+2   2        0      49.00
  03-03  25+64.50 =  89.50 (2)    25+58.50 =  83.50 (2)  1+2   2        0      64.50
  sum reported 369.50 = silver sum(total_amount); sum total 278.00 = silver net of non-cancelled.
gold.reporting_customer_stats: customers with any order = CUST0001, 0002, 0003, 0004, 0009 (5;
  CUST0005's only order is quarantined). CUST0001: 2 orders, reported 91.00, value 90.50, avg
  45.25, last 03-02, 1 day before as_of 03-03; CUST0004: 2 orders (one cancelled), reported
  124.50, value 58.50; CUST0003 and CUST0009: no name (not in dim_customers).
gold.reporting_sales_wide: 10 lines, sum(line_total) 418.00; its customer columns come from
  customers_history (OL00006: Chen Li, although CUST0003 is not in dim_customers).

Part 2: the generator at the seed's scale: raw / curated / gold counts as the seed document's
inventory (500 / 1000 / 3064 / 1000 / 100; 500 / 100, 1000 / 3064 / 1000; 60, 3064, 432).
"""

from __future__ import annotations

import csv
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from medallion.project import Project
from medallion.templates import get_template

EXPORTS = Path(__file__).parent / "retail_exports"
SOURCES = ("customers", "order_lines", "orders", "payments", "products")


def _project(root: Path, data: Path | None) -> Project:
    template = get_template("retail")
    template.scaffold(root)
    if data is None:
        template.generate(root)  # the default rows: the seed's scale
    else:
        shutil.rmtree(root / "data", ignore_errors=True)
        shutil.copytree(data, root / "data")
    return Project.load(root)


def _count(project: Project, table: str) -> int:
    if table.endswith("__quarantine") and not project.catalog.exists(table):
        return 0  # a quarantine table exists once a row was set aside
    return project.query(f"select count(*) n from {table}")["n"][0].as_py()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = _project(tmp_path_factory.mktemp("exports"), EXPORTS)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project


def test_hand_made_exports_counts(exports: Project) -> None:
    expected = {
        "bronze.customers": 6,
        "bronze.products": 5,
        "bronze.orders": 9,
        "bronze.order_lines": 12,
        "bronze.payments": 9,
        "silver.customers_history": 5,
        "silver.dim_customers": 4,
        "silver.dim_customers__quarantine": 1,
        "silver.dim_products": 5,
        "silver.fact_orders": 7,
        "silver.fact_orders__quarantine": 1,
        "silver.fact_order_lines": 10,
        "silver.fact_order_lines__quarantine": 1,
        "silver.fact_payments": 8,
        "silver.fact_payments__quarantine": 0,
        "gold.sales_summary_daily": 3,
        "gold.reporting_sales_wide": 10,
        "gold.customer_order_stats": 5,
        "gold.reporting_customer_stats": 5,  # a view over customer_order_stats
    }
    assert {t: _count(exports, t) for t in expected} == expected
    for name in SOURCES:  # text keys load as they are: nothing is set aside at bronze
        assert _count(exports, f"bronze.{name}__quarantine") == 0


def test_hand_made_exports_set_aside_the_dirt(exports: Project) -> None:
    q = exports.query
    assert q("select customer_id from silver.dim_customers__quarantine")[
        "customer_id"
    ].to_pylist() == ["CUST0003"]
    assert q("select order_id from silver.fact_orders__quarantine")["order_id"].to_pylist() == [
        "ORD0006"
    ]
    assert q("select order_line_id from silver.fact_order_lines__quarantine")[
        "order_line_id"
    ].to_pylist() == ["OL00007"]


def test_hand_made_exports_normalise_the_codes(exports: Project) -> None:
    q = exports.query
    customers = {
        r["customer_id"]: r
        for r in q(
            "select customer_id, full_name, email, segment from silver.dim_customers"
        ).to_pylist()
    }
    assert customers["CUST0002"]["full_name"] == "Ben Okafor"
    assert customers["CUST0004"]["email"] == "dana.smith@example.com"
    assert {c: r["segment"] for c, r in customers.items()} == {
        "CUST0001": "Retail",
        "CUST0002": "Corporate",
        "CUST0004": "SME",
        "CUST0005": "Unknown",
    }
    orders = {
        r["order_id"]: r
        for r in q(
            "select order_id, channel, status, total_amount, net_amount, amount_mismatch, "
            "paid_amount, payment_method, payment_status from silver.fact_orders"
        ).to_pylist()
    }
    assert {o: (r["channel"], r["status"]) for o, r in orders.items()} == {
        "ORD0001": ("WEB", "DELIVERED"),
        "ORD0002": ("WEB", "SHIPPED"),
        "ORD0003": ("WEB", "CANCELLED"),
        "ORD0004": ("MOBILE", "PLACED"),
        "ORD0005": ("STORE", "DELIVERED"),
        "ORD0007": ("WEB", "DELIVERED"),
        "ORD0008": ("MOBILE", "DELIVERED"),
    }
    figures = {
        o: (str(r["total_amount"]), str(r["net_amount"]), str(r["paid_amount"]))
        for o, r in orders.items()
    }
    assert figures == {
        "ORD0001": ("55.00", "54.50", "55.00"),
        "ORD0002": ("80.00", "80.00", "80.00"),
        "ORD0003": ("60.00", "60.00", "0.00"),
        "ORD0004": ("36.00", "36.00", "0.00"),
        "ORD0005": ("49.00", "24.00", "49.00"),
        "ORD0007": ("25.00", "25.00", "0.00"),
        "ORD0008": ("64.50", "58.50", "64.50"),
    }
    assert sorted(o for o, r in orders.items() if r["amount_mismatch"]) == [
        "ORD0001",
        "ORD0005",
        "ORD0008",
    ]
    assert (orders["ORD0005"]["payment_method"], orders["ORD0008"]["payment_status"]) == (
        "PAYPAL",
        "SUCCESS",
    )
    assert q("select status from silver.dim_products where product_id = 'PROD0003'")[
        "status"
    ].to_pylist() == ["Active"]


def test_hand_made_exports_gold_figures(exports: Project) -> None:
    daily = {
        r["order_date"]: r
        for r in exports.query("select * from gold.sales_summary_daily").to_pylist()
    }
    got = {
        d: (
            str(r["reported_sales"]),
            r["reported_orders"],
            str(r["total_sales"]),
            r["total_orders"],
            r["total_items"],
            r["unique_customers"],
            r["cancelled_orders"],
            str(r["total_paid"]),
        )
        for d, r in daily.items()
    }
    assert got == {
        date(2024, 3, 1): ("195.00", 3, "134.50", 2, 4, 2, 1, "135.00"),
        date(2024, 3, 2): ("85.00", 2, "60.00", 2, 5, 2, 0, "49.00"),
        date(2024, 3, 3): ("89.50", 2, "83.50", 2, 3, 2, 0, "64.50"),
    }
    assert [daily[d]["avg_order_value"] for d in sorted(daily)] == [67.25, 30.0, 41.75]

    stats = {
        r["customer_id"]: r
        for r in exports.query("select * from gold.reporting_customer_stats").to_pylist()
    }
    assert sorted(stats) == ["CUST0001", "CUST0002", "CUST0003", "CUST0004", "CUST0009"]
    one = stats["CUST0001"]
    assert (one["full_name"], one["total_orders"], one["order_count"]) == ("Asha Rao", 2, 2)
    assert (one["reported_lifetime_value"], one["lifetime_value"]) == (
        Decimal("91.00"),
        Decimal("90.50"),
    )
    assert (one["avg_order_value"], one["last_order_date"], one["days_since_last_order"]) == (
        45.25,
        date(2024, 3, 2),
        1,
    )
    four = stats["CUST0004"]
    assert (four["total_orders"], four["order_count"], four["segment"]) == (2, 1, "SME")
    assert (four["reported_lifetime_value"], four["lifetime_value"]) == (
        Decimal("124.50"),
        Decimal("58.50"),
    )
    assert stats["CUST0003"]["full_name"] is None and stats["CUST0009"]["full_name"] is None

    wide = exports.query(
        "select count(*) n, sum(line_total) s from gold.reporting_sales_wide"
    ).to_pylist()[0]
    assert (wide["n"], wide["s"]) == (10, Decimal("418.00"))
    names = {
        r["order_line_id"]: (r["customer_id"], r["customer_name"], r["customer_segment"])
        for r in exports.query(
            "select order_line_id, customer_id, customer_name, customer_segment "
            "from gold.reporting_sales_wide"
        ).to_pylist()
    }
    # the customer as they were when the order came in (customers_history), even CUST0003,
    # whose bad email keeps them out of dim_customers; none for CUST0009 (in no export) and
    # for OL00008, whose order ORD0006 is quarantined
    assert names["OL00006"] == ("CUST0003", "Chen Li", "SME")
    assert names["OL00003"] == ("CUST0002", "Ben Okafor", "Corporate")
    assert names["OL00009"] == ("CUST0009", None, None)
    assert names["OL00008"] == (None, None, None)


def test_hand_made_exports_run_green_and_verify(exports: Project) -> None:
    run = exports.last_run()
    checks = exports.check_results(run["run_id"])
    assert [c for c in checks if c["status"] in ("fail", "error")] == []
    warned = {c["name"]: c["failing_rows"] for c in checks if c["status"] == "warn"}
    assert warned == {
        # ORD0005 (CUST0003, quarantined) and ORD0007 (CUST0009, in no export)
        "relationships_customer_id__silver_dim_customers": 2,
        # the rows set aside: CUST0003, ORD0006, OL00007 (quantity -1: line total -25.00 too)
        "valid_email": 1,
        "parseable_order_date": 1,
        "positive_quantity": 1,
        "non_negative_amounts": 1,
    }
    verification = exports.verify()
    assert verification.ok, [line.problem for line in verification.lines if not line.ok]
    assert {r.name: r.status for r in verification.reconciliations} == {
        "reconciliation_silver_fact_orders": "pass",
        "reconciliation_reported_sales": "pass",
        "reconciliation_line_totals": "pass",
    }


@pytest.mark.parametrize(
    ("file", "line", "old", "new"),
    [
        ("orders.csv", 2, ",WEB,", ",FAX,"),
        ("payments.csv", 2, ",SUCCESS,", ",REFUNDED,"),
        ("customers.csv", 2, ",Retail", ",Enterprise"),
    ],
)
def test_an_unknown_code_still_fails(
    tmp_path: Path, file: str, line: int, old: str, new: str
) -> None:
    data = Path(shutil.copytree(EXPORTS, tmp_path / "exports"))
    lines = (data / file).read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    (data / file).write_text("".join(lines), encoding="utf-8")
    project = _project(tmp_path / "project", data)
    result = project.run(trigger="test")
    assert not result.ok
    checks = project.check_results(project.last_run()["run_id"])
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    assert len(failed) == 1 and failed[0].startswith("accepted_values"), failed


# --- part 2: the generator at the seed's scale ------------------------------------------------

#: the seed document's inventory: raw, curated and gold counts of the system on its own data
SEED_RAW = {
    "customers": 500,
    "orders": 1000,
    "order_lines": 3064,
    "payments": 1000,
    "products": 100,
}
SEED_CURATED = {
    "silver.dim_customers": 500,
    "silver.dim_products": 100,
    "silver.fact_orders": 1000,
    "silver.fact_order_lines": 3064,
    "silver.fact_payments": 1000,
}
KEYS = {
    "customers": "customer_id",
    "orders": "order_id",
    "order_lines": "order_line_id",
    "payments": "payment_id",
    "products": "product_id",
}
CURATED_OF = {
    "customers": "silver.dim_customers",
    "orders": "silver.fact_orders",
    "order_lines": "silver.fact_order_lines",
    "payments": "silver.fact_payments",
    "products": "silver.dim_products",
}


@pytest.fixture(scope="module")
def seed_scale(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = _project(tmp_path_factory.mktemp("seed_scale"), None)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project


def test_generator_reproduces_the_seed_inventory(seed_scale: Project) -> None:
    # The generator writes the seed's entities exactly, plus its dirt. Exact duplicate lines
    # are the one kind of dirt that cannot keep every count equal at once: the seed counts a raw
    # table's lines and a curated table's distinct keys, and a duplicate is one more line but no
    # more key. So the distinct keys of each raw file are the seed's raw counts, and its lines
    # are those plus the duplicates: curated + quarantined + duplicates removed = raw lines.
    for name, n in SEED_RAW.items():
        with open(seed_scale.root / "data" / f"{name}.csv", encoding="utf-8", newline="") as fh:
            keys = [row[KEYS[name]] for row in csv.DictReader(fh)]
        assert len(set(keys)) == n, name
        assert _count(seed_scale, f"bronze.{name}") == len(keys), name
        assert _count(seed_scale, f"bronze.{name}__quarantine") == 0, name
        curated = CURATED_OF[name]
        kept, aside = _count(seed_scale, curated), _count(seed_scale, f"{curated}__quarantine")
        assert kept + aside == SEED_CURATED[curated], name
        assert kept + aside + (len(keys) - n) == len(keys), name
    # gold: the lines set aside at silver (bad quantities) count towards the one-big-table
    assert _count(seed_scale, "gold.sales_summary_daily") == 60
    assert (
        _count(seed_scale, "gold.reporting_sales_wide")
        + _count(seed_scale, "silver.fact_order_lines__quarantine")
        == 3064
    )
    assert _count(seed_scale, "gold.reporting_customer_stats") == 432
    # the dirt is there and set aside, not absent
    for table in ("silver.dim_customers", "silver.fact_orders", "silver.fact_order_lines"):
        assert _count(seed_scale, f"{table}__quarantine") > 0, table


def test_generator_at_seed_scale_verifies(seed_scale: Project) -> None:
    run = seed_scale.last_run()
    checks = seed_scale.check_results(run["run_id"])
    assert [c for c in checks if c["status"] in ("fail", "error")] == []
    verification = seed_scale.verify()
    assert verification.ok, [line.problem for line in verification.lines if not line.ok]
