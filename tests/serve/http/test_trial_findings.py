"""What a new team lead's trial of access control found, each fixed and kept fixed: a UI
session that outlived a password change, a refused run audited as ok, an orphan table still
served, lineage naming hidden inputs in the CLI, `current_user` over HTTP, formulas in CSV
downloads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import medallion, write_project
from tests.serve.http.conftest import PASSWORD, audit_rows, basic

from medallion.errors import AccessDeniedError
from medallion.project import Project
from medallion.serve.http import create_app

CONFIG = """
name: trial
sources:
  orders: {path: data/orders.csv}
access:
  grants:
    analysts: [gold.*]
"""
MODELS = {
    "silver/orders.sql": "select * from bronze.orders",
    "gold/x.sql": "select order_id, note from silver.orders",
    "gold/slow_stats.sql": "select count(*) as n from silver.orders",
}
FILES = {
    "data/orders.csv": 'order_id,note\n1,"=HYPERLINK(""http://evil.example/"",""x"")"\n2,+1\n',
}


def _project(tmp_path: Path) -> Project:
    project = Project.load(write_project(tmp_path / "trial", CONFIG, MODELS, FILES))
    assert project.run().ok
    project.add_user("ada", "admin", [], PASSWORD)
    project.add_user("carl", "contributor", [], PASSWORD)
    project.add_user("rita", "viewer", ["analysts"], PASSWORD)
    return project


def _cli(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`medallion ARGS` in another process (as the lead ran it beside the server)."""
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=root,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _sign_in(client: TestClient, user: str, password: str = PASSWORD) -> str:
    r = client.post("/api/v1/session", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


@pytest.mark.parametrize("how", ["clear", "change"])
def test_a_password_cleared_or_changed_ends_the_users_web_sessions(
    tmp_path: Path, how: str
) -> None:
    project = _project(tmp_path)
    token = project.create_token("carl")[1]
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        csrf = _sign_in(client, "carl")
        assert client.get("/api/v1/tables").status_code == 200
        if how == "clear":
            done = _cli(project.root, "users", "passwd", "carl", "--clear")
        else:
            done = _cli(
                project.root, "users", "passwd", "carl", "--password-stdin", stdin="n3w pass word\n"
            )
        assert done.returncode == 0, done.stderr
        r = client.get("/api/v1/tables")
        assert r.status_code == 401 and "password of carl changed" in r.json()["error"], r.text
        r = client.post("/api/v1/runs", json={}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 401
        # the session is gone for good, not only refused once
        assert client.get("/api/v1/tables").status_code == 401
        # an API token is a separate credential: it survives (documented in the README)
        ok = client.get("/api/v1/tables", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        if how == "change":
            _sign_in(client, "carl", "n3w pass word")
            assert client.get("/api/v1/tables").status_code == 200
    row = [r for r in audit_rows(project) if r["action"] == "user_passwd"][-1]
    said = "cleared" if how == "clear" else "set"
    assert f'"password": "{said}"' in row["request"] and '"sessions_ended": true' in row["request"]
    assert "n3w" not in row["request"]


def test_one_password_rule_everywhere_eight_characters(tmp_path: Path) -> None:
    project = _project(tmp_path)
    short = _cli(
        project.root, "users", "add", "x", "--role", "viewer", "--password-stdin", stdin="a\n"
    )
    assert short.returncode != 0
    assert "8 characters or more" in short.stderr + short.stdout
    assert project.identities.get("x") is None
    short = _cli(project.root, "users", "passwd", "rita", "--password-stdin", stdin="1234567\n")
    assert short.returncode != 0 and "8 characters or more" in short.stderr + short.stdout
    assert project.check_password("rita", PASSWORD, b"s") is not None  # unchanged
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        r = client.post(
            "/api/v1/admin/users", json={"name": "y", "password": "a"}, headers=basic("ada")
        )
        assert r.status_code == 422


def test_a_refused_run_request_is_audited_as_refused_with_the_reason(tmp_path: Path) -> None:
    project = _project(tmp_path)
    runs_before = len(project.runs(100))
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        for select in (["gold.nope"], ["--full-refresh"], ["-p/tmp"], [""]):
            r = client.post("/api/v1/runs", json={"select": select}, headers=basic("carl"))
            assert r.status_code == 400, r.text
        r = client.post("/api/v1/runs", json={"full_refresh": "yes"}, headers=basic("carl"))
        assert r.status_code == 422, r.text
        r = client.post("/api/v1/runs", json={}, headers=basic("rita"))
        assert r.status_code == 403
    assert len(project.runs(100)) == runs_before
    rows = [r for r in audit_rows(project) if r["action"] == "http_run_start"]
    assert [r["response_status"] for r in rows] == ["refused"] * 4 + ["denied"]
    assert "gold.nope" in rows[0]["response_error"]
    assert "--full-refresh" in rows[1]["request"] and "not a selection" in rows[1]["response_error"]
    assert "-p/tmp" in rows[2]["request"]
    assert "contributor role" in rows[4]["response_error"]


def test_csv_downloads_keep_formulas_as_text_but_the_cli_writes_the_data(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        r = client.get("/api/v1/tables/gold/x/rows?format=csv", headers=basic("rita"))
        assert r.status_code == 200, r.text
        assert r.text.splitlines()[1:] == [
            '1,"\'=HYPERLINK(""http://evil.example/"",""x"")"',
            '2,"\'+1"',
        ]
        sql = "select '@SUM(1)' as a, chr(9) || 'x' as b, -3 as n, 'a=b' as c"
        r = client.post("/api/v1/query?format=csv", json={"sql": sql}, headers=basic("ada"))
        assert r.text.splitlines()[1] == '"\'@SUM(1)","\'\tx",-3,"a=b"', r.text
    # `medallion query --format csv` is data: written as stored
    out = medallion(
        "query",
        "select note from gold.x order by order_id",
        "--format",
        "csv",
        cwd=project.root,
        check=True,
    )
    assert out.stdout.splitlines()[1] == '"=HYPERLINK(""http://evil.example/"",""x"")"'


def test_lineage_as_a_user_hides_inputs_in_the_cli_too(tmp_path: Path) -> None:
    project = _project(tmp_path)
    shown = medallion("lineage", "--as", "rita", "gold.x", cwd=project.root, check=True).stdout
    assert "gold.x" in shown and "orders" not in shown, shown
    # the admin's view is whole
    shown = medallion("lineage", "--as", "ada", "gold.x", cwd=project.root, check=True).stdout
    assert "silver.orders" in shown and "bronze.orders" in shown
    shown = medallion("lineage", "silver.orders", cwd=project.root, check=True).stdout
    assert "gold.slow_stats" in shown and "bronze.orders" in shown


def test_current_user_over_http_is_the_signed_in_user(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        sql = "select current_user, session_user as s, upper(current_user) as u from gold.x limit 1"
        r = client.post("/api/v1/query", json={"sql": sql}, headers=basic("rita"))
        assert r.status_code == 200, r.text
        assert r.json() == [{"current_user": "rita", "s": "rita", "u": "RITA"}]
    got = project.query("select current_user", user=project.identities.require("ada"))
    assert got.to_pylist() == [{"current_user": "ada"}]


def test_an_orphan_table_is_served_to_admins_only_until_dropped(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project.root / "models/gold/slow_stats.sql").unlink()
    project = Project.load(project.root)
    rita, carl = project.identities.require("rita"), project.identities.require("carl")
    with pytest.raises(
        AccessDeniedError, match=r"gold.slow_stats has no model any more \(orphan\)"
    ):
        project.query("select * from gold.slow_stats", user=rita)
    with pytest.raises(AccessDeniedError, match="orphan"):
        project.query("select n from gold.slow_stats", user=carl)  # a contributor too
    assert project.query("select n from gold.slow_stats", user=project.identities.require("ada"))
    assert [r.name for r in project.tables(rita)] == ["x"]
    # what the SQL endpoint's catalog (psql's \d gold.*) lists
    assert [t["name"] for t in project.readable_tables(rita)] == ["gold.x"]
    assert not project.may_read(rita, "gold.slow_stats")
    denied = [r for r in audit_rows(project, "rita") if r["response_status"] == "denied"]
    assert "orphan" in denied[-1]["response_error"]
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        assert (
            client.get("/api/v1/tables/gold/slow_stats", headers=basic("rita")).status_code == 403
        )
        listed = client.get("/api/v1/tables", headers=basic("rita")).json()
        assert "slow_stats" not in str(listed)
        sql = {"sql": "select * from gold.slow_stats"}
        r = client.post("/api/v1/query", json=sql, headers=basic("rita"))
        assert r.status_code == 403 and "orphan" in r.json()["error"], r.text
    # `medallion drop` refuses a table with a model, asks, and drops an orphan
    refused = medallion("drop", "gold.x", "--yes", cwd=project.root)
    assert refused.returncode != 0 and "only orphan tables" in refused.stderr
    assert project.workspace.catalog.exists("gold.x")
    said_no = _cli(project.root, "drop", "gold.slow_stats", stdin="n\n")
    assert said_no.returncode != 0 and project.workspace.catalog.exists("gold.slow_stats")
    shown = medallion("tables", cwd=project.root, check=True)
    assert "orphan" in shown.stdout and "medallion drop" in shown.stderr
    medallion("drop", "gold.slow_stats", "--yes", cwd=project.root, check=True)
    assert not project.workspace.catalog.exists("gold.slow_stats")
    assert "gold.slow_stats" not in project.workspace.catalog.tables()
    assert [r for r in audit_rows(project) if r["action"] == "table_drop"]
