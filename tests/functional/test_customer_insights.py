"""The customer-insights template (seed 000, a Microsoft Fabric workspace) end to end.

1. A hand-written fixture (a handful of customers, products and orders, with the kinds of dirt the
   generator writes) whose gold values are computed by hand in the comments next to the asserts,
   run once and then again with a later orders file (status changes and a new order: merge by
   order_id).
2. The generated data at the template's default scale: every step succeeds, error checks pass,
   the ledger adds up, and every input row is in silver, a quarantine, or a counted drop.
3. A second run with no new data changes no table's Delta version.
4. `medallion demo -t customer-insights DIR` through the CLI entry point.
5. The generator: same seed, same bytes; the scale is what `rows` says; daily drops are
   deterministic and an incremental run over them equals a rebuild.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import textwrap
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medallion.project import Project
from medallion.storage import tables
from medallion.templates import get_template

TEMPLATE = "customer-insights"
GOLD = (
    "gold.customer_segments",
    "gold.product_metrics",
    "gold.sales_summary_daily",
    "gold.sales_summary_monthly",
)


def _one(project: Project, sql: str) -> object:
    return project.query(sql).to_pylist()[0]


def _count(project: Project, table: str) -> int:
    """Rows of a table; 0 for a quarantine table that was never needed (and so never written)."""
    if not project.catalog.exists(table):
        return 0
    return _one(project, f"select count(*) n from {table}")["n"]


def _by(project: Project, table: str, key: str) -> dict[object, dict]:
    return {r[key]: r for r in project.query(f"select * from {table}").to_pylist()}


# ---------------------------------------------------------------------------------------------
# 1. The hand-written fixture
# ---------------------------------------------------------------------------------------------

CUSTOMERS_CSV = """\
customer_id,first_name,last_name,email,phone,city,country,signup_date,marketing_opt_in,updated_at
1,Ann,Lee,ann@example.com,+1 555 0101,Boston,US,2024-01-01,Y,2024-01-01 10:00:00
2,  BOB ,smith, BOB@EXAMPLE.COM ,,Leeds,United Kingdom,2024-01-02,no,2024-01-02 10:00:00
3,Cleo,Diaz,cleo@example.com,,Paris,fr,2024-01-03,1,2024-01-03 10:00:00
3,Cleo,Diaz,cleo@example.com,,Lyon,France,2024-01-03,1,2024-02-01 10:00:00
4,Dan,Ng,dan@example.com,,Berlin,DE,2024-01-04,,2024-01-04 10:00:00
4,Dan,Ng,dan@example.com,,Berlin,DE,2024-01-04,,2024-01-04 10:00:00
5,Eve,Ray,not-an-email,,Toronto,CA,2024-01-05,0,2024-01-05 10:00:00
"""


def _order(
    oid: int,
    customer: int | None,
    when: str,
    status: str,
    items: list[tuple[int, int, str | None, str]],
    updated: str = "2024-03-20T00:00:00Z",
) -> str:
    """One line of orders.json; items are (product_id, quantity, unit_price, discount)."""
    record = {
        "order_id": oid,
        "customer_id": customer,
        "order_date": when,
        "status": status,
        "channel": "web",
        "payment_method": "card",
        "updated_at": updated,
        "items": [
            {
                "product_id": p,
                "quantity": q,
                "unit_price": None if price is None else float(price),
                "discount": float(d),
            }
            for p, q, price, d in items
        ],
    }
    return json.dumps(record)


LATER = "2024-03-21T00:00:00Z"  # updated_at of the day-2 file's versions

ORDERS = [
    # sales (1002 in the second system's timestamp format, 1003 with a messy status)
    _order(1001, 1, "2024-03-01T10:00:00Z", "delivered", [(10, 2, "10", "0"), (11, 1, "50", "5")]),
    _order(1002, 1, "2024-03-05 09:00:00", "delivered", [(12, 1, "20.00", "0")]),
    _order(1003, 2, "2024-03-05T12:00:00Z", "Shipped ", [(10, 1, "10.00", "0")]),
    _order(1005, 3, "2024-02-20T08:00:00Z", "delivered", [(11, 2, "50.00", "10")]),
    # product 99 is not in the catalogue
    _order(1007, 4, "2024-01-15T08:00:00Z", "DELIVERED", [(10, 3, "10", "0"), (99, 1, "7", "0")]),
    # customer 77 is not in the CRM export
    _order(1011, 77, "2024-03-08T08:00:00Z", "delivered", [(12, 2, "20.00", "0")]),
    # a promotional price, and the line sent twice (an API retry)
    _order(1012, 5, "2024-03-02T08:00:00Z", "delivered", [(12, 1, "18.00", "0")]),
    _order(1012, 5, "2024-03-02T08:00:00Z", "delivered", [(12, 1, "18.00", "0")]),
    # not sales: cancelled; returned (its older version, delivered, loses by updated_at)
    _order(1004, 3, "2024-03-10T08:00:00Z", "cancelled", [(11, 1, "50.00", "0")]),
    _order(1006, 4, "2024-03-10T08:00:00Z", "delivered", [(10, 1, "10", "0")], "2024-03-11"),
    _order(1006, 4, "2024-03-10T08:00:00Z", "returned", [(10, 1, "10", "0")], "2024-03-15"),
    # quarantined in silver: no date; no valid line (quantity 0); no customer
    _order(1008, 2, "N/A", "delivered", [(10, 1, "10.00", "0")]),
    _order(1009, 1, "2024-03-09T08:00:00Z", "delivered", [(10, 0, "10.00", "0")]),
    _order(1010, None, "2024-03-09T08:00:00Z", "delivered", [(10, 1, "10.00", "0")]),
    # quarantined in bronze: a record cut in the middle
    '{"order_id": 1013, "customer_id": 1, "order_da',
]

# a later export: 1003 delivered, 1002 cancelled after all, a new order of customer 2
ORDERS_DAY2 = [
    _order(1003, 2, "2024-03-05T12:00:00Z", "delivered", [(10, 1, "10.00", "0")], LATER),
    _order(1002, 1, "2024-03-05 09:00:00", "cancelled", [(12, 1, "20.00", "0")], LATER),
    _order(1014, 2, "2024-03-12T15:30:00Z", "pending", [(14, 2, "5.00", "0")], LATER),
]


def _products_table() -> pa.Table:
    rows = [
        # product 12 twice: the newer row (price 20.00) wins
        (12, "Gizmo", "Electronics", "25.00", datetime(2023, 6, 1)),
        (10, "Widget", "Home", "10.00", datetime(2024, 1, 1)),
        (11, "Gadget", " electronics", "50.00", datetime(2024, 1, 1)),
        (12, "Gizmo", "Electronics", "20.00", datetime(2024, 1, 1)),
        (13, "Broken", "Home", "0.00", datetime(2024, 1, 1)),  # quarantined: price 0
        (14, "Unsold", "TOYS", "5.00", datetime(2024, 1, 1)),
    ]
    return pa.table(
        {
            "product_id": pa.array([r[0] for r in rows], pa.int64()),
            "sku": [f"SKU-{r[0]:06d}" for r in rows],
            "product_name": [r[1] for r in rows],
            "category": [r[2] for r in rows],
            "subcategory": [None] * len(rows),
            "brand": ["Acme"] * len(rows),
            "unit_price": pa.array([Decimal(r[3]) for r in rows], pa.decimal128(10, 2)),
            "is_active": [True] * len(rows),
            "updated_at": pa.array([r[4] for r in rows], pa.timestamp("us")),
        }
    )


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict, dict]:
    """The template's project on the hand-written files: (project, gold after the first run,
    gold after the day-2 orders file)."""
    root = tmp_path_factory.mktemp("hand")
    get_template(TEMPLATE).scaffold(root)
    data = root / "data"
    data.mkdir()
    (data / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (data / "orders.json").write_text("\n".join(ORDERS) + "\n", encoding="utf-8")
    pq.write_table(_products_table(), data / "products.parquet")
    project = Project.load(root)
    first = project.run(trigger="test")
    assert first.ok, first.error

    def snapshot() -> dict:
        return {
            "segments": _by(project, "gold.customer_segments", "customer_id"),
            "daily": _by(project, "gold.sales_summary_daily", "order_date"),
            "monthly": _by(project, "gold.sales_summary_monthly", "order_month"),
            "products": _by(project, "gold.product_metrics", "product_id"),
            "orders": _by(project, "silver.orders", "order_id"),
        }

    before = snapshot()
    (data / "orders_day2.json").write_text("\n".join(ORDERS_DAY2) + "\n", encoding="utf-8")
    second = project.run(trigger="test")
    assert second.ok, second.error
    after = snapshot()
    after["run"] = second
    return project, before, after


def test_hand_silver_is_clean(hand: tuple[Project, dict, dict]) -> None:
    project, before, _ = hand
    customers = _by(project, "silver.customers", "customer_id")
    assert sorted(customers) == [1, 2, 3, 4]  # 4 written twice, 5 quarantined (invalid email)
    bob = customers[2]
    assert (bob["first_name"], bob["last_name"], bob["full_name"]) == ("Bob", "Smith", "Bob Smith")
    assert (bob["email"], bob["country"], bob["marketing_opt_in"]) == (
        "bob@example.com",
        "GB",
        False,
    )
    assert (customers[3]["city"], customers[3]["country"]) == ("Lyon", "FR")  # newer version
    assert customers[1]["marketing_opt_in"] is True and customers[4]["marketing_opt_in"] is None
    bad = project.query(
        "select customer_id, _failed_expectations from silver.customers__quarantine"
    )
    assert bad.to_pylist() == [{"customer_id": 5, "_failed_expectations": ["valid_email"]}]

    products = _by(project, "silver.products", "product_id")
    assert sorted(products) == [10, 11, 12, 14]  # 13 quarantined (price 0)
    assert products[11]["category"] == "Electronics" and products[14]["category"] == "Toys"
    assert products[12]["unit_price"] == Decimal("20.00")

    orders = before["orders"]
    assert sorted(orders) == [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012]
    assert orders[1006]["status"] == "returned" and not orders[1006]["is_sale"]
    assert orders[1003]["status"] == "shipped"
    assert orders[1002]["order_ts"] == datetime(2024, 3, 5, 9, 0)
    # 1001: 2 x 10.00 + (1 x 50.00 - 5.00) = 65.00 over 3 units
    assert (orders[1001]["order_revenue"], orders[1001]["units"]) == (Decimal("65.00"), 3)
    quarantined = project.query(
        "select order_id, _failed_expectations from silver.orders__quarantine order by order_id"
    ).to_pylist()
    assert quarantined == [
        {"order_id": 1008, "_failed_expectations": ["parseable_order_date"]},
        {"order_id": 1009, "_failed_expectations": ["has_valid_items"]},
        {"order_id": 1010, "_failed_expectations": ["has_customer"]},
    ]
    # the cut record is kept, raw, in the bronze quarantine
    raw = project.query("select _raw, _error from bronze.orders__quarantine").to_pylist()
    assert len(raw) == 1 and raw[0]["_raw"].startswith('{"order_id": 1013')


def test_hand_customer_segments(hand: tuple[Project, dict, dict]) -> None:
    segments = hand[1]["segments"]
    # Sales of known customers (5 is quarantined, 77 unknown): as_of = last sale 2024-03-08 + 1.
    #   c1: 1001 (03-01, 65.00), 1002 (03-05, 20.00) -> recency 4, frequency 2, monetary 85.00
    #   c2: 1003 (03-05, 10.00)                      -> recency 4, frequency 1, monetary 10.00
    #   c3: 1005 (02-20, 90.00); 1004 cancelled      -> recency 18, frequency 1, monetary 90.00
    #   c4: 1007 (01-15, 37.00); 1006 returned       -> recency 54, frequency 1, monetary 37.00
    # score = least(5, 1 + floor(5 * percent_rank)), percent_rank = (rank - 1) / 3:
    #   R (recency desc): c4 rank 1 -> 1; c3 rank 2 -> 1 + floor(5/3) = 2; c1, c2 rank 3 -> 4
    #   F (ascending): c2, c3, c4 rank 1 -> 1; c1 rank 4 -> least(5, 6) = 5
    #   M (ascending): c2 10 -> 1; c4 37 -> 2; c1 85 -> 4; c3 90 -> 5
    # segments: c1 454 Champions; c2 411 New Customers (R >= 4, F = 1);
    #           c3 215 Hibernating (R = 2, F < 3); c4 112 Lost
    assert sorted(segments) == [1, 2, 3, 4]
    expected = {
        1: (4, 2, Decimal("85.00"), "454", "Champions", date(2024, 3, 5)),
        2: (4, 1, Decimal("10.00"), "411", "New Customers", date(2024, 3, 5)),
        3: (18, 1, Decimal("90.00"), "215", "Hibernating", date(2024, 2, 20)),
        4: (54, 1, Decimal("37.00"), "112", "Lost", date(2024, 1, 15)),
    }
    for cid, (recency, frequency, monetary, cell, segment, last) in expected.items():
        row = segments[cid]
        assert row["as_of_date"] == date(2024, 3, 9)
        got = (row["recency_days"], row["frequency"], row["monetary"], row["rfm_cell"])
        assert got == (recency, frequency, monetary, cell), cid
        assert (row["segment"], row["last_order_date"]) == (segment, last), cid
    assert segments[1]["avg_order_value"] == Decimal("42.50")  # 85.00 / 2
    assert segments[1]["first_order_date"] == date(2024, 3, 1)


def test_hand_sales_summary(hand: tuple[Project, dict, dict]) -> None:
    daily, monthly = hand[1]["daily"], hand[1]["monthly"]
    # (revenue, orders, units, avg_order_value, distinct_customers, cancelled, returned)
    assert {d: _summary(r) for d, r in daily.items()} == {
        date(2024, 1, 15): ("37.00", 1, 4, 37.0, 1, 0, 0),  # 1007: 3 x 10 + 1 x 7
        date(2024, 2, 20): ("90.00", 1, 2, 90.0, 1, 0, 0),  # 1005: 2 x 50 - 10
        date(2024, 3, 1): ("65.00", 1, 3, 65.0, 1, 0, 0),  # 1001
        date(2024, 3, 2): ("18.00", 1, 1, 18.0, 1, 0, 0),  # 1012 (its duplicate line dropped)
        date(2024, 3, 5): ("30.00", 2, 2, 15.0, 2, 0, 0),  # 1002 20.00 + 1003 10.00
        date(2024, 3, 8): ("40.00", 1, 2, 40.0, 1, 0, 0),  # 1011: 2 x 20.00, unknown customer
        date(2024, 3, 10): ("0.00", 0, 0, None, 0, 1, 1),  # 1004 cancelled, 1006 returned
    }
    # March: 65 + 18 + 30 + 40 = 153.00 in 5 sales (AOV 30.60), units 3 + 1 + 2 + 2 = 8,
    # customers {1, 5, 2, 77} = 4 (not the sum of the days' 5: customer 1 bought twice)
    assert {m: _summary(r) for m, r in monthly.items()} == {
        date(2024, 1, 1): ("37.00", 1, 4, 37.0, 1, 0, 0),
        date(2024, 2, 1): ("90.00", 1, 2, 90.0, 1, 0, 0),
        date(2024, 3, 1): ("153.00", 5, 8, 30.6, 4, 1, 1),
    }


def _summary(r: dict) -> tuple:
    return (
        str(r["revenue"]),
        r["orders"],
        r["units"],
        r["avg_order_value"],
        r["distinct_customers"],
        r["cancelled_orders"],
        r["returned_orders"],
    )


def test_hand_product_metrics(hand: tuple[Project, dict, dict]) -> None:
    products = hand[1]["products"]
    # lines of sales: p10 2 x 10 (1001) + 1 x 10 (1003) + 3 x 10 (1007) = 60.00, 6 units, 3 orders
    #                 p11 1 x 50 - 5 (1001) + 2 x 50 - 10 (1005)      = 135.00, 3 units, 2 orders
    #                 p12 1 x 20 (1002) + 2 x 20 (1011) + 1 x 18 (1012) = 78.00, 4 units, 3 orders
    #                 p99 (not in the catalogue) 1 x 7 (1007)          = 7.00, category Unknown
    #                 p14 never sold; p13 quarantined in silver and never sold: not listed
    # ranks: p11 1, p12 2, p10 3, p99 4, p14 5; Electronics = 135 + 78 = 213:
    # shares p11 135 / 213 = 0.6338, p12 78 / 213 = 0.3662
    got = {
        pid: (
            r["category"],
            r["units_sold"],
            str(r["revenue"]),
            r["order_count"],
            r["revenue_rank"],
            r["category_rank"],
            r["category_revenue_share"],
            r["avg_selling_price"],
        )
        for pid, r in products.items()
    }
    assert got == {
        11: ("Electronics", 3, "135.00", 2, 1, 1, 0.6338, 45.0),
        12: ("Electronics", 4, "78.00", 3, 2, 2, 0.3662, 19.5),
        10: ("Home", 6, "60.00", 3, 3, 1, 1.0, 10.0),
        99: ("Unknown", 1, "7.00", 1, 4, 1, 1.0, 7.0),
        14: ("Toys", 0, "0.00", 0, 5, 1, None, None),
    }
    assert products[99]["product_name"] is None and products[12]["list_price"] == Decimal("20.00")


def test_hand_later_orders_file_merges_by_order_id(hand: tuple[Project, dict, dict]) -> None:
    project, _, after = hand
    run = after["run"]
    orders_step = run.step("silver.orders")
    assert orders_step.details["mode"] == "incremental"
    assert run.step("bronze.orders").details["files"] == ["data/orders_day2.json"]
    orders = after["orders"]
    assert len(orders) == 10  # the 9 before, updated in place, and 1014
    assert orders[1003]["status"] == "delivered" and orders[1002]["status"] == "cancelled"
    assert orders[1014]["is_sale"] and orders[1014]["order_revenue"] == Decimal("10.00")
    daily = after["daily"]
    # 03-05 lost 1002 (20.00, now cancelled); 03-12 is new: 1014, 2 x 5.00
    assert _summary(daily[date(2024, 3, 5)]) == ("10.00", 1, 1, 10.0, 1, 1, 0)
    assert _summary(daily[date(2024, 3, 12)]) == ("10.00", 1, 2, 10.0, 1, 0, 0)
    assert _summary(daily[date(2024, 3, 1)]) == ("65.00", 1, 3, 65.0, 1, 0, 0)  # untouched
    # March: 65 + 10 + 40 + 18 + 10 = 143.00, 5 sales, units 3 + 1 + 2 + 1 + 2 = 9,
    # customers {1, 2, 77, 5}, cancelled 1004 and 1002, returned 1006
    assert _summary(after["monthly"][date(2024, 3, 1)]) == ("143.00", 5, 9, 28.6, 4, 2, 1)
    # RFM as of 2024-03-13: c1 (03-01, 1 sale, 65) recency 12, c2 (03-12, 2 sales, 20)
    # recency 1, c3 recency 22 (90), c4 recency 58 (37).
    #   R: c4 1, c3 2, c1 4, c2 5; F: c2 5, others 1; M: c2 1, c4 2, c1 4, c3 5
    #   c1 414 New Customers; c2 551 Loyal Customers (R >= 3, F >= 4; M 1, so not Champions)
    segments = after["segments"]
    assert {c: (r["rfm_cell"], r["segment"]) for c, r in segments.items()} == {
        1: ("414", "New Customers"),
        2: ("551", "Loyal Customers"),
        3: ("215", "Hibernating"),
        4: ("112", "Lost"),
    }
    assert segments[2]["as_of_date"] == date(2024, 3, 13)
    products = after["products"]
    assert (products[12]["units_sold"], str(products[12]["revenue"])) == (3, "58.00")
    assert (products[14]["units_sold"], products[14]["category_revenue_share"]) == (2, 1.0)
    assert project.verify().ok


# ---------------------------------------------------------------------------------------------
# 2-3. Generated data at the default scale
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    template = get_template(TEMPLATE)
    root = tmp_path_factory.mktemp("generated")
    template.scaffold(root)
    template.generate(root)  # the default scale, as `medallion init` writes it
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project


def _raw_orders(root: Path) -> tuple[int, set[int]]:
    """(lines of orders.json, distinct order ids among the lines that parse)."""
    ids: set[int] = set()
    lines = 0
    with open(root / "data" / "orders.json", encoding="utf-8") as fh:
        for line in fh:
            lines += 1
            try:
                ids.add(json.loads(line)["order_id"])
            except json.JSONDecodeError:
                continue
    return lines, ids


def test_generated_run_succeeds_and_checks_pass(built: Project) -> None:
    run = built.last_run()
    assert run is not None and run["status"] == "success"
    steps = built.steps(run["run_id"])
    assert len(steps) == 12 and all(s["status"] == "success" for s in steps)
    checks = built.check_results(run["run_id"])
    assert [c for c in checks if c["status"] in ("fail", "error")] == []
    by_name = {(c["table_name"], c["name"]): c for c in checks}
    # the dirt is there, and reported
    for table, rule in [
        ("silver.customers", "valid_email"),
        ("silver.orders", "parseable_order_date"),
        ("silver.order_items", "positive_quantity"),
        ("silver.products", "positive_price"),
    ]:
        assert by_name[(table, rule)]["failing_rows"] > 0, (table, rule)
    orphans = by_name[("silver.orders", "relationships_customer_id__silver_customers")]
    assert orphans["status"] == "warn" and orphans["failing_rows"] > 0
    for table in ("gold.sales_summary_daily", "gold.product_metrics"):
        assert by_name[(table, "reconciliation_silver_orders")]["status"] == "pass"


def test_generated_every_input_row_is_accounted_for(built: Project) -> None:
    root = built.root
    q = built.query
    verification = built.verify()
    assert verification.ok, [line.problem for line in verification.lines if not line.ok]

    # bronze: every line of every file is a row, or a quarantined line
    with open(root / "data" / "customers.csv", encoding="utf-8", newline="") as fh:
        customer_rows = list(csv.DictReader(fh))
    lines, order_ids = _raw_orders(root)
    products = pq.read_table(root / "data" / "products.parquet")
    assert _one(built, "select count(*) n from bronze.customers")["n"] == len(customer_rows)
    assert _one(built, "select count(*) n from bronze.products")["n"] == products.num_rows
    assert _count(built, "bronze.orders") + _count(built, "bronze.orders__quarantine") == lines

    # silver: one row per key, or the key is quarantined (duplicates and older versions are
    # the counted drops of the dedup)
    for table, n in [
        ("customers", len({r["customer_id"] for r in customer_rows})),
        ("products", len(set(products["product_id"].to_pylist()))),
        ("orders", len(order_ids)),
    ]:
        kept, quarantined = (
            _count(built, f"silver.{table}"),
            _count(built, f"silver.{table}__quarantine"),
        )
        assert kept + quarantined == n, table
    assert q("select count(*) - count(distinct order_id) d from silver.orders")["d"][0].as_py() == 0

    # gold adds up to silver
    sales = _one(built, "select sum(order_revenue) s, count(*) n from silver.orders where is_sale")
    for table in ("gold.sales_summary_daily", "gold.sales_summary_monthly"):
        gold = _one(built, f"select sum(revenue) s, sum(orders) n from {table}")
        assert (gold["s"], gold["n"]) == (sales["s"], sales["n"]), table
    view = _one(built, "select sum(revenue) s from gold.sales_summary where grain = 'month'")
    assert view["s"] == sales["s"]
    segments = _one(
        built, "select count(*) n, count(distinct segment) k from gold.customer_segments"
    )
    assert segments["n"] > 100 and segments["k"] == 8  # every segment is populated


def test_generated_second_run_changes_nothing(built: Project) -> None:
    before = {t: tables.info(built.catalog.path(t)).version for t in built.catalog.tables()}
    again = built.run(trigger="test")
    assert again.ok, again.error
    after = {t: tables.info(built.catalog.path(t)).version for t in built.catalog.tables()}
    assert after == before
    assert sum(s.rows_written or 0 for s in again.steps) == 0


# ---------------------------------------------------------------------------------------------
# 4. The CLI
# ---------------------------------------------------------------------------------------------


def test_demo_through_the_cli(tmp_path: Path) -> None:
    # as a user runs it: the console entry point in a subprocess (see tests/cli/test_cli.py)
    args = ["demo", str(tmp_path / "d"), "-t", TEMPLATE, "--rows", "400"]
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for table in (*GOLD, "gold.sales_summary"):
        assert table in proc.stdout, table
    for column in ("rfm_cell", "segment", "revenue_rank", "category_revenue_share"):
        assert column in proc.stdout, column
    assert "run summary" in proc.stdout
    assert (tmp_path / "d" / "lakehouse" / "gold" / "customer_segments").is_dir()


# ---------------------------------------------------------------------------------------------
# 5. The generator
# ---------------------------------------------------------------------------------------------


def test_generate_is_deterministic_and_scales(tmp_path: Path) -> None:
    from medallion.templates.customer_insights.generate import FILES, generate, sizes

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    counts = generate(a, rows=1500, seed=7)
    generate(b, rows=1500, seed=7)
    generate(c, rows=1500, seed=8)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
        assert (a / name).read_bytes() != (c / name).read_bytes(), name
    n = sizes(1500)
    with open(a / "orders.json", encoding="utf-8") as fh:
        records = []
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    assert len({r["order_id"] for r in records}) == 1500
    assert counts["orders.json"] >= 1500
    with open(a / "customers.csv", encoding="utf-8", newline="") as fh:
        assert len({r["customer_id"] for r in csv.DictReader(fh)}) == n["customers"] == 375
    products = pq.read_table(a / "products.parquet")
    assert len(set(products["product_id"].to_pylist())) == n["products"] == 60
    # foreign keys: apart from the documented orphans, orders point at real customers/products
    customers = set(range(1, n["customers"] + 1))
    known = [r["customer_id"] in customers for r in records if r["customer_id"] is not None]
    assert 0.98 < sum(known) / len(known) < 1
    items = [i["product_id"] for r in records for i in r["items"]]
    assert 0.99 < sum(1 for p in items if 1 <= p <= n["products"]) / len(items) < 1

    bigger = generate(tmp_path / "big", rows=6000, seed=7)
    assert bigger["orders.json"] > 4 * counts["orders.json"]


def test_daily_drops_are_deterministic_and_incremental_equals_rebuild(tmp_path: Path) -> None:
    template = get_template(TEMPLATE)
    a_root = tmp_path / "daily"
    template.scaffold(a_root)
    template.generate(a_root, rows=600)
    a = Project.load(a_root)
    assert a.run(trigger="test").ok
    for day in (2, 3):
        counts = template.generate(a_root, day=day)
        first = {name: (a_root / "data" / name).read_bytes() for name in counts}
        assert template.generate(a_root, day=day) == counts  # written again: same bytes
        assert all((a_root / "data" / n).read_bytes() == first[n] for n in counts)
        result = a.run(trigger="test")
        assert result.ok, result.error
        assert result.step("silver.orders").details["mode"] == "incremental"
    assert a.verify().ok

    b_root = tmp_path / "at_once"
    template.scaffold(b_root)
    shutil.copytree(a_root / "data", b_root / "data")
    b = Project.load(b_root)
    assert b.run(trigger="test").ok
    audit = {"_ingested_at", "_run_id", "_source_file"}
    for table in (
        "silver.customers",
        "silver.products",
        "silver.order_items",
        "silver.orders",
        *GOLD,
    ):
        rows = []
        for project in (a, b):
            t = project.query(f"select * from {table}")
            cols = [c for c in t.column_names if c not in audit]
            rows.append(sorted(map(str, t.select(cols).to_pylist())))
        assert rows[0] == rows[1], table


def test_project_file_maps_the_seed(tmp_path: Path) -> None:
    template = get_template(TEMPLATE)
    assert template.rows_unit == "orders"
    template.scaffold(tmp_path)
    template.generate(tmp_path, rows=50)
    project = Project.load(tmp_path)
    assert project.config.retention == {
        "bronze": "90 days",
        "silver": "365 days",
        "gold": "forever",
    }
    assert set(project.graph.order) >= {
        "bronze.customers",
        "bronze.orders",
        "bronze.products",
        "silver.customers",
        "silver.orders",
        "silver.products",
        *GOLD,
        "gold.sales_summary",
    }
    text = textwrap.dedent((tmp_path / "models" / "gold" / "customer_segments.sql").read_text())
    assert "as_of_date" in text and "now()" not in text and "current_date" not in text
