"""Who may call the API: HTTP Basic against the SCRAM verifier, bearer API tokens, the UI's
session cookie with its CSRF token; a failure is 401 with `WWW-Authenticate: Basic` and an
audit row; a cross-site POST is refused whatever it carries."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from tests.serve.http.conftest import PASSWORD, audit_rows, basic

from medallion.project import Project


def failed_logins(project: Project) -> list[dict]:
    return [
        r
        for r in audit_rows(project)
        if r["action"] == "login" and r["response_status"] == "failed" and r["service"] == "http"
    ]


def test_no_credentials_is_401_with_a_basic_challenge(client: TestClient) -> None:
    r = client.get("/api/v1/tables")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic realm=")


def test_a_wrong_password_and_an_unknown_user_are_401_and_audited(
    client: TestClient, shop: Project
) -> None:
    before = len(failed_logins(shop))
    r = client.get("/api/v1/tables", headers=basic("val", "wrong"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    r = client.get("/api/v1/tables", headers=basic("nobody", PASSWORD))
    assert r.status_code == 401
    rows = failed_logins(shop)[before:]
    assert [(row["user"], row["response_error"]) for row in rows] == [
        ("val", "password authentication failed"),
        ("nobody", "password authentication failed"),
    ]
    assert PASSWORD not in str(rows) and "wrong" not in str(rows)


def test_malformed_basic_credentials_are_401(client: TestClient) -> None:
    r = client.get("/api/v1/tables", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401
    no_colon = base64.b64encode(b"val").decode()
    r = client.get("/api/v1/tables", headers={"Authorization": f"Basic {no_colon}"})
    assert r.status_code == 401


def test_a_bearer_token_works_until_revoked_then_401_and_audited(
    client: TestClient, shop: Project
) -> None:
    token_id, secret = shop.create_token("val")
    auth = {"Authorization": f"Bearer {secret}"}
    r = client.get("/api/v1/tables", headers=auth)
    assert r.status_code == 200
    assert {t["layer"] for t in r.json()} == {"silver", "gold"}
    shop.revoke_token(token_id)
    before = len(failed_logins(shop))
    r = client.get("/api/v1/tables", headers=auth)
    assert r.status_code == 401
    rows = failed_logins(shop)[before:]
    assert [row["response_error"] for row in rows] == ["unknown or revoked API token"]
    assert secret not in str(audit_rows(shop))


def test_a_session_cookie_is_httponly_samesite_and_posts_need_its_csrf_token(
    shop: Project,
) -> None:
    from medallion.serve.http import create_app

    with TestClient(create_app(shop), base_url="http://127.0.0.1:8080") as c:
        r = c.post("/api/v1/session", json={"user": "mia", "password": "nope"})
        assert r.status_code == 401
        r = c.post("/api/v1/session", json={"user": "mia", "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert "medallion_session=" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        csrf = r.json()["csrf_token"]
        assert r.json()["role"] == "member"
        # reads need no token
        assert c.get("/api/v1/tables").status_code == 200
        assert c.get("/api/v1/session").json()["csrf_token"] == csrf
        # a POST without it, or with a wrong one, is refused and changes nothing
        r = c.post("/api/v1/pipelines/nightly/pause")
        assert r.status_code == 403
        assert "CSRF" in r.json()["error"]
        r = c.post("/api/v1/pipelines/nightly/pause", headers={"X-CSRF-Token": "x" * 43})
        assert r.status_code == 403
        assert "nightly" not in shop.schedule_log().paused()
        r = c.post("/api/v1/pipelines/nightly/pause", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        assert "nightly" in shop.schedule_log().paused()
        r = c.post("/api/v1/pipelines/nightly/resume", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        # signing out ends the session
        assert c.post("/api/v1/session/end", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert c.get("/api/v1/tables").status_code == 401
    ok = [r for r in audit_rows(shop, "mia") if r["action"] == "login" and r["service"] == "http"]
    assert [r["response_status"] for r in ok][-2:] == ["failed", "ok"]


def test_a_cross_site_post_is_refused_even_with_valid_credentials(
    client: TestClient, shop: Project
) -> None:
    r = client.post(
        "/api/v1/pipelines/nightly/pause",
        headers={**basic("ada"), "Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert "cross-site" in r.json()["error"]
    assert "nightly" not in shop.schedule_log().paused()
    r = client.post(
        "/api/v1/pipelines/nightly/pause",
        headers={**basic("ada"), "Origin": "http://127.0.0.1:8080"},
    )
    assert r.status_code == 200
    client.post("/api/v1/pipelines/nightly/resume", headers=basic("ada"))


def test_openapi_is_served_at_api_docs(client: TestClient) -> None:
    assert client.get("/api/docs").status_code == 200
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/tables/{layer}/{name}/rows" in spec["paths"]
    assert "/api/v1/query" in spec["paths"]


def test_answers_are_not_cached(client: TestClient) -> None:
    r = client.get("/api/v1/tables/silver/orders/rows?format=csv", headers=basic("carl"))
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/v1/tables").headers["cache-control"] == "no-store"


def test_an_unknown_route_is_a_json_404(client: TestClient) -> None:
    r = client.get("/api/v1/nope", headers=basic("carl"))
    assert r.status_code == 404
    assert r.json()["error"] == "Not Found"


def test_an_html_form_signs_in_and_posts_with_its_csrf_field(shop: Project) -> None:
    from medallion.serve.http import create_app

    with TestClient(create_app(shop), base_url="http://127.0.0.1:8080") as c:
        r = c.post("/api/v1/session", data={"user": "mia", "password": PASSWORD})
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        r = c.post("/api/v1/pipelines/nightly/pause", data={"csrf_token": "wrong"})
        assert r.status_code == 403
        assert "nightly" not in shop.schedule_log().paused()
        r = c.post("/api/v1/pipelines/nightly/pause", data={"csrf_token": csrf})
        assert r.status_code == 200, r.text
        assert "nightly" in shop.schedule_log().paused()
        r = c.post("/api/v1/pipelines/nightly/resume", data={"csrf_token": csrf})
        assert r.status_code == 200
        r = c.post("/api/v1/session", data={"user": "mia"})
        assert r.status_code == 422
