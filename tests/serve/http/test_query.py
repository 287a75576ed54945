"""`POST /query`: the SQL endpoint's rules (one SELECT over granted tables, masks and row
filters, parameters as values, the audit) and its limits, in every format."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from tests.conftest import table_versions, write_project
from tests.serve.http.conftest import PASSWORD, audit_rows, basic

from medallion.project import Project
from medallion.serve.http import create_app


def query(client: TestClient, user: str, sql: str, **body: object) -> object:
    return client.post("/api/v1/query", json={"sql": sql, **body}, headers=basic(user))


def test_a_viewer_reads_masked_and_filtered_rows(client: TestClient) -> None:
    r = query(client, "val", "select customer, orders from gold.sales_by_customer order by 1")
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"customer": "a***", "orders": 2},
        {"customer": "b***", "orders": 1},
        {"customer": "c***", "orders": 1},
    ]
    r = query(client, "val", "select count(*) as n from silver.orders")
    assert r.json() == [{"n": 3}]  # the unpaid order is filtered out
    r = query(client, "carl", "select count(*) as n from silver.orders")
    assert r.json() == [{"n": 4}]


def test_params_are_values(client: TestClient) -> None:
    r = query(
        client,
        "carl",
        "select order_id from silver.orders where customer = $1 order by 1",
        params=["alice"],
    )
    assert r.json() == [{"order_id": 1}, {"order_id": 3}]
    r = query(
        client,
        "carl",
        "select count(*) as n from silver.orders where customer = $1",
        params=["x' or '1'='1"],
    )
    assert r.json() == [{"n": 0}]


@pytest.mark.parametrize(
    "sql",
    [
        "select * from bronze.orders",
        "select * from read_csv('data/orders.csv')",
        "drop table gold.sales_by_day",
        "select 1; select 2",
        "select * from system.access_audit",
    ],
)
def test_what_the_sql_endpoint_refuses_is_refused_and_audited(
    client: TestClient, shop: Project, sql: str
) -> None:
    before = table_versions(shop)
    r = query(client, "val", sql)
    assert r.status_code == 403, r.text
    assert r.json()["error"]
    assert table_versions(shop) == before
    denied = [
        row
        for row in audit_rows(shop, "val")
        if row["action"] == "query" and row["response_status"] == "denied"
    ]
    assert any(sql in (row["request"] or "") and row["service"] == "http" for row in denied)


def test_a_read_is_audited_with_service_http_and_its_row_count(
    client: TestClient, shop: Project
) -> None:
    r = query(client, "val", "select * from gold.sales_by_day")
    assert r.status_code == 200
    ok = [
        row
        for row in audit_rows(shop, "val")
        if row["action"] == "query" and "gold.sales_by_day" in (row["request"] or "")
    ]
    assert ok[-1]["response_status"] == "ok"
    assert ok[-1]["service"] == "http"
    assert ok[-1]["response_rows"] == 3


def test_a_bad_query_is_400_with_the_engine_message(client: TestClient) -> None:
    r = query(client, "carl", "select nope from silver.orders")
    assert r.status_code == 400, r.text
    assert "nope" in r.json()["error"]
    r = query(client, "carl", "selec 1 frm")
    assert r.status_code == 400, r.text
    assert "does not parse" in r.json()["error"]


def test_query_formats(client: TestClient) -> None:
    r = client.post(
        "/api/v1/query?format=parquet",
        json={"sql": "select order_id, amount from silver.orders order by 1"},
        headers=basic("carl"),
    )
    assert r.status_code == 200
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("order_id").to_pylist() == [1, 2, 3, 4]
    r = query(client, "carl", "select order_id from silver.orders order by 1", format="csv")
    assert r.text.splitlines() == ['"order_id"', "1", "2", "3", "4"]


def test_as_of_a_version(client: TestClient) -> None:
    r = query(client, "carl", "select count(*) as n from silver.orders", as_of=0)
    assert r.json() == [{"n": 4}]


def test_as_of_a_version_the_table_does_not_have_says_which_it_has(client: TestClient) -> None:
    r = query(client, "carl", "select count(*) as n from silver.orders", as_of=99)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("silver.orders has versions 0 to ")
    assert "there is no version 99" in r.json()["error"]
    assert "kernel" not in r.text.lower()


def test_a_viewer_row_cap_and_timeout_come_from_the_serve_block(tmp_path) -> None:
    config = """
        name: capped
        sources:
          numbers: {path: data/numbers.csv}
        access:
          grants:
            everyone: [bronze.*]
        serve:
          roles:
            viewer: {max_rows: 100}
    """
    numbers = "n\n" + "".join(f"{i}\n" for i in range(5000))
    project = Project.load(write_project(tmp_path / "c", config, {}, {"data/numbers.csv": numbers}))
    assert project.run().ok
    project.add_user("v", "viewer", ["everyone"], PASSWORD)
    project.add_user("m", "member", [], PASSWORD)
    with TestClient(create_app(project)) as c:
        r = c.post(
            "/api/v1/query", json={"sql": "select * from bronze.numbers"}, headers=basic("v")
        )
        assert r.status_code == 413
        assert "more than 100 rows" in r.json()["error"]
        r = c.get("/api/v1/tables/bronze/numbers/rows?limit=500", headers=basic("v"))
        assert r.status_code == 413
        r = c.get("/api/v1/tables/bronze/numbers/rows?limit=100", headers=basic("v"))
        assert r.status_code == 200 and len(r.json()) == 100
        r = c.post(
            "/api/v1/query", json={"sql": "select * from bronze.numbers"}, headers=basic("m")
        )
        assert r.status_code == 200 and len(r.json()) == 5000


def test_the_statement_timeout_stops_a_long_query_inside_the_engine(tmp_path) -> None:
    config = """
        name: slow
        sources:
          numbers: {path: data/numbers.csv}
        serve:
          roles:
            member: {statement_timeout: 1 second}
    """
    numbers = "n\n" + "".join(f"{i}\n" for i in range(5000))
    project = Project.load(write_project(tmp_path / "s", config, {}, {"data/numbers.csv": numbers}))
    assert project.run().ok
    project.add_user("m", "member", [], PASSWORD)
    sql = (
        "select sum(a.n * b.n + c.n) as s from bronze.numbers a, bronze.numbers b, bronze.numbers c"
    )
    import time

    with TestClient(create_app(project)) as c:
        started = time.monotonic()
        r = c.post("/api/v1/query", json={"sql": sql}, headers=basic("m"))
        took = time.monotonic() - started
    assert r.status_code == 408, r.text
    assert "statement timeout" in r.json()["error"]
    assert took < 30


def test_the_flags_limits_replace_the_files_for_every_user(client: TestClient, shop) -> None:
    with TestClient(create_app(shop, max_rows=2)) as c:
        r = c.post(
            "/api/v1/query", json={"sql": "select * from silver.orders"}, headers=basic("ada")
        )
        assert r.status_code == 413
    with TestClient(create_app(shop, max_rows=0)) as c:
        r = c.post(
            "/api/v1/query", json={"sql": "select * from silver.orders"}, headers=basic("val")
        )
        assert r.status_code == 200 and len(r.json()) == 3


def test_a_result_over_the_cap_after_its_first_batch_cuts_the_response(tmp_path) -> None:
    from medallion.serve.http.reading import StreamCut

    numbers = "n\n" + "".join(f"{i}\n" for i in range(300_000))  # three engine batches
    root = write_project(
        tmp_path / "b", "name: b\nsources:\n  numbers: {path: data/n.csv}\n", {},
        {"data/n.csv": numbers},
    )  # fmt: skip
    project = Project.load(root)
    assert project.run().ok
    project.add_user("m", "member", [], PASSWORD)
    with TestClient(create_app(project, max_rows=200_000)) as c:
        with pytest.raises(StreamCut, match="more than 200000 rows"):
            c.get("/api/v1/tables/bronze/numbers/rows?format=csv", headers=basic("m"))
        r = c.get("/api/v1/tables/bronze/numbers/rows?format=csv&limit=150000", headers=basic("m"))
        assert r.status_code == 200 and len(r.text.splitlines()) == 150_001
