"""`/tables`: listings filtered by role and grant, a table's detail, its rows in four formats
with the row filter and masks applied as on the SQL endpoint."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from tests.serve.http.conftest import basic

from medallion.project import Project

ALL = {
    "bronze.orders",
    "silver.orders",
    "gold.sales_by_customer",
    "gold.sales_by_day",
}


def names(client: TestClient, user: str) -> set[str]:
    r = client.get("/api/v1/tables", headers=basic(user))
    assert r.status_code == 200, r.text
    return {f"{t['layer']}.{t['name']}" for t in r.json()}


@pytest.mark.parametrize("user", ["ada", "mia", "carl"])
def test_roles_that_read_everything_list_every_table(client: TestClient, user: str) -> None:
    assert names(client, user) == ALL


def test_a_viewer_lists_only_its_grants_and_one_without_grants_nothing(client: TestClient) -> None:
    assert names(client, "val") == ALL - {"bronze.orders"}
    assert names(client, "vic") == set()


def test_listing_has_layer_kind_rows_version_written_description(client: TestClient) -> None:
    r = client.get("/api/v1/tables", headers=basic("ada"))
    silver = next(t for t in r.json() if t["name"] == "orders" and t["layer"] == "silver")
    assert silver["kind"] == "table"
    assert silver["rows"] == 4
    assert silver["version"] == 0
    assert silver["last_written"]
    assert silver["description"] == "One row per order, typed."
    bronze = next(t for t in r.json() if t["layer"] == "bronze")
    assert bronze["kind"] == "source"


def test_detail_has_columns_with_descriptions_checks_and_history(client: TestClient) -> None:
    r = client.get("/api/v1/tables/silver/orders", headers=basic("carl"))
    assert r.status_code == 200, r.text
    detail = r.json()
    columns = {c["name"]: c for c in detail["columns"]}
    assert columns["amount"]["description"] == "The order's total in euros."
    assert columns["amount"]["type"] == "decimal128(10, 2)"
    assert columns["order_id"]["description"] is None
    assert [h["version"] for h in detail["history"]] == [0]
    assert detail["history"][0]["run_id"]
    checks = [(c["name"], c["kind"]) for c in detail["checks"]]
    assert checks == [("unique_order_id", "unique"), ("not_null_customer", "not_null")], checks


def test_detail_of_a_masked_column_is_as_the_viewer_reads_it(client: TestClient) -> None:
    r = client.get("/api/v1/tables/gold/sales_by_customer", headers=basic("val"))
    assert r.status_code == 200, r.text
    assert {c["name"] for c in r.json()["columns"]} == {"customer", "total", "orders"}


def test_detail_and_rows_of_an_ungranted_table_are_403_and_audited(
    client: TestClient, shop: Project
) -> None:
    from tests.serve.http.conftest import audit_rows

    r = client.get("/api/v1/tables/bronze/orders", headers=basic("val"))
    assert r.status_code == 403
    assert "bronze.orders is not allowed" in r.json()["error"]
    r = client.get("/api/v1/tables/bronze/orders/rows", headers=basic("vic"))
    assert r.status_code == 403
    denied = [
        row
        for row in audit_rows(shop)
        if row["action"] == "query" and row["response_status"] == "denied"
    ]
    assert {(row["user"], row["service"]) for row in denied} >= {("val", "http"), ("vic", "http")}


def test_an_unknown_table_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/tables/gold/nope", headers=basic("ada")).status_code == 404
    assert client.get("/api/v1/tables/gold/nope/rows", headers=basic("val")).status_code == 404


def rows(client: TestClient, user: str, path: str, **params: str) -> list[dict]:
    r = client.get(f"/api/v1/tables/{path}/rows", params=params, headers=basic(user))
    assert r.status_code == 200, r.text
    return r.json()


def test_rows_as_json_with_where_order_limit_offset(client: TestClient) -> None:
    got = rows(client, "carl", "silver/orders", where="amount > 6", order="amount desc")
    assert [(r["order_id"], r["amount"]) for r in got] == [(2, 20.25), (1, 10.5), (4, 7.75)]
    got = rows(client, "carl", "silver/orders", order="order_id", limit="2", offset="1")
    assert [r["order_id"] for r in got] == [2, 3]
    assert got[0]["ordered_at"] == "2024-01-02T11:30:00"
    assert got[0]["paid"] is False


def test_the_row_filter_applies_to_a_viewer_and_not_to_a_contributor(client: TestClient) -> None:
    viewer = rows(client, "val", "silver/orders", order="order_id")
    assert [r["order_id"] for r in viewer] == [1, 3, 4]  # bob's unpaid order filtered out
    assert len(rows(client, "carl", "silver/orders")) == 4


def test_a_mask_applies_to_a_viewer(client: TestClient) -> None:
    got = rows(client, "val", "gold/sales_by_customer", order="customer")
    assert [r["customer"] for r in got] == ["a***", "b***", "c***"]
    got = rows(client, "ada", "gold/sales_by_customer", order="customer")
    assert [r["customer"] for r in got] == ["alice", "bob", "carol"]


def test_a_where_on_a_masked_column_sees_the_masked_value(client: TestClient) -> None:
    got = rows(client, "val", "gold/sales_by_customer", where="customer = 'alice'")
    assert got == []  # the mask applies before the filter: no probing of clear values
    got = rows(client, "val", "gold/sales_by_customer", where="customer like 'a%'")
    assert [r["customer"] for r in got] == ["a***"]
    got = rows(client, "val", "silver/orders", where="not paid")
    assert got == []  # the row filter applies before the caller's where


def test_a_where_that_reaches_another_table_is_refused(client: TestClient) -> None:
    r = client.get(
        "/api/v1/tables/gold/sales_by_day/rows",
        params={"where": "total > (select count(*) from bronze.orders)"},
        headers=basic("val"),
    )
    assert r.status_code == 403, r.text
    r = client.get(
        "/api/v1/tables/gold/sales_by_day/rows",
        params={"where": "1; drop table x"},
        headers=basic("val"),
    )
    assert r.status_code == 400
    assert "does not parse" in r.json()["error"]


def test_rows_as_of_a_version(client: TestClient) -> None:
    got = rows(client, "carl", "silver/orders", as_of="0")
    assert len(got) == 4
    got = rows(client, "carl", "silver/orders", as_of="2099-01-01T00:00:00")
    assert len(got) == 4
    r = client.get(
        "/api/v1/tables/silver/orders/rows", params={"as_of": "2001-01-01"}, headers=basic("carl")
    )
    assert r.status_code == 400, r.text  # the table did not exist yet
    r = client.get(
        "/api/v1/tables/silver/orders/rows", params={"as_of": "yesterday"}, headers=basic("carl")
    )
    assert r.status_code == 400, r.text
    # named as this API spells the parameter, not as the CLI's --as-of
    assert r.json()["error"] == "as_of 'yesterday' is neither a version number nor a time"
    r = client.get(
        "/api/v1/tables/silver/orders/rows", params={"as_of": "7"}, headers=basic("carl")
    )
    assert r.status_code in (400, 404), r.text


def test_rows_as_csv(client: TestClient) -> None:
    r = client.get(
        "/api/v1/tables/silver/orders/rows",
        params={"format": "csv", "order": "order_id"},
        headers=basic("val"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="silver.orders.csv"' in r.headers["content-disposition"]
    read = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["order_id"], x["customer"], x["amount"]) for x in read] == [
        ("1", "alice", "10.50"),
        ("3", "alice", "5.00"),
        ("4", "carol", "7.75"),
    ]


def test_rows_as_parquet_read_back_with_pyarrow(client: TestClient) -> None:
    r = client.get(
        "/api/v1/tables/gold/sales_by_customer/rows",
        params={"format": "parquet", "order": "customer"},
        headers=basic("val"),
    )
    assert r.status_code == 200, r.text
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == ["customer", "total", "orders"]
    assert table.to_pylist() == [
        {"customer": "a***", "total": Decimal("15.50"), "orders": 2},
        {"customer": "b***", "total": Decimal("20.25"), "orders": 1},
        {"customer": "c***", "total": Decimal("7.75"), "orders": 1},
    ]


def test_rows_as_xlsx_opened_with_openpyxl_cell_by_cell(client: TestClient) -> None:
    r = client.get(
        "/api/v1/tables/silver/orders/rows",
        params={"format": "xlsx", "order": "order_id"},
        headers=basic("val"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    import datetime as dt

    assert cells == [
        ["order_id", "customer", "amount", "ordered_at", "paid", "order_date"],
        [1, "alice", 10.5, dt.datetime(2024, 1, 1, 10, 0), True, dt.datetime(2024, 1, 1)],
        [3, "alice", 5, dt.datetime(2024, 1, 3, 9, 15), True, dt.datetime(2024, 1, 3)],
        [4, "carol", 7.75, dt.datetime(2024, 1, 3, 12, 0), True, dt.datetime(2024, 1, 3)],
    ]


def test_an_unknown_format_is_422(client: TestClient) -> None:
    r = client.get(
        "/api/v1/tables/silver/orders/rows", params={"format": "xml"}, headers=basic("ada")
    )
    assert r.status_code == 422
    assert "format" in r.json()["error"]


def test_json_writes_nan_and_infinity_as_null(client: TestClient) -> None:
    r = client.post(
        "/api/v1/query",
        json={
            "sql": "select case order_id when 1 then 'nan'::double when 2 then 'inf'::double "
            "when 3 then '-inf'::double else amount::double end as x from silver.orders "
            "order by order_id"
        },
        headers=basic("carl"),
    )
    assert r.status_code == 200, r.text
    assert r.json() == [{"x": None}, {"x": None}, {"x": None}, {"x": 7.75}]


def test_json_values_of_each_type(client: TestClient) -> None:
    sql = (
        "select 1::int as i, null::int as n, 'a\"b\\ü' as s, 12.345::decimal(10, 3) as d, "
        "[1, 2] as l, {'k': 'v'} as st, date '2024-01-02' as dt, true as b, null::text as ns, "
        "timestamptz '2024-01-02 03:04:05+00' as tz from silver.orders limit 1"
    )
    r = client.post("/api/v1/query", json={"sql": sql}, headers=basic("carl"))
    assert r.status_code == 200, r.text
    assert '"d":12.345' in r.text  # the decimal's digits, not a float's
    assert r.json() == [
        {
            "i": 1,
            "n": None,
            "s": 'a"b\\ü',
            "d": 12.345,
            "l": [1, 2],
            "st": {"k": "v"},
            "dt": "2024-01-02",
            "b": True,
            "ns": None,
            "tz": "2024-01-02T03:04:05+00:00",
        }
    ]


def test_the_listing_is_remembered_until_a_table_changes(tmp_path) -> None:
    import time

    from tests.conftest import write_project
    from tests.serve.http.conftest import PASSWORD

    from medallion.serve.http import create_app

    root = write_project(
        tmp_path / "l", "name: l\nsources:\n  o: {path: data/o*.csv}\n", {},
        {"data/o1.csv": "a\n1\n"},
    )  # fmt: skip
    project = Project.load(root)
    assert project.run().ok
    project.add_user("c", "contributor", [], PASSWORD)
    time.sleep(1.1)  # older than a clock tick: the listing may be remembered

    def listed(c: TestClient) -> tuple[int, int]:
        (row,) = c.get("/api/v1/tables", headers=basic("c")).json()
        return row["version"], row["rows"]

    with TestClient(create_app(project)) as c:
        assert listed(c) == (0, 1)
        assert c.app.state.api.listing._key is not None  # remembered
        assert listed(c) == (0, 1)
        (root / "data" / "o2.csv").write_text("a\n2\n3\n")
        assert project.run().ok
        assert listed(c) == (1, 3)  # the log changed: read again


def test_a_row_filtered_tables_counts_are_not_shown(client: TestClient) -> None:
    # val reads silver.orders through a row filter (paid rows only): the table's own counts
    # would tell how many rows the filter hides
    listed = {
        f"{t['layer']}.{t['name']}": t
        for t in client.get("/api/v1/tables", headers=basic("val")).json()
    }
    assert listed["silver.orders"]["rows"] is None
    assert listed["gold.sales_by_day"]["rows"] is not None  # no filter there
    detail = client.get("/api/v1/tables/silver/orders", headers=basic("val")).json()
    assert detail["rows"] is None
    assert detail["history"] and all("rows" not in k for h in detail["history"] for k in h)
    ada = client.get("/api/v1/tables/silver/orders", headers=basic("ada")).json()
    assert ada["rows"] == 4
    assert any("rows" in k for h in ada["history"] for k in h)
