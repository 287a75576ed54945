"""`/quality`, `/quarantine` (rows, replay), `/audit` and user administration, and `POST /runs`
followed through `/runs/{id}/events`, on a project whose expectations quarantine rows:

    data/a.csv   id  amount  email      valid_email (quarantine)   big: amount > 15 (warn)
                 1   10      a@x.com    pass                       fail
                 2   5       bad        fail                       fail
                 3   30      also-bad   fail                       pass
                 4   40      NULL       fail (NULL)                pass
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import write_project
from tests.serve.http.conftest import PASSWORD, audit_rows, basic

from medallion.project import Project
from medallion.serve.http import create_app

CONFIG = """
name: q
sources:
  orders:
    path: data/a.csv
    columns: {id: INTEGER, amount: INTEGER, email: VARCHAR}
access:
  grants:
    analysts: [silver.*]
"""
DATA = "id,amount,email\n1,10,a@x.com\n2,5,bad\n3,30,also-bad\n4,40,\n"


def model(rule: str) -> str:
    return (
        f'/* ---\nexpectations:\n  valid_email: {{expect: "{rule}", action: quarantine}}\n'
        "  big: amount > 15\n--- */\nselect id, amount, email from bronze.orders\n"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_project(
        tmp_path_factory.mktemp("q") / "q",
        CONFIG,
        {"silver/x.sql": model("email like '%@%'")},
        {"data/a.csv": DATA},
    )
    project = Project.load(root)
    assert project.run().ok
    for name, role, groups in [
        ("ada", "admin", []),
        ("mia", "member", []),
        ("carl", "contributor", []),
        ("val", "viewer", ["analysts"]),
        ("vic", "viewer", []),
    ]:
        project.add_user(name, role, groups, PASSWORD)
    return project


@pytest.fixture(scope="module")
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project)) as c:
        yield c


def test_quality_per_table_over_runs(client: TestClient) -> None:
    r = client.get("/api/v1/quality", headers=basic("carl"))
    assert r.status_code == 200, r.text
    results = {c["name"]: c for c in r.json()["silver.x"]}
    assert results["valid_email"]["failing_rows"] == 3
    assert results["big"]["status"] == "warn"
    assert results["big"]["failing_rows"] == 2
    assert "sample" in results["big"]


def test_quality_for_viewers_hides_samples_and_ungranted_tables(client: TestClient) -> None:
    val = client.get("/api/v1/quality", headers=basic("val")).json()
    assert set(val) == {"silver.x"}
    assert all("sample" not in c for c in val["silver.x"])
    assert client.get("/api/v1/quality", headers=basic("vic")).json() == {}


def test_quarantine_listing_and_rows(client: TestClient) -> None:
    listed = client.get("/api/v1/quarantine", headers=basic("val")).json()
    assert [(q["table"], q["of"], q["rows"]) for q in listed] == [
        ("silver.x__quarantine", "silver.x", 3)
    ]
    assert client.get("/api/v1/quarantine", headers=basic("vic")).json() == []
    r = client.get("/api/v1/quarantine/silver.x/rows?format=csv", headers=basic("carl"))
    assert r.status_code == 200, r.text
    read = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["id"] for x in read) == ["2", "3", "4"]
    assert all("valid_email" in x["_failed_expectations"] for x in read)
    assert client.get("/api/v1/quarantine/silver.x/rows", headers=basic("vic")).status_code == 403
    assert client.get("/api/v1/quarantine/silver.y/rows", headers=basic("ada")).status_code == 404


def test_replay_needs_member_and_moves_rows_that_now_pass(
    client: TestClient, project: Project
) -> None:
    before = project.query("select count(*) as n from silver.x").column("n")[0].as_py()
    assert before == 1
    (project.root / "models/silver/x.sql").write_text(model("email is not null"))
    r = client.post("/api/v1/quarantine/silver.x/replay", headers=basic("carl"))
    assert r.status_code == 403
    r = client.post("/api/v1/quarantine/silver.x/replay", headers=basic("mia"))
    assert r.status_code == 200, r.text
    assert (r.json()["moved"], r.json()["remaining"]) == (2, 1)
    after = project.query("select count(*) as n from silver.x").column("n")[0].as_py()
    assert after == 3


def test_audit_is_for_admins(client: TestClient) -> None:
    client.get("/api/v1/tables/silver/x/rows", headers=basic("val"))
    assert client.get("/api/v1/audit", headers=basic("mia")).status_code == 403
    r = client.get("/api/v1/audit", params={"user": "val"}, headers=basic("ada"))
    assert r.status_code == 200
    rows = r.json()
    assert any(row["action"] == "query" and row["service"] == "http" for row in rows)
    assert {row["user"] for row in rows} == {"val"}


def test_user_and_token_administration(client: TestClient, project: Project) -> None:
    new = {"name": "neo", "role": "viewer", "groups": ["analysts"], "password": PASSWORD}
    assert client.post("/api/v1/admin/users", json=new, headers=basic("mia")).status_code == 403
    r = client.post("/api/v1/admin/users", json=new, headers=basic("ada"))
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/admin/users", json=new, headers=basic("ada")).status_code == 409
    tables = client.get("/api/v1/tables", headers=basic("neo")).json()
    assert [f"{t['layer']}.{t['name']}" for t in tables] == ["silver.x", "silver.x__quarantine"]
    short = {**new, "name": "neo2", "password": "short"}
    assert client.post("/api/v1/admin/users", json=short, headers=basic("ada")).status_code == 422

    r = client.post("/api/v1/admin/users/neo", json={"role": "contributor"}, headers=basic("ada"))
    assert r.json()["role"] == "contributor"
    r = client.post("/api/v1/admin/users/neo/tokens", headers=basic("ada"))
    token = r.json()
    bearer = {"Authorization": f"Bearer {token['secret']}"}
    assert client.get("/api/v1/runs", headers=bearer).status_code == 200
    listed = {u["name"]: u for u in client.get("/api/v1/admin/users", headers=basic("ada")).json()}
    assert [t["token_id"] for t in listed["neo"]["tokens"]] == [token["token_id"]]
    assert token["secret"] not in json.dumps(listed)
    r = client.post(f"/api/v1/admin/tokens/{token['token_id']}/revoke", headers=basic("ada"))
    assert r.status_code == 200
    assert client.get("/api/v1/runs", headers=bearer).status_code == 401
    assert client.post("/api/v1/admin/users/neo/remove", headers=basic("ada")).status_code == 200
    assert client.get("/api/v1/tables", headers=basic("neo")).status_code == 401
    changes = [r for r in audit_rows(project) if r["action"].startswith("http_")]
    assert {(r["action"], json.loads(r["request"])["by"]) for r in changes} >= {
        ("http_user_add", "ada"),
        ("http_token_create", "ada"),
        ("http_user_remove", "ada"),
    }
    grants = client.get("/api/v1/admin/grants", headers=basic("ada")).json()
    assert grants["grants"] == {"analysts": ["silver.*"]}


def test_start_a_run_and_follow_its_events(client: TestClient, project: Project) -> None:
    assert client.post("/api/v1/runs", json={}, headers=basic("val")).status_code == 403
    r = client.post("/api/v1/runs", json={"select": ["silver.x"]}, headers=basic("carl"))
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=basic("carl")) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in s.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    assert events[-1][0] == "run"
    assert events[-1][1]["status"] == "success"
    assert events[-1][1]["run_id"] == run_id
    steps = [data for kind, data in events if kind == "step"]
    assert steps[-1]["table"] == "silver.x"
    assert steps[-1]["status"] == "success"
    detail = client.get(f"/api/v1/runs/{run_id}", headers=basic("carl")).json()
    assert [s["table"] for s in detail["steps"]] == ["silver.x"]
    assert detail["trigger"] == "api"  # the run log says the API started it
    started = [r for r in audit_rows(project) if r["action"] == "http_run_start"]
    assert json.loads(started[-1]["request"])["by"] == "carl"
    assert json.loads(started[-1]["request"])["command"] == "run --select silver.x --trigger api"


def test_a_bad_selection_is_a_clear_400(client: TestClient) -> None:
    r = client.post("/api/v1/runs", json={"select": ["gold.nope"]}, headers=basic("carl"))
    assert r.status_code == 400
    answer = r.json()
    # the message and its hint apart, not the CLI's text (`error: ...\n  hint: ...`)
    assert answer["error"] == "nothing named 'gold.nope' to select"
    assert answer["hint"] and "hint" not in answer["hint"]
    assert not answer["error"].startswith("error:")


def test_a_run_while_another_writer_holds_the_lock_is_409(
    client: TestClient, project: Project
) -> None:
    with project.writer("test: holds the lock"):
        r = client.post("/api/v1/runs", json={"select": ["silver.x"]}, headers=basic("carl"))
    assert r.status_code == 409, r.text
    assert "test: holds the lock" in r.json()["error"]


def test_a_tables_detail_lists_its_expectations(client: TestClient) -> None:
    detail = client.get("/api/v1/tables/silver/x", headers=basic("carl")).json()
    expectations = {c["name"]: c for c in detail["checks"] if c["kind"] == "expectation"}
    assert set(expectations) == {"valid_email", "big"}
    assert expectations["valid_email"]["action"] == "quarantine"


def test_a_group_role_is_administered_over_http(client: TestClient, project: Project) -> None:
    # `opal`, a viewer in the group `ops` with no grant, reads nothing; `ops` given contributor,
    # opal reads every table; the role taken away, opal is a viewer again
    new = {"name": "opal", "role": "viewer", "groups": ["ops"], "password": PASSWORD}
    assert client.post("/api/v1/admin/users", json=new, headers=basic("ada")).status_code == 201
    assert client.get("/api/v1/tables", headers=basic("opal")).json() == []
    url = "/api/v1/admin/groups/ops/role"
    assert client.post(url, json={"role": "contributor"}, headers=basic("mia")).status_code == 403
    r = client.post(url, json={"role": "contributor"}, headers=basic("ada"))
    assert r.status_code == 200 and r.json() == {"group": "ops", "role": "contributor"}
    assert client.get("/api/v1/tables", headers=basic("opal")).json() != []
    grants = client.get("/api/v1/admin/grants", headers=basic("ada")).json()
    assert grants["group_roles"].get("ops") == "contributor"
    assert client.post(url, json={"role": None}, headers=basic("ada")).status_code == 200
    assert client.get("/api/v1/tables", headers=basic("opal")).json() == []
    assert client.post(url, json={"role": "owner"}, headers=basic("ada")).status_code == 422
    actions = [r["action"] for r in audit_rows(project)]
    assert "http_group_role" in actions
    assert client.post("/api/v1/admin/users/opal/remove", headers=basic("ada")).status_code == 200
