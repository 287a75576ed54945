"""The web UI's pages through Starlette's TestClient on a real project (Delta tables built by a
real run): every page for every role, what a viewer may and may not see, the controls each role
gets, CSRF on every POST, and escaping of hostile text from the project's own files.

The project is tests/serve/http's shop (its `access:` block and users: ada admin, mia member,
carl contributor, val viewer in analysts, vic viewer in no group, moe viewer in monitoring),
with an expectation on silver.orders that quarantines the order under 6 euros and a gold model
whose descriptions are hostile HTML."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import write_project
from tests.serve.http.conftest import CONFIG, MODELS, ORDERS, PASSWORD, USERS, audit_rows

from medallion.project import Project
from medallion.serve.http import create_app

HOSTILE = '<script>alert("owned")</script>'
HOSTILE_COLUMN = "<img src=x onerror=alert(1)>"

WEB_MODELS = {
    **MODELS,
    "silver/orders.sql": MODELS["silver/orders.sql"].replace(
        "description: One row per order, typed.",
        "description: One row per order, typed.\n"
        "        expectations:\n"
        "          big_enough: {expect: amount >= 6, action: quarantine}",
    ),
    "gold/hostile.sql": f"""
        /* ---
        description: '{HOSTILE}'
        columns:
          customer: '{HOSTILE_COLUMN}'
        --- */
        select customer from gold.sales_by_customer
    """,
}

BASE = "http://127.0.0.1:8080"
ROLES = {name: role for name, role, _ in USERS}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_project(
        tmp_path_factory.mktemp("web") / "shop",
        CONFIG,
        WEB_MODELS,
        {"data/orders.csv": ORDERS, "checks.yml": "silver.orders:\n  - unique: order_id\n"},
    )
    project = Project.load(root)
    assert project.run().ok
    for name, role, groups in USERS:
        project.add_user(name, role, groups, PASSWORD)
    return project


@pytest.fixture(scope="module")
def app(web: Project):  # type: ignore[no-untyped-def]
    return create_app(web)


def sign_in(app, user: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=BASE)
    r = client.post(
        "/ui/login",
        data={"user": user, "password": PASSWORD, "next": "/ui/tables"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/ui/tables"
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    return client, csrf


@pytest.fixture(scope="module")
def clients(app) -> Iterator[dict[str, tuple[TestClient, str]]]:  # type: ignore[no-untyped-def]
    made = {name: sign_in(app, name) for name, _, _ in USERS}
    yield made
    for client, _ in made.values():
        client.close()


def page(clients: dict, user: str, path: str) -> tuple[int, str]:
    client, _ = clients[user]
    r = client.get(path, follow_redirects=False)
    return r.status_code, r.text


def whoami(html: str) -> str:
    m = re.search(r'<span id="whoami">([^<]*)</span>', html)
    assert m, "the page does not say who is signed in"
    return m.group(1)


def listed(html: str, table_id: str) -> list[str]:
    """The first cell's text of each row of the HTML table `table_id`."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>\s*<td([^>]*)>(.*?)</td>", body, re.S)
    return [re.sub(r"<[^>]+>", "", r).strip() for attrs, r in rows if "muted" not in attrs]


# -- signing in --------------------------------------------------------------------------------

PAGES = ["/ui/", "/ui/runs", "/ui/tables", "/ui/lineage", "/ui/quarantine", "/ui/pipelines",
         "/ui/quality", "/ui/access", "/ui/tables/gold/sales_by_day"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_session_leads_to_the_login_form(app, path: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as client:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/ui/login?next=")
        login = client.get(r.headers["location"])
        assert login.status_code == 200
        assert 'name="user"' in login.text and 'name="password"' in login.text
        assert f'value="{path}"' in login.text  # back there after signing in


def test_root_leads_to_the_ui_and_the_api_stays_json(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as client:
        r = client.get("/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/ui/"
        r = client.get("/api/v1/tables")
        assert r.status_code == 401 and r.json()["error"]
        assert r.headers["www-authenticate"].startswith("Basic")


def test_a_wrong_password_is_refused_and_audited_and_names_no_user(app, web: Project) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as client:
        wrong = client.post("/ui/login", data={"user": "ada", "password": "nope nope"})
        unknown = client.post("/ui/login", data={"user": "nobody", "password": "nope nope"})
        assert wrong.status_code == unknown.status_code == 401
        assert "wrong user or password" in wrong.text and "wrong user or password" in unknown.text
        assert "medallion_session" not in client.cookies
    failed = [r for r in audit_rows(web, "ada") if r["action"] == "login"]
    assert failed and failed[-1]["response_status"] == "failed"


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/api/v1/tables", "/ui\\..\\x"]
)
def test_sign_in_goes_back_to_a_ui_page_only(app, target: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as client:
        r = client.post(
            "/ui/login",
            data={"user": "ada", "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/ui/"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie


def test_sign_in_from_another_site_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as client:
        r = client.post(
            "/ui/login",
            data={"user": "ada", "password": PASSWORD},
            headers={"Origin": "http://evil.example"},
            follow_redirects=False,
        )
        assert r.status_code == 403
        assert "medallion_session" not in client.cookies


def test_sign_out_needs_the_csrf_token_and_ends_the_session(app) -> None:  # type: ignore[no-untyped-def]
    client, csrf = sign_in(app, "mia")
    with client:
        refused = client.post("/ui/logout", follow_redirects=False)
        assert refused.status_code == 403
        assert client.get("/ui/", follow_redirects=False).status_code == 200  # still signed in
        r = client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        assert client.get("/ui/", follow_redirects=False).status_code == 303


# -- every page, every role --------------------------------------------------------------------

#: page -> the users who get it (200); every other user gets 403
ALLOWED = {
    "/ui/": set(ROLES),
    "/ui/runs": {"ada", "mia", "carl", "moe"},
    "/ui/run": {"ada", "mia", "carl", "moe"},
    "/ui/tables": set(ROLES),
    "/ui/tables/gold/sales_by_day": {"ada", "mia", "carl", "val"},
    "/ui/tables/bronze/orders": {"ada", "mia", "carl"},
    "/ui/lineage": set(ROLES),
    "/ui/lineage?node=gold.sales_by_day&up=1&down=1": {"ada", "mia", "carl", "val"},
    "/ui/quarantine": set(ROLES),
    "/ui/quarantine/silver.orders__quarantine": {"ada", "mia", "carl", "val"},
    "/ui/pipelines": {"ada", "mia", "carl", "moe"},
    "/ui/quality": set(ROLES),
    "/ui/access": {"ada"},
}


@pytest.mark.parametrize("user", list(ROLES))
@pytest.mark.parametrize("path", list(ALLOWED))
def test_every_page_for_every_role(clients: dict, web: Project, user: str, path: str) -> None:
    real = path.replace("/ui/run", f"/ui/runs/{web.run_history(1)[0]['run_id']}", 1)
    if path != "/ui/run":
        real = path
    status, html = page(clients, user, real)
    assert status == (200 if user in ALLOWED[path] else 403), html[:400]
    assert whoami(html) == user  # an error page too says who is signed in
    assert "<script>alert" not in html


def test_a_viewer_lists_only_what_its_grants_allow(clients: dict) -> None:
    _, html = page(clients, "val", "/ui/tables")
    tables = set(listed(html, "catalog"))
    assert tables == {
        "silver.orders",
        "silver.orders__quarantine",  # readable with its table's grant
        "gold.sales_by_customer",
        "gold.sales_by_day",
        "gold.hostile",
    }
    _, html = page(clients, "vic", "/ui/tables")
    assert listed(html, "catalog") == []
    assert "No table you may read" in html
    _, html = page(clients, "ada", "/ui/tables")
    assert {"bronze.orders", "silver.orders__quarantine"} <= set(listed(html, "catalog"))

    _, html = page(clients, "val", "/ui/quarantine")
    assert listed(html, "quarantines") == ["silver.orders__quarantine"]
    _, html = page(clients, "vic", "/ui/quarantine")
    assert listed(html, "quarantines") == []

    _, html = page(clients, "vic", "/ui/lineage")
    assert "bronze" not in html.split("<main>", 1)[1]
    _, html = page(clients, "val", "/ui/lineage")
    assert ">sales_by_day<" in html and ">orders<" in html and "bronze ·" not in html


def test_a_viewers_sample_is_masked_and_filtered_and_audited(clients: dict, web: Project) -> None:
    _, html = page(clients, "val", "/ui/tables/gold/sales_by_customer")
    sample = html.split('id="sample"', 1)[1].split("</table>", 1)[0]
    assert "alice" not in sample and "a***" in sample  # the mask
    _, html = page(clients, "ada", "/ui/tables/gold/sales_by_customer")
    assert "alice" in html.split('id="sample"', 1)[1]

    _, html = page(clients, "val", "/ui/tables/silver/orders")
    sample = html.split('id="sample"', 1)[1].split("</table>", 1)[0]
    assert "bob" not in sample and "carol" in sample  # the row filter: paid orders only
    reads = [r for r in audit_rows(web, "val") if r["action"] == "query"]
    assert any("sales_by_customer" in (r["request"] or "") for r in reads)
    assert all(r["service"] == "http" for r in reads)


def test_a_refused_table_page_is_audited_as_denied(clients: dict, web: Project) -> None:
    status, html = page(clients, "vic", "/ui/tables/gold/sales_by_day")
    assert status == 403 and "not allowed" in html.lower()
    denied = [r for r in audit_rows(web, "vic") if r["response_status"] == "denied"]
    assert denied


def test_an_unknown_table_or_run_is_404_as_a_page(clients: dict) -> None:
    for path in ("/ui/tables/gold/nope", "/ui/runs/nope", "/ui/lineage?node=gold.nope", "/ui/x"):
        status, html = page(clients, "ada", path)
        assert status == 404, path
        assert html.startswith("<!doctype html>")


def test_the_run_page_shows_its_timeline_steps_and_checks(clients: dict, web: Project) -> None:
    run = web.run_history(1)[0]
    _, html = page(clients, "carl", f"/ui/runs/{run['run_id']}")
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="medallion-timeline"' in html
    steps = web.steps(run["run_id"])
    assert len(listed(html, "steps")) == len(steps)
    quarantined = next(s for s in steps if s["table_name"] == "orders" and s["layer"] == "silver")
    assert quarantined["rows_quarantined"] == 1
    assert "big_enough" in html.split('id="checks"', 1)[1]
    assert "hx-trigger" not in html  # a finished run is not polled


def test_runs_filter_by_status_and_trigger(clients: dict, web: Project) -> None:
    _, html = page(clients, "ada", "/ui/runs?status=success")
    assert len(listed(html, "runs")) == len(
        [r for r in web.run_history(200) if r["status"] == "success"]
    )
    _, html = page(clients, "ada", "/ui/runs?status=failed")
    assert listed(html, "runs") == []


def test_the_lineage_page_draws_a_focus_and_its_column_lineage(clients: dict) -> None:
    status, html = page(clients, "ada", "/ui/lineage?node=sales_by_day&up=1&down=0")
    assert status == 200
    svg = html.split('id="lineage"', 1)[1].split("</svg>", 1)[0]
    assert "sales_by_day" in svg and ">orders<" in svg and "sales_by_customer" not in svg
    assert 'id="column-lineage"' in html and "order_date" in html.split('id="column-lineage"')[1]


def test_controls_a_role_may_not_use_are_not_shown(clients: dict) -> None:
    q = "/ui/quarantine/silver.orders__quarantine"
    assert 'id="replay"' in page(clients, "mia", q)[1]
    assert 'id="replay"' in page(clients, "ada", q)[1]
    assert 'id="replay"' not in page(clients, "carl", q)[1]
    assert 'id="replay"' not in page(clients, "val", q)[1]

    assert "/pipelines/nightly/pause" in page(clients, "mia", "/ui/pipelines")[1]
    carl = page(clients, "carl", "/ui/pipelines")[1]
    assert "/pipelines/nightly/pause" not in carl and "/pipelines/nightly/run" in carl
    moe = page(clients, "moe", "/ui/pipelines")[1]
    assert "/pipelines/nightly/run" not in moe and "/pipelines/nightly/pause" not in moe

    for user in ROLES:
        html = page(clients, user, "/ui/")[1]
        assert ('href="/ui/access"' in html) == (user == "ada")
        assert ('href="/ui/runs"' in html) == (user in ALLOWED["/ui/runs"])


def test_every_post_form_carries_the_csrf_token(clients: dict) -> None:
    _, csrf = clients["ada"]
    for path in ("/ui/quarantine/silver.orders__quarantine", "/ui/pipelines", "/ui/"):
        html = page(clients, "ada", path)[1]
        forms = re.findall(r'<form method="post".*?</form>', html, re.S)
        assert forms
        for form in forms:
            assert f'name="csrf_token" value="{csrf}"' in form


# -- POSTs: CSRF, roles, what they do ----------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused(clients: dict, web: Project) -> None:
    client, csrf = clients["mia"]
    for path in (
        "/ui/pipelines/nightly/pause",
        "/ui/quarantine/silver.orders__quarantine/replay",
        "/ui/logout",
    ):
        for data in ({}, {"csrf_token": "forged"}):
            r = client.post(path, data=data, follow_redirects=False)
            assert r.status_code == 403, (path, data)
            assert "CSRF" in r.text
    assert "nightly" not in web.schedule_log().paused()
    r = client.post(
        "/ui/pipelines/nightly/pause",
        data={"csrf_token": csrf},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "nightly" not in web.schedule_log().paused()


def test_pause_and_resume_from_the_pipelines_page(clients: dict, web: Project) -> None:
    client, csrf = clients["mia"]
    r = client.post(
        "/ui/pipelines/nightly/pause", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/pipelines"
    assert "nightly" in web.schedule_log().paused()
    html = page(clients, "mia", "/ui/pipelines")[1]
    assert "/pipelines/nightly/resume" in html
    r = client.post(
        "/ui/pipelines/nightly/resume", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and "nightly" not in web.schedule_log().paused()
    carl, carl_csrf = clients["carl"]
    r = carl.post("/ui/pipelines/nightly/pause", data={"csrf_token": carl_csrf})
    assert r.status_code == 403 and "member role or higher" in r.text


def test_replay_is_for_members_and_moves_what_now_passes(clients: dict, web: Project) -> None:
    val, val_csrf = clients["val"]
    r = val.post("/ui/quarantine/silver.orders__quarantine/replay", data={"csrf_token": val_csrf})
    assert r.status_code == 403
    client, csrf = clients["mia"]
    path = "/ui/quarantine/silver.orders__quarantine/replay"
    r = client.post(path, data={"csrf_token": csrf})  # the rule unchanged: nothing passes
    assert r.status_code == 200 and 'id="replayed"' in r.text
    assert "0 rows moved" in r.text and "1 still quarantined" in r.text

    model = web.root / "models" / "silver" / "orders.sql"
    model.write_text(model.read_text().replace("amount >= 6", "amount >= 5"))
    try:
        r = client.post(path, data={"csrf_token": csrf})
        assert "1 row moved into silver.orders, 0 still quarantined" in r.text
        assert web.query("select count(*) as n from silver.orders").column("n")[0].as_py() == 4
        assert web.quarantined_rows("silver.orders").num_rows == 0
    finally:
        model.write_text(model.read_text().replace("amount >= 5", "amount >= 6"))


# -- escaping ----------------------------------------------------------------------------------


def test_hostile_text_from_the_project_is_escaped(clients: dict) -> None:
    for path in ("/ui/tables", "/ui/tables/gold/hostile", "/ui/tables?q=%3Cscript%3E"):
        status, html = page(clients, "ada", path)
        assert status == 200
        assert "<script>alert" not in html and "<img src=x" not in html
    html = page(clients, "ada", "/ui/tables/gold/hostile")[1]
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    html = page(clients, "ada", "/ui/tables?q=%3Cscript%3Ex")[1]
    assert "&lt;script&gt;x" in html


def test_pages_are_not_cached_and_allow_only_this_servers_scripts(clients: dict) -> None:
    client, _ = clients["ada"]
    r = client.get("/ui/tables")
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    css = client.get("/ui/static/medallion.css")
    js = client.get("/ui/static/htmx.min.js")
    assert css.status_code == js.status_code == 200
    assert "header.top" in css.text and "htmx" in js.text


def test_htmx_asks_for_the_catalogs_part_only(clients: dict) -> None:
    client, _ = clients["val"]
    r = client.get("/ui/tables?q=sales", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<table class="grid" id="catalog">')
    assert set(listed(r.text, "catalog")) == {"gold.sales_by_customer", "gold.sales_by_day"}


def test_the_access_page_shows_users_grants_and_the_audit(clients: dict) -> None:
    _, html = page(clients, "ada", "/ui/access?user=vic&status=denied")
    assert set(listed(html, "users")) == set(ROLES)
    assert "analysts" in listed(html, "grants")
    audit = html.split('id="audit"', 1)[1]
    assert "vic" in audit and "ada" not in re.sub(r"<th>.*?</th>", "", audit)


# -- a run in progress, a failed run and its re-run (last: they add runs) ---------------------


def test_a_running_runs_page_follows_its_progress(clients: dict, web: Project) -> None:
    from medallion.state.runlog import RunLog

    with RunLog(web.state, trigger="manual", command="medallion run", selection=None) as log:
        status, html = page(clients, "ada", f"/ui/runs/{log.run_id}")
        assert status == 200 and 'id="run-status">running<' in html
        assert 'hx-trigger="every 2s"' in html  # htmx polls the steps part
        assert '<noscript><meta http-equiv="refresh"' in html  # without JavaScript: a refresh
        client, _ = clients["ada"]
        part = client.get(f"/ui/runs/{log.run_id}", headers={"HX-Request": "true"}).text
        assert part.startswith('<div id="live"') and "<html" not in part
        log.finish()
    _, html = page(clients, "ada", f"/ui/runs/{log.run_id}")
    assert "hx-trigger" not in html and "http-equiv" not in html


def test_a_failed_run_shows_its_error_and_is_re_run_by_a_contributor(
    clients: dict, web: Project
) -> None:
    model = web.root / "models" / "gold" / "sales_by_day.sql"
    good = model.read_text()
    model.write_text(good.replace("sum(amount)", "sum(no_such_column)"))
    try:
        failed = web.reload().run()
    finally:
        model.write_text(good)
    assert not failed.ok
    run_id = web.run_history(1)[0]["run_id"]
    status, html = page(clients, "carl", f"/ui/runs/{run_id}")
    assert status == 200 and 'id="run-status">failed<' in html
    assert 'class="step-error"' in html and "no_such_column" in html
    error = html.split('class="step-error"', 1)[1].split("</tr>", 1)[0]
    assert '<p class="hint">hint: ' in error  # the error's hint, apart from its message
    assert 'id="rerun"' in html and "Re-run the 1 failed step" in html
    for user in ("moe", "ada"):
        assert ('id="rerun"' in page(clients, user, f"/ui/runs/{run_id}")[1]) == (user == "ada")

    carl, csrf = clients["carl"]
    assert carl.post(f"/ui/runs/{run_id}/rerun", follow_redirects=False).status_code == 403
    moe, moe_csrf = clients["moe"]
    r = moe.post(f"/ui/runs/{run_id}/rerun", data={"csrf_token": moe_csrf})
    assert r.status_code == 403
    r = carl.post(f"/ui/runs/{run_id}/rerun", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    again = r.headers["location"].split("/ui/runs/", 1)[1].split("?", 1)[0]
    assert again != run_id
    deadline = time.monotonic() + 120
    while (web.state.run(again) or {}).get("status") == "running":
        assert time.monotonic() < deadline, "the re-run did not end"
        time.sleep(0.2)
    rerun = web.state.run(again)
    assert rerun["status"] == "success", rerun
    assert [s["table_name"] for s in web.steps(again)] == ["sales_by_day"]


def test_run_now_starts_the_pipeline_for_a_contributor(clients: dict, web: Project) -> None:
    moe, moe_csrf = clients["moe"]
    r = moe.post("/ui/pipelines/after_nightly/run", data={"csrf_token": moe_csrf})
    assert r.status_code == 403
    carl, csrf = clients["carl"]
    assert carl.post("/ui/pipelines/after_nightly/run").status_code == 403  # no CSRF token
    r = carl.post(
        "/ui/pipelines/after_nightly/run", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    run_id = r.headers["location"].split("/ui/runs/", 1)[1].split("?", 1)[0]
    deadline = time.monotonic() + 120
    while (web.state.run(run_id) or {}).get("status") == "running":
        assert time.monotonic() < deadline, "the pipeline's run did not end"
        time.sleep(0.2)
    assert web.state.run(run_id)["pipeline"] == "after_nightly"
    html = page(clients, "carl", "/ui/pipelines")[1]
    history = html.split('id="pipeline-after_nightly"', 1)[1].split("</section>", 1)[0]
    assert run_id in history and "api" in history


def test_a_graph_above_the_size_limit_asks_for_a_focus(
    clients: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medallion.serve.web.pages import lineage

    monkeypatch.setattr(lineage, "MAX_NODES", 3)
    status, html = page(clients, "ada", "/ui/lineage")
    assert status == 200 and 'id="too-large"' in html and 'id="lineage"' not in html
    assert "more than the 3 drawn at once" in html and 'name="node"' in html
    status, html = page(clients, "ada", "/ui/lineage?node=gold.sales_by_day&up=1&down=0")
    assert status == 200 and 'id="lineage"' in html
