"""`/runs`, `/lineage` and `/pipelines` for each role: the run log for those who may read it,
the graph with only readable tables, pipelines paused, resumed and run in a child process."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from tests.serve.http.conftest import basic

from medallion.project import Project


@pytest.mark.parametrize("user", ["ada", "mia", "carl", "moe"])
def test_runs_list_and_detail(client: TestClient, shop: Project, user: str) -> None:
    r = client.get("/api/v1/runs", headers=basic(user))
    assert r.status_code == 200, r.text
    runs = r.json()
    first = runs[-1]
    assert first["status"] == "success"
    assert first["steps"] == 4
    r = client.get(f"/api/v1/runs/{first['run_id']}", headers=basic(user))
    assert r.status_code == 200
    detail = r.json()
    steps = {s["table"]: s for s in detail["steps"]}
    assert steps["silver.orders"]["rows_written"] == 4
    assert steps["silver.orders"]["delta_version"] == 0
    checks = {c["name"]: c for c in detail["checks"]}
    if user == "moe":
        # a viewer of the run log without a grant on system.check_results and silver.orders:
        # a check's message quotes the table's values, so its results are not shown
        assert checks == {}
        return
    assert set(checks) == {"unique_order_id", "not_null_customer"}
    assert {c["status"] for c in checks.values()} == {"pass"}
    assert all("sample" in c for c in checks.values())


@pytest.mark.parametrize("user", ["val", "vic"])
def test_a_viewer_without_a_grant_on_system_runs_gets_403(client: TestClient, user: str) -> None:
    assert client.get("/api/v1/runs", headers=basic(user)).status_code == 403
    assert client.get("/api/v1/runs/x", headers=basic(user)).status_code == 403
    assert client.get("/api/v1/pipelines", headers=basic(user)).status_code == 403


def test_an_unknown_run_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/runs/nope", headers=basic("ada")).status_code == 404


def test_lineage_whole_graph_for_a_contributor(client: TestClient) -> None:
    r = client.get("/api/v1/lineage", headers=basic("carl"))
    assert r.status_code == 200
    graph = r.json()
    assert {n["id"] for n in graph["nodes"]} == {
        "bronze.orders",
        "silver.orders",
        "gold.sales_by_customer",
        "gold.sales_by_day",
    }
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert edges == {
        ("bronze.orders", "silver.orders"),
        ("silver.orders", "gold.sales_by_customer"),
        ("silver.orders", "gold.sales_by_day"),
    }


def test_lineage_for_a_viewer_shows_only_readable_tables(client: TestClient) -> None:
    graph = client.get("/api/v1/lineage", headers=basic("val")).json()
    assert {n["id"] for n in graph["nodes"]} == {
        "silver.orders",
        "gold.sales_by_customer",
        "gold.sales_by_day",
    }
    assert client.get("/api/v1/lineage", headers=basic("vic")).json()["nodes"] == []
    r = client.get("/api/v1/lineage?node=bronze.orders", headers=basic("val"))
    assert r.status_code == 403


def test_lineage_neighbourhood(client: TestClient) -> None:
    r = client.get("/api/v1/lineage?node=gold.sales_by_day&up=1&down=0", headers=basic("ada"))
    graph = r.json()
    assert graph["node"] == "gold.sales_by_day"
    assert {n["id"] for n in graph["nodes"]} == {"gold.sales_by_day", "silver.orders"}
    r = client.get("/api/v1/lineage?node=silver.orders&up=0&down=1", headers=basic("ada"))
    assert {n["id"] for n in r.json()["nodes"]} == {
        "silver.orders",
        "gold.sales_by_customer",
        "gold.sales_by_day",
    }
    r = client.get("/api/v1/lineage?node=sales_by_day", headers=basic("ada"))
    assert len(r.json()["nodes"]) == 3  # all upstream by default, a bare name resolves
    assert client.get("/api/v1/lineage?node=gold.nope", headers=basic("ada")).status_code == 404


def test_pipelines_list(client: TestClient) -> None:
    r = client.get("/api/v1/pipelines", headers=basic("carl"))
    assert r.status_code == 200, r.text
    by_name = {p["name"]: p for p in r.json()}
    nightly = by_name["nightly"]
    assert nightly["select"] == ["silver.orders+"]
    assert nightly["next_tick"].endswith("T02:00:00+00:00")
    assert nightly["paused"] is False
    assert by_name["after_nightly"]["after"] == ["nightly"]
    assert by_name["after_nightly"]["next_tick"] is None


def test_pause_and_resume_need_member(client: TestClient, shop: Project) -> None:
    r = client.post("/api/v1/pipelines/nightly/pause", headers=basic("carl"))
    assert r.status_code == 403
    assert "member role or higher" in r.json()["error"]
    assert "nightly" not in shop.schedule_log().paused()
    assert client.post("/api/v1/pipelines/nightly/pause", headers=basic("mia")).status_code == 200
    listed = client.get("/api/v1/pipelines", headers=basic("mia")).json()
    nightly = next(p for p in listed if p["name"] == "nightly")
    assert nightly["paused"] is True and nightly["next_tick"] is None
    assert client.post("/api/v1/pipelines/nightly/resume", headers=basic("mia")).status_code == 200
    assert "nightly" not in shop.schedule_log().paused()
    r = client.post("/api/v1/pipelines/nope/pause", headers=basic("mia"))
    assert r.status_code == 404


def test_a_viewer_may_not_run_a_pipeline(client: TestClient) -> None:
    r = client.post("/api/v1/pipelines/nightly/run", headers=basic("val"))
    assert r.status_code == 403


def test_run_a_pipeline_now_in_a_child_process(client: TestClient, shop: Project) -> None:
    runs_before = len(shop.run_history(100))
    r = client.post("/api/v1/pipelines/nightly/run", headers=basic("carl"))
    assert r.status_code == 202, r.text
    assert r.json()["run_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ticks = client.get("/api/v1/pipelines/nightly/history", headers=basic("carl")).json()
        if ticks and ticks[0]["status"] in ("success", "failed"):
            break
        time.sleep(0.5)
    assert ticks[0]["trigger"] == "api"
    assert ticks[0]["status"] == "success", ticks[0]
    # it ran, then the pipeline that follows it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        after = client.get("/api/v1/pipelines/after_nightly/history", headers=basic("carl"))
        if after.json() and after.json()[0]["status"] in ("success", "failed"):
            break
        time.sleep(0.5)
    assert after.json()[0]["trigger"] == "after"
    runs = client.get("/api/v1/runs", headers=basic("carl")).json()
    assert len(runs) == runs_before + 2
    assert {r["status"] for r in runs[:2]} == {"success"}


@pytest.mark.parametrize("user", ["mia", "carl", "val", "vic", "moe"])
@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/admin/users", "/api/v1/admin/grants"])
def test_administration_is_for_admins_only(client: TestClient, user: str, path: str) -> None:
    r = client.get(path, headers=basic(user))
    assert r.status_code == 403
    assert "admin role" in r.json()["error"]


def test_a_viewer_granted_the_run_log_sees_runs_but_lists_no_table(client: TestClient) -> None:
    assert client.get("/api/v1/runs", headers=basic("moe")).status_code == 200
    assert client.get("/api/v1/tables", headers=basic("moe")).json() == []
    r = client.get("/api/v1/tables/silver/orders/rows", headers=basic("moe"))
    assert r.status_code == 403
