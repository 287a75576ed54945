"""The product-platform template: a hand-checked fixture, the generated data end to end, a second
run that changes nothing, the CLI demo, and the generator's determinism and scale.

The fixture below is small enough that every gold value is computed by hand in the comments; the
template's models are used as shipped (copied by `Template.scaffold`), only data/ is replaced.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from medallion.project import Project
from medallion.templates import get_template

TEMPLATE = "product-platform"
D = Decimal

# ---------------------------------------------------------------------------------------------
# The hand-written fixture: 3 products, 4 customers, 8 orders, 12 order lines, ...
# ---------------------------------------------------------------------------------------------

FIXTURE_CSV = {
    # p1 list price with a '$', sku lower-case and padded, launch date with '/'; p3 no shelf life
    "products.csv": """\
product_id,sku,product_name,category,pack_size,list_price,standard_cost,shelf_life_days,launch_date,status,updated_at
1,bky-00001 ,Sourdough Loaf,Bakery,800 g,$5.00,1.20,5,2023/01/15, Active,2023-01-15 08:00:00
2,SNK-00002, Granola Bars , snacks ,200 g,4.00,1.00,180,2023-02-01,active,2023-02-01 08:00:00
3,BEV-00003,Cold Brew,BEVERAGES,330 ml,2.50,0.90,,2023-03-01,DISCONTINUED,2023-03-01 08:00:00
""",
    # p1: v1 inactive, v2 active ("yes"); p2: v1 active; p3: batch_yield 0 -> quarantined
    "recipes.csv": """\
recipe_id,product_id,recipe_name,version,batch_yield,batch_minutes,is_active,effective_date
1,1,Sourdough v1,1,10,60,N,2023-01-15
2,1,Sourdough v2,2,10,60,yes,2023-06-01
3,2,Granola v1,1,20,45,Y,2023-02-01
4,3,Cold Brew v1,1,0,30,1,2023-03-01
""",
    # recipe 2: 4000 grams = 4 kg * 0.60 = 2.40; 100 G = 0.1 kg * 0.40 = 0.04; 10 pcs * 0.16 =
    #   1.60 -> batch 4.04 / yield 10 = 0.404 per loaf
    # recipe 3: 2 KG * 1.50 = 3.00; 500 g = 0.5 kg * 8.20 = 4.10; 20 each * 0.10 = 2.00 -> batch
    #   9.10 / 20 = 0.455 per pack; line 8 (quantity 0) is quarantined
    # line 9 belongs to the quarantined recipe 4 (a warning: no recipe)
    "recipe_lines.csv": """\
recipe_line_id,recipe_id,line_number,ingredient,quantity,uom,unit_cost
1,1,1,wheat flour,5.00,kg,0.50
2,2,1,Wheat Flour ,4000,grams,0.60
3,2,2,salt,100, G,0.40
4,2,3,packaging,10,pcs,0.16
5,3,1,oats,2.00,KG,1.50
6,3,2,honey,500,g,8.20
7,3,3,packaging,20,each,0.10
8,3,4,almonds,0,g,11.00
9,4,1,coffee beans,1.00,kg,18.00
""",
    # customer 1: the newer row (by updated_at) is first in the file and wins (Salem);
    # customer 2 duplicated; customer 3 no type and an invalid e-mail (a warning);
    # customer 4 never orders
    "customers.csv": """\
customer_id,customer_name,customer_type,email,phone,city,state,country,signup_date,updated_at
1,Ada Baker,consumer,ADA@EXAMPLE.COM ,(555) 000-0001,Salem,or,usa,2024/01/10,2024-02-01 12:00:00
1, Ada Baker ,consumer,ada@old.example,(555) 000-0001,Portland,OR,US,2024-01-10,2024-01-10 12:00:00
2,Corner Market,Retailer,buyer@corner.example,,Austin,TX,US,2023-06-01,2023-06-01 12:00:00
2,Corner Market,Retailer,buyer@corner.example,,Austin,TX,US,2023-06-01,2023-06-01 12:00:00
3,Cafe Uno,,n/a,,Toronto,ON,ca,2024-02-01,2024-02-01 12:00:00
4,Dan Prospect,consumer,dan@example.com,,Leeds,England,GB,2024-05-01,2024-05-01 12:00:00
""",
    # shipment 1 late (promised 06-04, delivered 06-05); 2, 5, 6 on time; 3 in transit;
    # 4 delivered before it shipped -> quarantined
    "shipments.csv": """\
shipment_id,order_id,carrier,tracking_number,shipped_date,promised_date,delivered_date,status,shipping_cost,updated_at
1,1,UPS,1zaaa,2024-06-02,2024-06-04,2024-06-05,Delivered,6.49,2024-06-05 17:00:00
2,2,Freight,1ZBBB,2024-06-02,2024-06-07,2024-06-06,DELIVERED,34.00,2024-06-06 17:00:00
3,4,fedex ,1ZCCC,2024-06-04,2024-06-06,,In Transit,,2024-06-04 18:00:00
4,5,USPS,1ZDDD,2024-06-09,2024-06-07,2024-06-05,Delivered,5.00,2024-06-09 17:00:00
5,7,Freight,1ZEEE,2024-03-02,2024-03-07,2024-03-04,Delivered,25.00,2024-03-04 17:00:00
6,8,Freight,1ZFFF,2024-04-11,2024-04-16,2024-04-14,Delivered,25.00,2024-04-14 17:00:00
""",
    # 1: refund not booked -> estimated 9.00 / 2 * 1 = 4.50; 2: booked 8.00; 3: 30 back of 24
    # bought -> gold quarantine; 4: quantity 0 -> silver quarantine; 5: line 8, whose order was
    # quarantined -> gold quarantine; 6: no reason -> unspecified
    "returns.csv": """\
return_id,order_line_id,return_date,quantity_returned,return_reason,refund_amount,item_condition
1,1,2024-06-08,1,Damaged in transit,,damaged
2,3,2024-06-08,2, defective ,8.00,destroyed
3,4,2024-06-09,30,Changed mind,50.00,resellable
4,2,2024-06-09,0,,0.00,resellable
5,8,2024-06-10,1,Wrong item,4.00,resellable
6,11,2024-03-10,1,,3.00,Resellable
""",
    # 2: no cost booked -> 50 * standard cost 1.00 = 50.00; 3: negative -> quarantined
    "waste.csv": """\
waste_id,waste_date,facility,product_id,batch_code,waste_reason,quantity,waste_cost
1,2024-06-01,pdx-bakery ,1,B240601-00001-1,Expired,10,12.00
1,2024-06-01,pdx-bakery ,1,B240601-00001-1,Expired,10,12.00
2,2024-06-02,AUS-KITCHEN,2,B240602-00002-1,Production scrap,50,
3,2024-06-03,CMH-PLANT,3,B240603-00003-1,Overproduction,-5,4.50
""",
}

_ORDER = ("order_id", "customer_id", "order_ts", "channel", "status", "payment_method")
FIXTURE_ORDERS: list[tuple[Any, ...]] = [
    # order_id, customer, order_ts, channel, status, payment, promo, updated_at
    (1, 1, "2024-06-01T10:00:00", "Web", "delivered", "card", " spring10", "2024-06-05 17:00:00"),
    (2, 2, "2024-06-01 09:30:00", " EDI ", "DELIVERED", "invoice", None, "2024-06-06 17:00:00"),
    (2, 2, "2024-06-01 09:30:00", " EDI ", "DELIVERED", "invoice", None, "2024-06-06 17:00:00"),
    (3, 1, "2024-06-02T12:00:00", "mobile", "Cancelled", "card", None, "2024-06-02 12:00:00"),
    # order 4 exported twice: the later status (by updated_at) wins, whatever the line order
    (4, 2, "2024-06-03T08:00:00", "sales_rep", "shipped", "invoice", None, "2024-06-04 18:00:00"),
    (
        4,
        2,
        "2024-06-03T08:00:00",
        "sales_rep",
        "processing",
        "invoice",
        None,
        "2024-06-03 08:00:00",
    ),
    # customer 99 is unknown to the CRM (a warning)
    (5, 99, "2024-06-03T15:00:00", "web", "processing", "paypal", None, "2024-06-03 15:00:00"),
    # not a timestamp -> quarantined in silver; its line 8 then waits in fact_sales__quarantine
    (6, 2, "N/A", "edi", "pending", "invoice", None, "2024-06-03 16:00:00"),
    (7, 3, "2024-03-01T11:00:00", "sales_rep", "delivered", "invoice", None, "2024-03-04 17:00:00"),
    (8, 2, "2024-04-10T09:00:00", "edi", "delivered", "invoice", None, "2024-04-14 17:00:00"),
]

FIXTURE_LINES: list[tuple[Any, ...]] = [
    # line, order, number, product, quantity, unit_price, discount_pct -> gross / discount / net
    (1, 1, 1, 1, 2, 5.00, 10.0),  # 10.00 / 1.00 / 9.00
    (2, 1, 2, 2, 1, 4.00, 0.0),  # 4.00 / 0 / 4.00
    (3, 2, 1, 2, 10, 4.00, 15.0),  # 40.00 / 6.00 / 34.00
    (3, 2, 1, 2, 10, 4.00, 15.0),  # an exact duplicate
    (4, 2, 2, 3, 24, 2.50, 15.0),  # 60.00 / 9.00 / 51.00
    (5, 3, 1, 1, 1, 5.00, 0.0),  # 5.00, a cancelled order
    (6, 4, 1, 1, 3, 5.00, 5.0),  # 15.00 / 0.75 / 14.25
    (7, 5, 1, 3, 4, 2.50, None),  # 10.00 (no discount exported: 0)
    (8, 6, 1, 2, 1, 4.00, 0.0),  # 4.00, order quarantined
    (9, 4, 2, 2, 0, 4.00, 0.0),  # quantity 0 -> silver quarantine
    (10, 2, 3, 1, 1, None, 0.0),  # no price -> silver quarantine
    (11, 7, 1, 2, 5, 4.00, 0.0),  # 20.00
    (12, 8, 1, 3, 4, 2.50, 10.0),  # 10.00 / 1.00 / 9.00
]

FIXTURE_INSPECTIONS: list[dict[str, Any]] = [
    # 1 defect in 50 = 2 % -> pass
    {"inspection_id": 1, "product_id": 1, "inspected_at": "2024-06-01T09:00:00",
     "inspection_type": "Final", "inspector": "Kim Lee", "sample_size": 50, "defects_found": 1,
     "result": "PASS"},
    # 1 in 20 = 5 %, no result recorded -> derived: conditional
    {"inspection_id": 2, "product_id": 2, "inspected_at": "2024-06-02T10:00:00",
     "inspection_type": "In-process", "inspector": None, "sample_size": 20, "defects_found": 1,
     "result": None},
    {"inspection_id": 3, "product_id": 2, "inspected_at": "2024-06-02T14:00:00",
     "inspection_type": "Shelf life", "inspector": "Kim Lee", "sample_size": 20,
     "defects_found": 3, "result": " fail "},
    # 25 defects in a sample of 20 -> quarantined
    {"inspection_id": 4, "product_id": 3, "inspected_at": "2024-06-03T09:00:00",
     "inspection_type": "Final", "inspector": "Kim Lee", "sample_size": 20, "defects_found": 25,
     "result": "FAIL"},
]  # fmt: skip


def write_fixture(data: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data.mkdir(parents=True, exist_ok=True)
    for name, text in FIXTURE_CSV.items():
        (data / name).write_text(text, encoding="utf-8")
    keys = (*_ORDER, "promo_code", "updated_at")
    (data / "orders.json").write_text(
        "".join(json.dumps(dict(zip(keys, o, strict=True))) + "\n" for o in FIXTURE_ORDERS),
        encoding="utf-8",
    )
    inspections = [{**i, "batch_code": f"B-{i['inspection_id']}"} for i in FIXTURE_INSPECTIONS]
    (data / "quality_inspections.json").write_text(
        "".join(json.dumps(i) + "\n" for i in inspections), encoding="utf-8"
    )
    names = ("order_line_id", "order_id", "line_number", "product_id", "quantity")
    types = (pa.int64(), pa.int64(), pa.int32(), pa.int64(), pa.int32(), pa.float64(), pa.float64())
    columns = list(zip(*FIXTURE_LINES, strict=True))
    table = pa.table(
        {
            name: pa.array(col, type=t)
            for name, col, t in zip(
                (*names, "unit_price", "discount_pct"), columns, types, strict=True
            )
        }
    )
    pq.write_table(table, data / "order_lines.parquet")


def _rows(project: Project, sql: str) -> list[dict[str, Any]]:
    return project.query(sql).to_pylist()


def _by(project: Project, table: str, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in _rows(project, f"select * from {table}")}


def _count(project: Project, table: str) -> int:
    return _rows(project, f"select count(*) as n from {table}")[0]["n"]


@pytest.fixture(scope="module")
def fixture_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("pp_fixture")
    get_template(TEMPLATE).scaffold(root)
    write_fixture(root / "data")
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project


# ---------------------------------------------------------------------------------------------
# (1) the hand-checked fixture
# ---------------------------------------------------------------------------------------------


def test_fixture_silver_cleans_and_quarantines(fixture_project: Project) -> None:
    p = fixture_project
    products = _by(p, "silver.stg_products", "product_id")
    assert products[1]["sku"] == "BKY-00001" and products[1]["list_price"] == D("5.00")
    assert products[1]["launch_date"] == date(2023, 1, 15) and products[1]["status"] == "active"
    assert [products[i]["category"] for i in (1, 2, 3)] == ["bakery", "snacks", "beverages"]
    assert products[2]["product_name"] == "Granola Bars"
    assert products[3]["shelf_life_days"] is None and products[3]["status"] == "discontinued"

    customers = _by(p, "silver.stg_customers", "customer_id")
    assert len(customers) == 4
    ada = customers[1]  # the row with the later updated_at, although it comes first
    assert (ada["city"], ada["state"], ada["country"]) == ("Salem", "OR", "US")
    assert ada["email"] == "ada@example.com" and ada["signup_date"] == date(2024, 1, 10)
    cafe = customers[3]
    assert (cafe["customer_type"], cafe["has_valid_email"], cafe["country"]) == (
        "unknown",
        False,
        "CA",
    )

    orders = _by(p, "silver.stg_orders", "order_id")
    assert sorted(orders) == [1, 2, 3, 4, 5, 7, 8]  # 6: "N/A" is not an order time
    assert orders[4]["order_status"] == "shipped"  # the later export of order 4
    assert (orders[1]["channel"], orders[1]["promo_code"]) == ("web", "SPRING10")
    assert (orders[2]["channel"], orders[2]["order_status"]) == ("edi", "delivered")

    lines = _by(p, "silver.stg_order_lines", "order_line_id")
    assert sorted(lines) == [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]
    assert (lines[6]["gross_amount"], lines[6]["discount_amount"], lines[6]["net_amount"]) == (
        D("15.00"),
        D("0.75"),
        D("14.25"),
    )
    assert lines[7]["discount_pct"] == 0 and lines[7]["net_amount"] == D("10.00")

    recipe_lines = _by(p, "silver.stg_recipe_lines", "recipe_line_id")
    assert (recipe_lines[2]["uom"], recipe_lines[2]["base_quantity"]) == ("g", D("4"))
    assert recipe_lines[2]["line_cost"] == D("2.40") and recipe_lines[4]["base_uom"] == "each"
    assert recipe_lines[3]["ingredient"] == "salt" and recipe_lines[3]["line_cost"] == D("0.04")

    inspections = _by(p, "silver.stg_quality_inspections", "inspection_id")
    assert inspections[2]["result"] == "conditional" and inspections[2]["result_derived"]
    assert inspections[2]["inspector"] == "unassigned"
    assert inspections[3]["inspection_type"] == "shelf_life" and inspections[3]["result"] == "fail"

    quarantined = {
        "silver.stg_recipes": [4],  # batch_yield 0
        "silver.stg_recipe_lines": [8],  # quantity 0
        "silver.stg_orders": [6],  # order_ts "N/A"
        "silver.stg_order_lines": [9, 10],  # quantity 0, no unit price
        "silver.stg_shipments": [4],  # delivered before shipped
        "silver.stg_returns": [4],  # quantity 0
        "silver.stg_waste": [3],  # negative quantity
        "silver.stg_quality_inspections": [4],  # 25 defects in 20 samples
        "gold.fact_sales": [8],  # its order 6 is quarantined
        "gold.fact_returns": [3, 5],  # 30 of 24 units back; the sale of line 8 is not in silver
    }
    keys = {
        "stg_recipes": "recipe_id",
        "stg_recipe_lines": "recipe_line_id",
        "stg_orders": "order_id",
        "stg_order_lines": "order_line_id",
        "stg_shipments": "shipment_id",
        "stg_returns": "return_id",
        "stg_waste": "waste_id",
        "stg_quality_inspections": "inspection_id",
        "fact_sales": "order_line_id",
        "fact_returns": "return_id",
    }
    for table, ids in quarantined.items():
        key = keys[table.split(".")[1]]
        got = _rows(p, f"select {key} as k from {table}__quarantine order by k")
        assert [r["k"] for r in got] == ids, table


def test_fixture_dimensions(fixture_project: Project) -> None:
    p = fixture_project
    products = _by(p, "gold.dim_products", "product_id")
    # p1: recipe 2 (v2), batch 2.40 + 0.04 + 1.60 = 4.04 / 10 = 0.404; margin 5.00 - 0.404 =
    # 4.596 = 91.92 % -> 91.9; variance (0.404 - 1.20) / 1.20 = -66.33 % -> -66.3
    p1 = products[1]
    assert (p1["active_recipe_id"], p1["recipe_version"], p1["ingredient_count"]) == (2, 2, 3)
    assert (p1["unit_cost"], p1["cost_source"], p1["unit_margin"]) == (
        D("0.4040"),
        "recipe",
        D("4.5960"),
    )
    assert (p1["margin_pct"], p1["cost_variance_pct"], p1["price_tier"]) == (
        91.9,
        -66.3,
        "standard",
    )
    # p2: recipe 3 without the quarantined line 8: 3.00 + 4.10 + 2.00 = 9.10 / 20 = 0.455;
    # margin 4.00 - 0.455 = 3.545 = 88.625 % -> 88.6; variance (0.455 - 1.00) / 1.00 = -54.5 %
    p2 = products[2]
    assert (p2["unit_cost"], p2["ingredient_count"], p2["margin_pct"]) == (D("0.4550"), 3, 88.6)
    assert p2["cost_variance_pct"] == -54.5
    # p3: its only recipe is quarantined -> the ERP standard cost 0.90; 2.50 - 0.90 = 1.60 = 64 %
    p3 = products[3]
    assert (p3["active_recipe_id"], p3["unit_cost"], p3["cost_source"]) == (
        None,
        D("0.9000"),
        "standard",
    )
    assert (p3["margin_pct"], p3["price_tier"], p3["is_active"]) == (64.0, "value", False)

    customers = _by(p, "gold.dim_customers", "customer_id")
    assert {c: r["is_business"] for c, r in customers.items()} == {
        1: False,
        2: True,
        3: False,
        4: False,
    }
    assert customers[4]["region"] == "Europe" and customers[1]["signup_month"] == date(2024, 1, 1)

    # the earliest date in silver is order 7's (2024-03-01), the latest return 5's (2024-06-10):
    # the calendar covers March to June, 31 + 30 + 31 + 30 = 122 days
    days = _rows(p, "select * from gold.dim_date order by date_day")
    assert len(days) == 122
    assert (days[0]["date_day"], days[-1]["date_day"]) == (date(2024, 3, 1), date(2024, 6, 30))
    june_1 = next(d for d in days if d["date_key"] == 20240601)
    assert (june_1["day_name"], june_1["day_of_week"], june_1["is_weekend"]) == (
        "Saturday",
        6,
        True,
    )
    assert (june_1["month_name"], june_1["quarter"], june_1["year_month"]) == ("June", 2, "2024-06")


def test_fixture_facts(fixture_project: Project) -> None:
    p = fixture_project
    sales = _by(p, "gold.fact_sales", "order_line_id")
    assert sorted(sales) == [1, 2, 3, 4, 5, 6, 7, 11, 12]
    # order 1 shipped 06-02, promised 06-04, delivered 06-05: late, 4 days after the order
    assert (sales[1]["delivered_date"], sales[1]["days_to_deliver"]) == (date(2024, 6, 5), 4)
    assert sales[1]["delivered_on_time"] is False and sales[3]["delivered_on_time"] is True
    assert sales[3]["days_to_deliver"] == 5  # 06-01 -> 06-06
    # order 4 is in transit, order 5's only shipment was quarantined
    assert sales[6]["shipped_date"] == date(2024, 6, 4) and sales[6]["delivered_date"] is None
    assert sales[7]["shipped_date"] is None and sales[7]["customer_id"] == 99
    assert sales[5]["is_cancelled"] and sales[1]["order_date_key"] == 20240601

    returns = _by(p, "gold.fact_returns", "return_id")
    assert sorted(returns) == [1, 2, 6]
    # return 1: no refund booked -> line 1's net 9.00 / 2 units * 1 unit back = 4.50
    assert (returns[1]["refund_amount"], returns[1]["refund_estimated"]) == (D("4.50"), True)
    assert (returns[2]["refund_amount"], returns[2]["refund_estimated"]) == (D("8.00"), False)
    assert returns[1]["days_to_return"] == 7 and returns[1]["is_quality_issue"]
    assert returns[6]["return_reason"] == "unspecified" and returns[6]["customer_id"] == 3

    waste = _by(p, "gold.fact_waste", "waste_id")
    # record 2: no cost booked -> 50 units * standard cost 1.00
    assert (waste[2]["waste_cost"], waste[2]["cost_estimated"]) == (D("50.00"), True)
    assert waste[1]["facility"] == "PDX-BAKERY" and waste[1]["is_avoidable"]

    quality = _by(p, "gold.fact_quality", "inspection_id")
    assert {i: (q["result"], q["defect_rate"]) for i, q in quality.items()} == {
        1: ("pass", 0.02),
        2: ("conditional", 0.05),
        3: ("fail", 0.15),
    }


def test_fixture_metrics_sales_performance(fixture_project: Project) -> None:
    p = fixture_project
    days = {
        r["date_day"]: r
        for r in _rows(p, "select * from gold.metrics_sales_performance order by date_day")
    }
    assert len(days) == 122  # every calendar day, zeros included
    # 06-01: orders 1 and 2, lines 1-4: units 2 + 1 + 10 + 24 = 37; gross 10 + 4 + 40 + 60 =
    # 114.00; discounts 1.00 + 0 + 6.00 + 9.00 = 16.00; net 98.00; per order 49.00; both
    # delivered, one on time -> 50 %
    june_1 = days[date(2024, 6, 1)]
    assert (june_1["orders"], june_1["customers"], june_1["units_sold"]) == (2, 2, 37)
    assert (june_1["gross_revenue"], june_1["discounts"], june_1["net_revenue"]) == (
        D("114.00"),
        D("16.00"),
        D("98.00"),
    )
    assert (june_1["avg_order_value"], june_1["on_time_delivery_pct"]) == (49.0, 50.0)
    # 06-02: order 3 was cancelled: no sales
    june_2 = days[date(2024, 6, 2)]
    assert (june_2["orders"], june_2["cancelled_orders"], june_2["net_revenue"]) == (0, 1, 0)
    # 06-03: orders 4 (14.25) and 5 (10.00): 24.25 over 2 orders, customers 2 and 99; none
    # delivered yet; month to date 98.00 + 24.25 = 122.25
    june_3 = days[date(2024, 6, 3)]
    assert (june_3["orders"], june_3["customers"], june_3["net_revenue"]) == (2, 2, D("24.25"))
    assert (june_3["delivered_orders"], june_3["on_time_delivery_pct"]) == (0, None)
    assert june_3["net_revenue_mtd"] == D("122.25")
    # 7 days ending 06-07: (98.00 + 24.25) / 7 = 17.464... -> 17.46
    assert days[date(2024, 6, 7)]["net_revenue_7d_avg"] == 17.46
    # 06-08: returns 1 (1 unit, 4.50) and 2 (2 units, 8.00)
    june_8 = days[date(2024, 6, 8)]
    assert (june_8["units_returned"], june_8["refunds"]) == (3, D("12.50"))
    assert june_8["net_revenue_after_refunds"] == D("-12.50")
    # 03-01: order 7, 20.00, delivered on time; 04-10: order 8, 9.00
    assert days[date(2024, 3, 1)]["net_revenue"] == D("20.00")
    assert days[date(2024, 3, 1)]["on_time_delivery_pct"] == 100.0
    assert days[date(2024, 4, 10)]["net_revenue"] == D("9.00")
    # 20.00 + 9.00 + 98.00 + 24.25 = 151.25: every non-cancelled sale, once
    assert sum(r["net_revenue"] for r in days.values()) == D("151.25")


def test_fixture_metrics_product_performance(fixture_project: Project) -> None:
    rows = _by(fixture_project, "gold.metrics_product_performance", "product_id")
    # p1: lines 1 (2 units, 9.00) and 6 (3 units, 14.25): 5 units, 23.25; cost 5 * 0.404 = 2.02;
    # margin 21.23 = 91.31 %; 1 unit returned (20 %, refund 4.50); waste 10 units / (5 + 10) =
    # 66.67 %, 12.00; one passed inspection; contribution 21.23 - 4.50 - 12.00 = 4.73
    p1 = rows[1]
    assert (p1["units_sold"], p1["net_revenue"], p1["cost_of_goods"]) == (
        5,
        D("23.25"),
        D("2.02"),
    )
    assert (p1["gross_margin"], p1["gross_margin_pct"], p1["return_rate_pct"]) == (
        D("21.23"),
        91.3,
        20.0,
    )
    assert (p1["waste_pct"], p1["inspection_pass_pct"], p1["contribution"]) == (
        66.67,
        100.0,
        D("4.73"),
    )
    # p2: lines 2 (1, 4.00), 3 (10, 34.00), 11 (5, 20.00): 16 units, 58.00, 3 orders; cost 16 *
    # 0.455 = 7.28; margin 50.72 = 87.45 %; returns 2 + 1 = 3 units = 18.75 %, 2 of them quality
    # (defective), refunds 8.00 + 3.00; waste 50 / 66 = 75.76 %, 50.00; inspections conditional
    # and fail: 0 % passed, mean defect rate (0.05 + 0.15) / 2 = 0.1;
    # contribution 50.72 - 11.00 - 50.00 = -10.28
    p2 = rows[2]
    assert (p2["units_sold"], p2["orders"], p2["net_revenue"]) == (16, 3, D("58.00"))
    assert (p2["cost_of_goods"], p2["gross_margin_pct"]) == (D("7.28"), 87.4)
    assert (p2["units_returned"], p2["quality_returns"], p2["return_rate_pct"]) == (3, 2, 18.75)
    assert (p2["waste_pct"], p2["waste_cost"], p2["failed_inspections"]) == (
        75.76,
        D("50.00"),
        1,
    )
    assert (p2["inspection_pass_pct"], p2["avg_defect_rate"], p2["contribution"]) == (
        0.0,
        0.1,
        D("-10.28"),
    )
    # p3: lines 4 (24, 51.00), 7 (4, 10.00), 12 (4, 9.00): 32 units, 70.00; cost 32 * 0.90 =
    # 28.80; margin 41.20 = 58.86 %; no returns (return 3 was quarantined), no waste, no
    # inspection left
    p3 = rows[3]
    assert (p3["units_sold"], p3["net_revenue"], p3["gross_margin_pct"]) == (32, D("70.00"), 58.9)
    assert (p3["units_returned"], p3["waste_units"], p3["inspections"]) == (0, 0, 0)
    assert p3["inspection_pass_pct"] is None and p3["contribution"] == D("41.20")
    # ABC: total 151.25, 80 % = 121.00; p3 (nothing before) A, p2 (70.00 before) A, p1 (128.00
    # before, >= 121.00 but < 95 % = 143.69) B
    assert {i: (r["revenue_rank"], r["abc_class"]) for i, r in rows.items()} == {
        3: (1, "A"),
        2: (2, "A"),
        1: (3, "B"),
    }


def test_fixture_metrics_customer_analytics(fixture_project: Project) -> None:
    rows = _by(fixture_project, "gold.metrics_customer_analytics", "customer_id")
    # as of 06-03 (the latest non-cancelled order)
    assert {r["as_of_date"] for r in rows.values()} == {date(2024, 6, 3)}
    # Ada: order 1 (13.00; order 3 was cancelled), return 1 (4.50): 8.50; first order 2 days ago
    ada = rows[1]
    assert (ada["orders"], ada["net_revenue"], ada["refunds"], ada["lifetime_value"]) == (
        1,
        D("13.00"),
        D("4.50"),
        D("8.50"),
    )
    assert (ada["days_since_last_order"], ada["lifecycle_segment"]) == (2, "new")
    # Corner Market: orders 8 (04-10, 9.00), 2 (06-01, 34.00 + 51.00), 4 (06-03, 14.25) =
    # 108.25, 36.08 per order; return 2 (8.00) -> 100.25; first order 54 days ago, 3 orders
    corner = rows[2]
    assert (corner["orders"], corner["net_revenue"], corner["avg_order_value"]) == (
        3,
        D("108.25"),
        36.08,
    )
    assert (corner["lifetime_value"], corner["first_order_date"]) == (
        D("100.25"),
        date(2024, 4, 10),
    )
    assert (corner["lifecycle_segment"], corner["value_rank"]) == ("active", 1)
    # Cafe Uno: order 7 on 03-01 (20.00), 94 days ago -> churned; return 6 (3.00) -> 17.00
    cafe = rows[3]
    assert (cafe["lifetime_value"], cafe["days_since_last_order"]) == (D("17.00"), 94)
    assert (cafe["lifecycle_segment"], cafe["value_rank"]) == ("churned", 2)
    assert ada["value_rank"] == 3
    # Dan never ordered
    assert (rows[4]["orders"], rows[4]["lifecycle_segment"], rows[4]["value_rank"]) == (
        0,
        "prospect",
        None,
    )


def test_fixture_checks_and_ledger(fixture_project: Project) -> None:
    p = fixture_project
    checks = p.check_results(p.last_run()["run_id"])
    assert [c for c in checks if c["status"] in ("fail", "error")] == []
    warned = {(c["table_name"], c["name"]) for c in checks if c["status"] == "warn"}
    assert ("silver.stg_orders", "relationships_customer_id__silver_stg_customers") in warned
    assert ("silver.stg_customers", "valid_email") in warned
    fresh = [c for c in checks if c["kind"] == "freshness"]
    assert len(fresh) == 4 and all(c["status"] == "pass" for c in fresh)
    verification = p.verify()
    assert verification.ok, [line.problem for line in verification.lines if not line.ok]


# ---------------------------------------------------------------------------------------------
# (2) generated data at the default scale, end to end; (3) a second run changes nothing
# ---------------------------------------------------------------------------------------------

# silver model -> (bronze source, key): every distinct key of bronze is in silver or quarantined
STAGING = {
    "stg_products": ("products", "product_id"),
    "stg_recipes": ("recipes", "recipe_id"),
    "stg_recipe_lines": ("recipe_lines", "recipe_line_id"),
    "stg_customers": ("customers", "customer_id"),
    "stg_orders": ("orders", "order_id"),
    "stg_order_lines": ("order_lines", "order_line_id"),
    "stg_shipments": ("shipments", "shipment_id"),
    "stg_returns": ("returns", "return_id"),
    "stg_waste": ("waste", "waste_id"),
    "stg_quality_inspections": ("quality_inspections", "inspection_id"),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Any, dict[str, int]]:
    template = get_template(TEMPLATE)
    root = tmp_path_factory.mktemp("pp_generated")
    template.scaffold(root)
    counts = template.generate(root)  # the default scale, as `medallion init` writes it
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project, result, counts


def test_generated_run_succeeds_with_every_check(generated: tuple) -> None:
    project, result, counts = generated
    assert counts["order_lines.parquet"] >= 3000
    assert {s.status for s in result.steps} == {"success"}
    assert len(result.steps) == 30  # 10 sources, 10 staging models, 7 tables and 3 views of gold
    checks = project.check_results(result.run_id)
    assert [c for c in checks if c["status"] in ("fail", "error")] == []
    kinds = {c["kind"] for c in checks}
    assert {"not_null", "unique", "relationships", "accepted_values", "freshness"} <= kinds
    assert {"anomaly", "reconciliation", "expression_is_true", "expectation"} <= kinds
    assert all(c["status"] == "pass" for c in checks if c["kind"] == "freshness")
    for table in ("gold.fact_sales", "gold.fact_returns", "gold.fact_quality", "gold.fact_waste"):
        assert _count(project, table) > 0, table


def test_generated_rows_are_all_accounted_for(generated: tuple) -> None:
    project, result, counts = generated
    # bronze holds every line of every file (nothing is unparseable at load time)
    files = {
        "products.csv": "products",
        "customers.csv": "customers",
        "orders.json": "orders",
        "order_lines.parquet": "order_lines",
        "quality_inspections.json": "quality_inspections",
    }
    for file, source in files.items():
        assert _count(project, f"bronze.{source}") == counts[file], source
        assert not project.catalog.exists(f"bronze.{source}__quarantine")
    # silver: each distinct key is either in the staging table or in its quarantine
    for model, (source, key) in STAGING.items():
        distinct = _rows(project, f"select count(distinct {key}) as n from bronze.{source}")
        quarantine = f"silver.{model}__quarantine"
        held = _count(project, f"silver.{model}")
        set_aside = _count(project, quarantine) if project.catalog.exists(quarantine) else 0
        assert distinct[0]["n"] == held + set_aside, model
    # the generator's invalid rows are caught where the template says
    for table in (
        "silver.stg_recipes",
        "silver.stg_recipe_lines",
        "silver.stg_orders",
        "silver.stg_order_lines",
        "silver.stg_shipments",
        "silver.stg_waste",
        "silver.stg_quality_inspections",
        "gold.fact_sales",
        "gold.fact_returns",
    ):
        assert _count(project, f"{table}__quarantine") > 0, table
    # gold: every staged line is a sale or waits for its order
    assert _count(project, "gold.fact_sales") + _count(
        project, "gold.fact_sales__quarantine"
    ) == _count(project, "silver.stg_order_lines")
    # the ledger adds up and agrees with the Delta log; the reconciliations hold
    verification = project.verify()
    assert verification.ok, [line.problem for line in verification.lines if not line.ok]
    assert {(r.table, r.status) for r in verification.reconciliations} == {
        ("gold.fact_quality", "pass"),
        ("gold.fact_waste", "pass"),
        ("gold.metrics_product_performance", "pass"),
        ("gold.metrics_sales_performance", "pass"),
    }
    # the same reconciliations ran (and passed) with the run
    recon = [
        (c["table_name"], c["status"])
        for c in project.check_results(result.run_id)
        if c["kind"] == "reconciliation"
    ]
    assert sorted(recon) == [
        ("gold.fact_quality", "pass"),
        ("gold.fact_waste", "pass"),
        ("gold.metrics_product_performance", "pass"),
        ("gold.metrics_product_performance", "pass"),
        ("gold.metrics_sales_performance", "pass"),
        ("gold.metrics_sales_performance", "pass"),
    ]


def test_generated_business_rules_hold(generated: tuple) -> None:
    project = generated[0]
    (costing,) = _rows(
        project,
        "select count(*) as n, count(*) filter (where cost_source = 'standard') as standard, "
        "min(margin_pct) as low, max(margin_pct) as high from gold.dim_products",
    )
    # the generator draws recipes costing 22-40 % of the price; one recipe at least is broken
    assert costing["standard"] >= 1 and 50 < costing["low"] <= costing["high"] < 85
    segments = {
        r["lifecycle_segment"]
        for r in _rows(
            project, "select distinct lifecycle_segment from gold.metrics_customer_analytics"
        )
    }
    assert {"new", "active", "loyal"} <= segments
    classes = _rows(
        project,
        "select abc_class, count(*) as n from gold.metrics_product_performance group by 1",
    )
    assert {r["abc_class"] for r in classes} == {"A", "B", "C"}
    (late,) = _rows(
        project,
        "select avg(on_time_delivery_pct) as pct from gold.metrics_sales_performance "
        "where delivered_orders > 0",
    )
    assert 70 < late["pct"] < 100


def test_second_run_changes_no_table(
    generated: tuple, versions: Callable[[Project], dict[str, int]]
) -> None:
    project = generated[0]
    before = versions(project)
    again = project.run(trigger="test")
    assert again.ok, again.error
    assert versions(project) == before
    for step in again.steps:
        assert step.rows_written in (0, None), step.node
    checks = project.check_results(again.run_id)
    assert [c for c in checks if c["status"] in ("fail", "error")] == []


# ---------------------------------------------------------------------------------------------
# (4) the CLI demo; (5) the generator
# ---------------------------------------------------------------------------------------------


def test_demo_via_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", "demo", str(tmp_path / "d"), "-t", TEMPLATE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for table in (
        "dim_products",
        "dim_customers",
        "dim_date",
        "fact_sales",
        "fact_returns",
        "fact_quality",
        "fact_waste",
        "metrics_sales_performance",
        "metrics_product_performance",
        "metrics_customer_analytics",
    ):
        assert f"gold.{table}" in proc.stdout, table
    assert "run summary" in proc.stdout


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_generate_is_deterministic_and_scales(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from medallion.templates.product_platform.generate import FILES, generate, sizes

    first = generate(tmp_path / "a", rows=1234, seed=7)
    generate(tmp_path / "b", rows=1234, seed=7)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert sorted(first) == sorted(FILES) and sorted(_digests(tmp_path / "a")) == sorted(FILES)
    generate(tmp_path / "c", rows=1234, seed=8)
    assert _digests(tmp_path / "c")["orders.json"] != _digests(tmp_path / "a")["orders.json"]

    lines = pq.read_table(tmp_path / "a" / "order_lines.parquet")
    assert len(set(lines.column("order_line_id").to_pylist())) == 1234
    assert first["order_lines.parquet"] == lines.num_rows >= 1234
    n = sizes(1234)
    orders = {
        json.loads(line)["order_id"]
        for line in (tmp_path / "a" / "orders.json").read_text().splitlines()
    }
    assert orders == set(range(1, n["orders"] + 1))
    # ten times the lines: ten times the orders, more customers and waste records
    bigger = generate(tmp_path / "d", rows=12340, seed=7)
    assert bigger["orders.json"] > 9 * first["orders.json"]
    assert sizes(12340)["customers"] > n["customers"]
    with pytest.raises(ValueError, match="rows must be >= 1"):
        generate(tmp_path / "e", rows=0)


# ---------------------------------------------------------------------------------------------
# Daily drops: run day by day, the project equals the same files built in one go
# ---------------------------------------------------------------------------------------------

AUDIT = {"_ingested_at", "_run_id", "_source_file", "_quarantined_at", "_quarantine_id"}


def _content(project: Project, table: str) -> list[tuple[Any, ...]]:
    t = project.query(f"select * from {table}")
    cols = [c for c in t.column_names if c not in AUDIT]
    return sorted(
        (tuple(r[c] for c in cols) for r in t.select(cols).to_pylist()),
        key=lambda row: tuple((v is None, str(v)) for v in row),
    )


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Project, dict]:
    template = get_template(TEMPLATE)
    a_root = tmp_path_factory.mktemp("pp_daily")
    template.scaffold(a_root)
    template.generate(a_root, rows=1200)
    a = Project.load(a_root)
    runs: dict[str, Any] = {"first": a.run(trigger="test")}
    drops = {}
    for day in (2, 3):
        drops[day] = template.generate(a_root, day=day)
        runs[f"day{day}"] = a.run(trigger="test")
    assert all(r.ok for r in runs.values()), {k: r.error for k, r in runs.items()}
    runs["drops"] = drops
    b_root = tmp_path_factory.mktemp("pp_at_once")
    template.scaffold(b_root)
    for path in (a_root / "data").iterdir():
        (b_root / "data").mkdir(exist_ok=True)
        (b_root / "data" / path.name).write_bytes(path.read_bytes())
    b = Project.load(b_root)
    once = b.run(trigger="test")
    assert once.ok, once.error
    return a, b, runs


def test_a_day_drop_is_ingested_alone_and_moves_orders_on(day_by_day: tuple) -> None:
    a, _, runs = day_by_day
    day2 = runs["day2"]
    assert day2.step("bronze.orders").details["files"] == ["data/orders_day2.json"]
    assert day2.step("bronze.recipes").rows_written == 0  # recipes do not change
    # the drop re-exports orders that shipped or arrived: fact_sales rewrites their old lines too
    new_lines = runs["drops"][2]["order_lines_day2.parquet"]
    assert day2.step("gold.fact_sales").rows_written > new_lines
    (moved,) = _rows(
        a,
        "select count(*) as n from silver.stg_orders "
        "where order_date < date '2024-07-01' and updated_at >= timestamp '2024-07-01'",
    )
    assert moved["n"] > 0
    (latest,) = _rows(a, "select max(date_day) as d from gold.dim_date")
    assert latest["d"] == date(2024, 7, 31)  # the calendar grew to cover July


@pytest.mark.parametrize(
    "table",
    [
        *(f"silver.{m}" for m in STAGING),
        "gold.dim_products",
        "gold.dim_customers",
        "gold.dim_date",
        "gold.fact_sales",
        "gold.fact_returns",
        "gold.fact_quality",
        "gold.fact_waste",
        "gold.metrics_sales_performance",
        "gold.metrics_product_performance",
        "gold.metrics_customer_analytics",
    ],
)
def test_day_by_day_equals_all_at_once(day_by_day: tuple, table: str) -> None:
    a, b, _ = day_by_day
    assert _content(a, table) == _content(b, table)
    quarantine = f"{table}__quarantine"
    if b.catalog.exists(quarantine):
        assert _content(a, quarantine) == _content(b, quarantine)


def test_day_by_day_ledger_and_checks(day_by_day: tuple) -> None:
    a, _, runs = day_by_day
    assert a.verify().ok
    for name in ("day2", "day3"):
        checks = a.check_results(runs[name].run_id)
        assert [c for c in checks if c["status"] in ("fail", "error")] == [], name


def test_a_drop_is_rewritten_identically(day_by_day: tuple, tmp_path: Path) -> None:
    from medallion.templates.product_platform.generate import generate_increment

    a = day_by_day[0]
    data = a.root / "data"
    before = _digests(data)
    # day 2 again, with day 3 present: day 3 is ignored, the same bytes come out
    generate_increment(data, day=2)
    assert _digests(data) == before
    with pytest.raises(ValueError, match="day must be >= 2"):
        generate_increment(data, day=1)
    with pytest.raises(ValueError, match="lacks the initial file"):
        generate_increment(tmp_path, day=2)


def test_models_compile_to_the_seed_warehouses(fixture_project: Project) -> None:
    """`medallion compile` carries every model to Spark, Databricks, Snowflake, BigQuery and
    PostgreSQL: none uses a construct compile refuses for one of them."""
    sql_models = [m for m in fixture_project.models.values() if m.language == "sql"]
    for dialect in ("spark", "databricks", "snowflake", "bigquery", "postgres"):
        result = fixture_project.compile(dialect)
        assert len([m for m in result.models if m.path is not None]) == len(sql_models)
