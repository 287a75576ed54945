"""The ecommerce-events template: hand-checked gold values, the generated data end to end, runs
that find nothing new, incremental runs equal to a rebuild, the demo command, the generator.

Everything is real: DuckDB, Delta tables in tmp_path, the SQLite state database.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from medallion.project import Project
from medallion.storage import tables
from medallion.templates import get_template
from medallion.templates.ecommerce_events.generate import (
    COLUMNS,
    generate,
    generate_increment,
    sizes,
)

TEMPLATE = "ecommerce-events"
SILVER = "silver.events_cleaned"
QUARANTINE = "silver.events_cleaned__quarantine"
GOLD = (
    "gold.conversion_funnel",
    "gold.customer_metrics",
    "gold.daily_sales_summary",
    "gold.product_performance",
)
HEADER = ",".join(COLUMNS) + "\n"
PHONE = "2053013555631882655,electronics.smartphone"
WASHER = "2053013563810775923,appliances.kitchen.washer"
NO_CODE = "2232732079706079299,"
TOYS = "2053013571226167852,kids.toys"


def _versions(project: Project) -> dict[str, int]:
    return {t: tables.info(project.catalog.path(t)).version for t in project.catalog.tables()}


def _count(project: Project, sql: str) -> int:
    return project.query(sql).column(0)[0].as_py()


def _by(project: Project, table: str, *keys: str) -> dict[object, dict]:
    rows = project.query(f"select * from {table}").to_pylist()
    return {r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys): r for r in rows}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------------------------
# (1) a hand-written fixture: gold values computed by hand
# ---------------------------------------------------------------------------------------------

# 2019-10-01 10h: user 101 views, carts and buys a phone (s1); user 102 views a washer (event
# type written " VIEW"), carts it and removes it (s2). Rows the rules catch: an unknown type
# ("click"), product 0, a negative price. The purchase is written twice (an exporter retry).
FILE_10H = HEADER + (
    f"2019-10-01 10:00:00 UTC,view,1001,{PHONE},samsung,500.00,101,s1\n"
    f"2019-10-01 10:01:00 UTC,cart,1001,{PHONE},Samsung ,500.00,101,s1\n"
    f"2019-10-01 10:02:00 UTC,purchase,1001,{PHONE},samsung,500.00,101,s1\n"
    f"2019-10-01 10:02:00 UTC,purchase,1001,{PHONE},samsung,500.00,101,s1\n"
    f"2019-10-01 10:05:00 UTC, VIEW,2001,{WASHER},bosch,300.00,102,s2\n"
    f"2019-10-01 10:06:00 UTC,cart,2001,{WASHER},bosch,300.00,102,s2\n"
    f"2019-10-01 10:07:00 UTC,remove_from_cart,2001,{WASHER},bosch,300.00,102,s2\n"
    f"2019-10-01 10:10:00 UTC,click,1001,{PHONE},samsung,500.00,101,s1\n"
    f"2019-10-01 10:11:00 UTC,view,0,{PHONE},samsung,500.00,103,s3\n"
    f"2019-10-01 10:12:00 UTC,purchase,1001,{PHONE},samsung,-5.00,101,s1\n"
)
# 11h: the purchase re-delivered; user 103 views an uncoded, unbranded product twice (s3); a row
# of user 0 and a purchase at an absurd price (both quarantined).
FILE_11H = HEADER + (
    f"2019-10-01 10:02:00 UTC,purchase,1001,{PHONE},samsung,500.00,101,s1\n"
    f"2019-10-01 11:00:00 UTC,view,3001,{NO_CODE},,10.00,103,s3\n"
    f"2019-10-01 11:01:00 UTC,view,3001,{NO_CODE},,10.00,103,s3\n"
    f"2019-10-01 11:30:00 UTC,view,1002,{PHONE},apple,800.00,0,s4\n"
    f"2019-10-01 11:40:00 UTC,purchase,2002,{WASHER},lg,200000.00,102,s2\n"
)
# 2019-10-02 09h: user 101 comes back (s5): views, carts and buys an iPhone (code and brand in
# capitals), and buys phone 1001 at a promotional 450.00 without a cart event; user 102 views
# the washer again without a session id.
FILE_D2_09H = HEADER + (
    "2019-10-02 09:00:00 UTC,view,1002,2053013555631882655,Electronics.Smartphone,APPLE,"
    "800.00,101,s5\n"
    f"2019-10-02 09:01:00 UTC,cart,1002,{PHONE},apple,800.00,101,s5\n"
    f"2019-10-02 09:02:00 UTC,purchase,1002,{PHONE},apple,800.00,101,s5\n"
    f"2019-10-02 09:03:00 UTC,purchase,1001,{PHONE},samsung,450.00,101,s5\n"
    f"2019-10-02 09:10:00 UTC,view,2001,{WASHER},bosch,300.00,102,\n"
)
# 2019-10-02 12h-14h: the segment thresholds. User 104 views a toy 11 times (s6); user 105 buys
# it 10 times (s7), user 106 5 times (s8), at 20.00, without views.
FILE_D2_12H = HEADER + "".join(
    [f"2019-10-02 12:{i:02d}:00 UTC,view,4001,{TOYS},lego,20.00,104,s6\n" for i in range(11)]
    + [f"2019-10-02 13:{i:02d}:00 UTC,purchase,4001,{TOYS},lego,20.00,105,s7\n" for i in range(10)]
    + [f"2019-10-02 14:{i:02d}:00 UTC,purchase,4001,{TOYS},lego,20.00,106,s8\n" for i in range(5)]
)
# A later drop: the iPhone purchase re-delivered (not a new event), user 103 buys the uncoded
# product (s9), and a late view of user 102 from the evening of 2019-10-01 (s10).
FILE_DROP = HEADER + (
    f"2019-10-02 09:02:00 UTC,purchase,1002,{PHONE},apple,800.00,101,s5\n"
    f"2019-10-02 15:00:00 UTC,purchase,3001,{NO_CODE},,10.00,103,s9\n"
    f"2019-10-01 23:59:00 UTC,view,1001,{PHONE},samsung,500.00,102,s10\n"
)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The template's project on the hand-written files: built once, then after a later drop."""
    root = tmp_path_factory.mktemp("hand")
    get_template(TEMPLATE).scaffold(root)
    files = {
        "2019-10-01/events_2019-10-01T10.csv": FILE_10H,
        "2019-10-01/events_2019-10-01T11.csv": FILE_11H,
        "2019-10-02/events_2019-10-02T09.csv": FILE_D2_09H,
        "2019-10-02/events_2019-10-02T12.csv": FILE_D2_12H,
    }
    for rel, text in files.items():
        path = root / "data" / "events" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    project = Project.load(root)
    first = project.run(trigger="test")
    assert first.ok, first.error
    out: dict[str, object] = {"first": first}
    for table in (SILVER, QUARANTINE, *GOLD):
        out[table] = project.query(f"select * from {table}").to_pylist()
    drop = root / "data" / "events" / "2019-10-02" / "events_2019-10-02T15_day2.csv"
    drop.write_text(FILE_DROP, encoding="utf-8")
    second = project.run(trigger="test")
    assert second.ok, second.error
    out["second"] = second
    out["project"] = project
    return out


def test_hand_silver_keeps_each_event_once_and_quarantines_rule_breakers(hand: dict) -> None:
    # 46 lines: 13 + 26 valid events, 2 copies of the 10:02 purchase, 5 rule breakers
    step = hand["first"].step(SILVER)
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        46,
        39,
        2,
        5,
    )
    silver = hand[SILVER]
    assert len(silver) == len({r["event_id"] for r in silver}) == 39
    assert {r["event_type"] for r in silver} == {"view", "cart", "remove_from_cart", "purchase"}
    phone = [r for r in silver if r["product_id"] == 1002]
    assert {(r["category_code"], r["category_l1"], r["brand"]) for r in phone} == {
        ("electronics.smartphone", "electronics", "apple")
    }
    assert {r["brand"] for r in silver if r["product_id"] == 1001} == {"samsung"}
    uncoded = [r for r in silver if r["product_id"] == 3001]
    assert {(r["category_code"], r["category_l1"], r["brand"]) for r in uncoded} == {
        (None, None, None)
    }
    washer = next(r for r in silver if r["event_time"] == _ts("2019-10-01 10:05:00"))
    assert (washer["event_type"], washer["event_date"], washer["event_hour"]) == (
        "view",
        date(2019, 10, 1),
        10,
    )
    assert next(r for r in silver if r["user_id"] == 102 and r["user_session"] is None)
    # the purchase copy that won is the last delivered one
    purchase = next(r for r in silver if r["event_time"] == _ts("2019-10-01 10:02:00"))
    assert purchase["_source_file"] == "data/events/2019-10-01/events_2019-10-01T11.csv"

    reasons = {
        (r["event_type"], r["product_id"], r["user_id"], str(r["price"])): r["_failed_expectations"]
        for r in hand[QUARANTINE]
    }
    assert reasons == {
        ("click", 1001, 101, "500.00"): ["known_event_type"],
        ("view", 0, 103, "500.00"): ["valid_product_id"],
        ("purchase", 1001, 101, "-5.00"): ["price_in_range"],
        ("view", 1002, 0, "800.00"): ["valid_user_id"],
        ("purchase", 2002, 102, "200000.00"): ["price_in_range"],
    }


def test_hand_customer_metrics(hand: dict) -> None:
    got = {r["user_id"]: r for r in hand["gold.customer_metrics"]}
    assert set(got) == {101, 102, 103, 104, 105, 106}  # user 0 was quarantined
    u = got[101]
    # 101: view, cart, purchase (s1, 10-01); view, cart, purchase 1002, purchase 1001 (s5, 10-02)
    #   events 7, views 2, carts 2, purchases 3, revenue 500 + 800 + 450 = 1750.00, sessions 2,
    #   products viewed {1001, 1002} = 2; rates 2/2 = 1.0, 3/2 = 1.5, 3/2 = 1.5;
    #   avg 1750 / 3 = 583.33; 3 purchases -> Potential Loyalist
    assert (u["total_events"], u["views"], u["cart_adds"], u["cart_removals"]) == (7, 2, 2, 0)
    assert (u["purchases"], u["revenue"], u["sessions"], u["products_viewed"]) == (
        3,
        Decimal("1750.00"),
        2,
        2,
    )
    assert (u["first_activity"], u["last_activity"]) == (
        _ts("2019-10-01 10:00:00"),
        _ts("2019-10-02 09:03:00"),
    )
    assert (u["view_to_cart_rate"], u["cart_to_purchase_rate"], u["conversion_rate"]) == (
        pytest.approx(1.0),
        pytest.approx(1.5),
        pytest.approx(1.5),
    )
    assert u["avg_purchase_value"] == Decimal("583.33")
    assert u["segment"] == "Potential Loyalist"
    # 102: view, cart, remove (s2) + a view without session: events 4, views 2, carts 1,
    #   removals 1, sessions 1; 1/2 = 0.5, 0/1 = 0.0, 0/2 = 0.0; carted, never bought
    u = got[102]
    assert (u["total_events"], u["views"], u["cart_adds"], u["cart_removals"]) == (4, 2, 1, 1)
    assert (u["purchases"], u["revenue"], u["sessions"], u["avg_purchase_value"]) == (
        0,
        Decimal("0.00"),
        1,
        None,
    )
    assert (u["view_to_cart_rate"], u["cart_to_purchase_rate"], u["conversion_rate"]) == (
        pytest.approx(0.5),
        0.0,
        0.0,
    )
    assert u["segment"] == "Cart Abandoner"
    # 103: 2 views, nothing else -> Visitor; no cart: cart_to_purchase_rate NULL
    u = got[103]
    assert (u["total_events"], u["views"], u["cart_to_purchase_rate"], u["segment"]) == (
        2,
        2,
        None,
        "Visitor",
    )
    # 104: 11 views (> 10) -> Engaged Browser; 105: 10 purchases -> Champion (200.00, no views:
    # rates NULL); 106: 5 purchases -> Loyal (100.00, avg 20.00)
    assert (got[104]["views"], got[104]["segment"]) == (11, "Engaged Browser")
    u = got[105]
    assert (u["purchases"], u["revenue"], u["conversion_rate"], u["segment"]) == (
        10,
        Decimal("200.00"),
        None,
        "Champion",
    )
    u = got[106]
    assert (u["purchases"], u["revenue"], u["avg_purchase_value"], u["segment"]) == (
        5,
        Decimal("100.00"),
        Decimal("20.00"),
        "Loyal",
    )


def test_hand_product_performance(hand: dict) -> None:
    got = {r["product_id"]: r for r in hand["gold.product_performance"]}
    assert set(got) == {1001, 1002, 2001, 3001, 4001}  # 2002 only in a quarantined row
    p = got[1001]
    # 1001: view, cart (10-01), purchases at 500.00 (10-01) and 450.00 (10-02): revenue 950.00,
    #   avg 475.00, 1 cart / 1 view, 2 purchases / 1 view
    assert (p["category_code"], p["category_l1"], p["brand"]) == (
        "electronics.smartphone",
        "electronics",
        "samsung",
    )
    assert (p["views"], p["cart_adds"], p["purchases"], p["revenue"]) == (
        1,
        1,
        2,
        Decimal("950.00"),
    )
    assert (p["unique_viewers"], p["unique_buyers"], p["avg_purchase_price"]) == (
        1,
        1,
        Decimal("475.00"),
    )
    assert (p["view_to_cart_rate"], p["view_to_purchase_rate"]) == (1.0, 2.0)
    assert (p["first_seen"], p["last_seen"]) == (
        _ts("2019-10-01 10:00:00"),
        _ts("2019-10-02 09:03:00"),
    )
    # 1002: the user-0 view was quarantined: 1 view, 1 cart, 1 purchase (800.00); brand and
    # code normalised from capitals
    p = got[1002]
    assert (p["brand"], p["views"], p["cart_adds"], p["purchases"], p["revenue"]) == (
        "apple",
        1,
        1,
        1,
        Decimal("800.00"),
    )
    # 2001: views " VIEW" (10-01) and the session-less one (10-02), 1 cart, 1 removal, no sale
    p = got[2001]
    assert (p["views"], p["cart_adds"], p["cart_removals"], p["purchases"]) == (2, 1, 1, 0)
    assert (p["view_to_cart_rate"], p["view_to_purchase_rate"], p["avg_purchase_price"]) == (
        0.5,
        0.0,
        None,
    )
    # 3001: no code, no brand
    assert (got[3001]["category_code"], got[3001]["brand"], got[3001]["views"]) == (None, None, 2)
    # 4001: 11 views, 15 purchases by 2 buyers: 300.00, 15 / 11 = 1.3636
    p = got[4001]
    assert (p["views"], p["purchases"], p["revenue"], p["unique_buyers"]) == (
        11,
        15,
        Decimal("300.00"),
        2,
    )
    assert p["view_to_purchase_rate"] == pytest.approx(1.3636)


def test_hand_daily_sales_summary(hand: dict) -> None:
    got = {r["event_date"]: r for r in hand["gold.daily_sales_summary"]}
    d1 = got[date(2019, 10, 1)]
    # 10-01: 8 valid events (3 of s1, 3 of s2, 2 of s3) by users 101-103 in 3 sessions;
    #   views 4, carts 2, removals 1, 1 purchase of 500.00 by 1 buyer;
    #   revenue per user 500 / 3 = 166.67, buyers 1/3 = 0.3333, purchases / views 1/4 = 0.25
    assert (d1["total_events"], d1["active_users"], d1["sessions"]) == (8, 3, 3)
    assert (d1["views"], d1["cart_adds"], d1["cart_removals"], d1["purchases"]) == (4, 2, 1, 1)
    assert (d1["buyers"], d1["revenue"], d1["avg_purchase_value"]) == (
        1,
        Decimal("500.00"),
        Decimal("500.00"),
    )
    assert d1["revenue_per_user"] == Decimal("166.67")
    assert d1["buyer_conversion_rate"] == pytest.approx(0.3333)
    assert d1["view_to_purchase_rate"] == pytest.approx(0.25)
    d2 = got[date(2019, 10, 2)]
    # 10-02: 5 events of 101/102 + 26 toy events = 31; users 101, 102, 104, 105, 106 = 5;
    #   sessions s5-s8 = 4 (102's view has none); views 1 + 1 + 11 = 13, carts 1,
    #   purchases 2 + 15 = 17 by 101, 105, 106; revenue 800 + 450 + 300 = 1550.00;
    #   avg 1550 / 17 = 91.18; per user 1550 / 5 = 310.00; 3/5 = 0.6; 17/13 = 1.3077
    assert (d2["total_events"], d2["active_users"], d2["sessions"], d2["views"]) == (31, 5, 4, 13)
    assert (d2["cart_adds"], d2["purchases"], d2["buyers"], d2["revenue"]) == (
        1,
        17,
        3,
        Decimal("1550.00"),
    )
    assert (d2["avg_purchase_value"], d2["revenue_per_user"]) == (
        Decimal("91.18"),
        Decimal("310.00"),
    )
    assert d2["buyer_conversion_rate"] == pytest.approx(0.6)
    assert d2["view_to_purchase_rate"] == pytest.approx(1.3077)


def test_hand_conversion_funnel(hand: dict) -> None:
    cols = (
        "sessions",
        "sessions_with_view",
        "sessions_with_cart",
        "sessions_with_purchase",
        "users",
        "users_with_view",
        "users_with_cart",
        "users_with_purchase",
        "view_to_cart_rate",
        "cart_to_purchase_rate",
        "view_to_purchase_rate",
        "abandoned_carts",
        "cart_abandonment_rate",
    )
    got = {
        (r["event_date"], r["category_l1"]): tuple(r[c] for c in cols)
        for r in hand["gold.conversion_funnel"]
    }
    d1, d2 = date(2019, 10, 1), date(2019, 10, 2)
    assert got == {
        # s1 viewed, carted and bought a phone
        (d1, "electronics"): (1, 1, 1, 1, 1, 1, 1, 1, 1.0, 1.0, 1.0, 0, 0.0),
        # s2 viewed and carted the washer, then removed it: an abandoned cart
        (d1, "appliances"): (1, 1, 1, 0, 1, 1, 1, 0, 1.0, 0.0, 0.0, 1, 1.0),
        # s3 viewed the uncoded product: no cart, so no cart rates
        (d1, "unknown"): (1, 1, 0, 0, 1, 1, 0, 0, 0.0, None, 0.0, 0, None),
        # s5: view, cart and two purchases
        (d2, "electronics"): (1, 1, 1, 1, 1, 1, 1, 1, 1.0, 1.0, 1.0, 0, 0.0),
        # 102's view has no session: a user, no session, no session rates
        (d2, "appliances"): (0, 0, 0, 0, 1, 1, 0, 0, None, None, None, 0, None),
        # s6 viewed, s7 and s8 bought without viewing: 2 purchasing sessions / 1 viewing = 2.0
        (d2, "kids"): (3, 1, 0, 2, 3, 1, 0, 2, 0.0, None, 2.0, 0, None),
    }


def test_hand_drop_deduplicates_across_runs_and_updates_gold(hand: dict) -> None:
    project: Project = hand["project"]
    second = hand["second"]
    # the drop's 3 lines: the re-delivered purchase is dropped, 2 events are new
    assert second.step("bronze.events_raw").details["files"] == [
        "data/events/2019-10-02/events_2019-10-02T15_day2.csv"
    ]
    assert _count(project, f"select count(*) from {SILVER}") == 39 + 2
    step = second.step(SILVER)
    assert step.details["mode"] == "incremental"
    assert step.rows_dropped == 1
    iphone = project.query(
        f"select count(*) n, max(_source_file) f from {SILVER} "
        "where product_id = 1002 and event_type = 'purchase'"
    ).to_pylist()
    assert iphone == [{"n": 1, "f": "data/events/2019-10-02/events_2019-10-02T15_day2.csv"}]

    customers = _by(project, "gold.customer_metrics", "user_id")
    # 103 bought once (10.00) in a new session: New Customer, 2 views / 1 purchase = 0.5
    u = customers[103]
    assert (u["purchases"], u["revenue"], u["sessions"], u["conversion_rate"]) == (
        1,
        Decimal("10.00"),
        2,
        0.5,
    )
    assert (u["last_activity"], u["segment"]) == (_ts("2019-10-02 15:00:00"), "New Customer")
    # 102's late view: 5 events, 3 views, 2 sessions; the latest activity stays 10-02 09:10
    u = customers[102]
    assert (u["total_events"], u["views"], u["sessions"]) == (5, 3, 2)
    assert (u["last_activity"], u["segment"]) == (_ts("2019-10-02 09:10:00"), "Cart Abandoner")
    assert u["view_to_cart_rate"] == pytest.approx(0.3333)
    # 101 is unchanged by the re-delivered purchase
    assert customers[101]["purchases"] == 3 and customers[101]["revenue"] == Decimal("1750.00")

    daily = _by(project, "gold.daily_sales_summary", "event_date")
    # 10-01 gets the late view: 9 events, 4 sessions, 5 views: 1/5 = 0.2
    d1 = daily[date(2019, 10, 1)]
    assert (d1["total_events"], d1["sessions"], d1["views"]) == (9, 4, 5)
    assert d1["view_to_purchase_rate"] == pytest.approx(0.2)
    # 10-02 gets 103's purchase: 32 events, 6 users, 5 sessions, 18 purchases by 4 buyers,
    #   1560.00: avg 1560 / 18 = 86.67, per user 1560 / 6 = 260.00, 4/6 = 0.6667
    d2 = daily[date(2019, 10, 2)]
    assert (d2["total_events"], d2["active_users"], d2["sessions"], d2["purchases"]) == (
        32,
        6,
        5,
        18,
    )
    assert (d2["buyers"], d2["revenue"], d2["avg_purchase_value"], d2["revenue_per_user"]) == (
        4,
        Decimal("1560.00"),
        Decimal("86.67"),
        Decimal("260.00"),
    )
    assert d2["buyer_conversion_rate"] == pytest.approx(0.6667)
    funnel = _by(project, "gold.conversion_funnel", "event_date", "category_l1")
    unknown = funnel[(date(2019, 10, 2), "unknown")]
    assert (unknown["sessions"], unknown["sessions_with_purchase"], unknown["users"]) == (1, 1, 1)
    assert project.verify().ok


# ---------------------------------------------------------------------------------------------
# (2) the generated data at the default scale, end to end
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The template as `medallion init` makes it (default scale), run once."""
    root = tmp_path_factory.mktemp("generated")
    template = get_template(TEMPLATE)
    template.scaffold(root)
    template.generate(root)
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project


def _raw_rows(root: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((root / "data" / "events").glob("*/*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def test_generated_run_succeeds_checks_pass_and_ledger_adds_up(built: Project) -> None:
    run = built.last_run()
    assert run is not None and run["status"] == "success"
    steps = built.steps(run["run_id"])
    assert [f"{s['layer']}.{s['table_name']}" for s in steps] == [
        "bronze.events_raw",
        SILVER,
        *GOLD,
    ]
    checks = built.check_results(run["run_id"])
    assert [c for c in checks if c["status"] in ("fail", "error")] == []
    # every rule catches something in the generated dirt
    caught = {c["name"]: c["failing_rows"] for c in checks if c["kind"] == "expectation"}
    assert set(caught) == {
        "known_event_type",
        "price_in_range",
        "valid_product_id",
        "valid_user_id",
    }
    assert all(n > 0 for n in caught.values())
    verification = built.verify()
    assert verification.ok
    assert len(verification.reconciliations) == 4

    raw = _raw_rows(built.root)
    assert len(raw) == get_template(TEMPLATE).default_rows
    bronze = _count(built, "select count(*) from bronze.events_raw")
    silver = _count(built, f"select count(*) from {SILVER}")
    quarantined = _count(built, f"select count(*) from {QUARANTINE}")
    step = next(s for s in steps if s["table_name"] == "events_cleaned")
    # every landed line is in silver, in the quarantine, or a counted duplicate
    assert bronze == len(raw)
    assert not built.catalog.exists("bronze.events_raw__quarantine")
    assert bronze == silver + quarantined + step["rows_dropped"]
    assert step["rows_dropped"] > 0 and quarantined > 0


def test_generated_silver_matches_an_independent_computation(built: Project) -> None:
    """Silver and customer segments recomputed in plain Python from the CSV files: the rules,
    the normalisation and the deduplication as the models document them."""
    events: dict[tuple, tuple[str, Decimal]] = {}
    for r in _raw_rows(built.root):
        etype = r["event_type"].strip().lower()
        price = Decimal(r["price"])
        if etype not in ("view", "cart", "remove_from_cart", "purchase"):
            continue
        if not 0 <= price <= 100_000 or int(r["product_id"]) <= 0 or int(r["user_id"]) <= 0:
            continue
        key = (r["event_time"], etype, r["product_id"], r["user_id"], r["user_session"].strip())
        events[key] = (etype, price)
    assert _count(built, f"select count(*) from {SILVER}") == len(events)
    revenue = sum(p for t, p in events.values() if t == "purchase")
    assert built.query(
        f"select sum(price) s from {SILVER} where event_type = 'purchase'"
    ).to_pylist() == [{"s": revenue}]

    per_user: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, etype, _, user, _), _ in events.items():
        per_user[user][etype] += 1

    def segment(c: Counter[str]) -> str:
        bought = c["purchase"]
        if bought >= 10:
            return "Champion"
        if bought >= 5:
            return "Loyal"
        if bought >= 2:
            return "Potential Loyalist"
        if bought == 1:
            return "New Customer"
        if c["cart"]:
            return "Cart Abandoner"
        return "Engaged Browser" if c["view"] > 10 else "Visitor"

    expected = Counter(segment(c) for c in per_user.values())
    got = {
        r["segment"]: r["n"]
        for r in built.query(
            "select segment, count(*) n from gold.customer_metrics group by 1"
        ).to_pylist()
    }
    assert got == dict(expected)
    assert len(got) == 7, "the generated data has users in every segment"
    brands = built.query(f"select distinct brand from {SILVER} where brand is not null")
    assert all(b == b.strip().lower() for b in brands.column("brand").to_pylist())


def test_generated_gold_is_consistent(built: Project) -> None:
    days = sizes(get_template(TEMPLATE).default_rows)["days"]
    assert _count(built, "select count(*) from gold.daily_sales_summary") == days
    totals = built.query(
        "select sum(purchases) p, sum(revenue) r from gold.product_performance"
    ).to_pylist()[0]
    daily = built.query(
        "select sum(purchases) p, sum(revenue) r from gold.daily_sales_summary"
    ).to_pylist()[0]
    assert totals == daily
    funnel = built.query(
        "select count(*) filter (where cart_abandonment_rate not between 0 and 1) bad, "
        "sum(abandoned_carts) a from gold.conversion_funnel"
    ).to_pylist()[0]
    assert funnel["bad"] == 0 and funnel["a"] > 0


# ---------------------------------------------------------------------------------------------
# (3) a run with nothing new changes nothing
# ---------------------------------------------------------------------------------------------


def test_second_run_changes_no_table(built: Project) -> None:
    before = _versions(built)
    again = built.run(trigger="test")
    assert again.ok, again.error
    assert _versions(built) == before
    assert sum(s.rows_written or 0 for s in again.steps) == 0


# ---------------------------------------------------------------------------------------------
# incremental: drops processed run by run equal a rebuild over the same files
# ---------------------------------------------------------------------------------------------

AUDIT = ("_ingested_at", "_run_id")


def _rows(project: Project, table: str) -> list[tuple]:
    t = project.query(f"select * from {table}")
    cols = [c for c in t.column_names if c not in AUDIT]
    return sorted(
        (tuple(r[c] for c in cols) for r in t.select(cols).to_pylist()),
        key=lambda row: tuple((v is None, str(v)) for v in row),
    )


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Project, dict]:
    template = get_template(TEMPLATE)
    a_root = tmp_path_factory.mktemp("daily")
    template.scaffold(a_root)
    template.generate(a_root, rows=6000)
    a = Project.load(a_root)
    runs = {"first": a.run(trigger="test")}
    for day in (2, 3):
        template.generate(a_root, day=day)
        runs[f"day{day}"] = a.run(trigger="test")
    assert all(r.ok for r in runs.values()), [r.error for r in runs.values()]
    b_root = tmp_path_factory.mktemp("at_once")
    template.scaffold(b_root)
    shutil.copytree(a_root / "data", b_root / "data")
    b = Project.load(b_root)
    once = b.run(trigger="test")
    assert once.ok, once.error
    return a, b, runs


@pytest.mark.parametrize("table", [SILVER, *GOLD])
def test_incremental_equals_rebuild(day_by_day: tuple, table: str) -> None:
    a, b, _ = day_by_day
    assert _rows(a, table) == _rows(b, table)


def test_incremental_steps_process_only_new_data(day_by_day: tuple) -> None:
    a, _, runs = day_by_day
    day3 = runs["day3"]
    files = day3.step("bronze.events_raw").details["files"]
    assert files and all(f.endswith("_day3.csv") for f in files)
    silver = day3.step(SILVER)
    total = _count(a, f"select count(*) from {SILVER}")
    assert silver.details["mode"] == "incremental"
    assert 0 < silver.rows_in < total / 4
    # re-delivered copies of landed events are dropped, not added
    assert silver.rows_dropped > 0
    assert _count(a, f"select count(*) - count(distinct event_id) from {SILVER}") == 0
    for table in ("gold.daily_sales_summary", "gold.conversion_funnel"):
        step = day3.step(table)
        assert step.details["mode"] == "incremental"
        # the new day, and the day before (late and re-delivered events)
        assert len(step.details["periods"]) <= 3, step.details["periods"]
    customers = day3.step("gold.customer_metrics")
    assert customers.details["mode"] == "incremental"
    assert (
        0 < customers.details["touched"] < _count(a, "select count(*) from gold.customer_metrics")
    )
    assert a.verify().ok


# ---------------------------------------------------------------------------------------------
# (4) the demo command
# ---------------------------------------------------------------------------------------------


def test_demo_command_prints_the_gold_tables(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", "demo", "-t", TEMPLATE, str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for table in GOLD:
        assert table in proc.stdout
    assert "segment" in proc.stdout and "cart_abandonment_rate" in proc.stdout


# ---------------------------------------------------------------------------------------------
# (5) the generator
# ---------------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.csv")}


def test_generate_is_deterministic_and_scales(tmp_path: Path) -> None:
    counts = generate(tmp_path / "a", rows=4321, seed=7)
    assert sum(counts.values()) == 4321
    files = _snapshot(tmp_path / "a")
    assert set(files) == set(counts)
    assert len(files) > 100  # hourly files over 7 days
    lines = sum(text.count(b"\n") - 1 for text in files.values())
    assert lines == 4321
    generate(tmp_path / "b", rows=4321, seed=7)
    assert _snapshot(tmp_path / "b") == files
    generate(tmp_path / "c", rows=4321, seed=8)
    assert _snapshot(tmp_path / "c") != files
    # a smaller regeneration replaces the files of the larger one
    generate(tmp_path / "a", rows=500, seed=7)
    assert sum(t.count(b"\n") - 1 for t in _snapshot(tmp_path / "a").values()) == 500
    header = next(iter(files.values())).split(b"\n", 1)[0].decode()
    assert header == ",".join(COLUMNS)
    assert sizes(1_000_000) == {"days": 61, "products": 10_000, "users": 83_333}


def test_generate_increment_is_deterministic(tmp_path: Path) -> None:
    generate(tmp_path, rows=3000, seed=3)
    base = _snapshot(tmp_path)
    day2 = generate_increment(tmp_path, day=2, seed=3)
    assert all(name.startswith("events/2019-10-08/") for name in day2)
    assert all(name.endswith("_day2.csv") for name in day2)
    first = _snapshot(tmp_path)
    day3 = generate_increment(tmp_path, day=3, rows=500, seed=3)
    assert sum(day3.values()) == 500
    assert all(name.startswith("events/2019-10-09/") for name in day3)
    # writing day 2 again (with day 3 present) rewrites the same bytes
    generate_increment(tmp_path, day=2, seed=3)
    again = _snapshot(tmp_path)
    assert {k: v for k, v in again.items() if "_day3" not in k} == first
    assert {k: again[k] for k in base} == base
    with pytest.raises(ValueError):
        generate_increment(tmp_path, day=1, seed=3)
    with pytest.raises(ValueError):
        generate_increment(tmp_path / "empty", day=2, seed=3)
