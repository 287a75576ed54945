"""Notifications delivered to real servers on 127.0.0.1: a webhook sink (http.server, also over
TLS) and an SMTP sink (aiosmtpd, with STARTTLS, implicit TLS and AUTH checked against a
password). The targets come from a real medallion.yml through the real loader, so an unset
`${VAR}` reaches the notifier as the loader leaves it."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.orchestrate.sinks import SmtpSink, WebhookSink, outward_address, tls_pair

from medallion.config.loader import load_project_config
from medallion.orchestrate.notify import Notice, Notifier
from medallion.state.records import CheckResult, RunResult, StepResult

# the sinks' own choice in tests that log in without TLS on 127.0.0.1 (or over smtps)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

FAST = (0.05, 0.05)
SLACK_TOKEN = "T0000/B0000/XXXXsecretXXXX"
HOOK_TOKEN = "hook-path-token-9f8e7d"
BEARER = "bearer-value-5a4b3c"
SMTP_PASSWORD = "p@ss:w0rd/smtp"
TICK = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def targets(tmp_path: Path, notifications: str, env: dict[str, str] | None = None) -> Any:
    """The `notifications:` of a medallion.yml, as the loader makes them."""
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "medallion.yml").write_text(
        "name: retail\nnotifications:\n" + notifications + "scheduler:\n  ui_url: http://ui:8080/\n"
    )
    return load_project_config(root, env=env or {})


def email_target(smtp: str, on: str, name: str = "t") -> str:
    return f"  {name}: {{type: email, to: a@example.com, smtp: '{smtp}', on: {on}}}\n"


def failed_run() -> RunResult:
    """Ingest wrote 118 rows (2 quarantined), silver.orders failed with a hint, a warned check."""
    return RunResult(
        run_id="r-20261206-020000",
        status="failed",
        steps=[
            StepResult(
                1, "bronze.orders", "ingest", rows_read=120, rows_written=118, rows_quarantined=2
            ),
            StepResult(
                2,
                "silver.orders",
                "model",
                status="failed",
                error='models/silver/orders.sql:3: column "amont" not found\n'
                "  hint: did you mean amount?",
            ),
            StepResult(3, "gold.sales", "model", status="skipped"),
            StepResult(
                4,
                "silver.customers",
                "model",
                rows_written=40,
                checks=[
                    CheckResult(
                        "email_present",
                        "not_null",
                        "silver.customers",
                        "warn",
                        "warn",
                        failing_rows=3,
                        message="3 rows have no email",
                    ),
                    CheckResult("id_unique", "unique", "silver.customers", "error", "pass"),
                ],
            ),
        ],
        duration_s=4.2,
        error="1 step failed",
    )


def failure(targets: list[str], **kw: Any) -> Notice:
    return Notice(
        event=kw.pop("event", "failure"),
        targets=targets,
        pipeline="ingestion",
        run=failed_run(),
        trigger="schedule",
        attempt=1,
        scheduled_for=TICK,
        message="2 of 4 steps did not finish",
        **kw,
    )


def notifier(config: Any, **kw: Any) -> Notifier:
    kw.setdefault("retry_delays", FAST)
    kw.setdefault("timeout", 5.0)
    return Notifier(
        targets=config.notifications,
        project=config.name,
        ui_url=config.scheduler.ui_url,
        **kw,
    )


@pytest.fixture
def caplog_notify(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="medallion.notify")
    return caplog


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


# -- each type delivers the facts -------------------------------------------------------------


def test_webhook_delivers_a_json_object_with_stable_keys(tmp_path, caplog_notify):
    with WebhookSink() as sink:
        config = targets(
            tmp_path,
            f"  hook:\n    type: webhook\n    url: {sink.url}/in/{HOOK_TOKEN}\n"
            "    headers: {Authorization: 'Bearer ${TOKEN}', X-Team: data}\n"
            "    on: [failure]\n",
            env={"TOKEN": BEARER},
        )
        n = notifier(config)
        assert n.send(failure(["hook"])) == 1
        [request] = sink.wait_for(1)
        assert n.flush(5)
        n.close()

    assert request.method == "POST"
    assert request.path == f"/in/{HOOK_TOKEN}"
    assert request.headers["Authorization"] == f"Bearer {BEARER}"
    assert request.headers["X-Team"] == "data"
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.body
    expected = {
        "event": "failure",
        "project": "retail",
        "pipeline": "ingestion",
        "run_id": "r-20261206-020000",
        "status": "failed",
        "trigger": "schedule",
        "attempt": 1,
        "scheduled_for": "2026-12-06T02:00:00+00:00",
        "message": "2 of 4 steps did not finish",
        "failed_steps": [
            {
                "node": "silver.orders",
                "step": "model",
                "error": 'models/silver/orders.sql:3: column "amont" not found',
                "hint": "did you mean amount?",
            }
        ],
        "rows_written": 158,
        "rows_quarantined": 2,
        "checks": [
            {
                "table": "silver.customers",
                "name": "email_present",
                "status": "warn",
                "message": "3 rows have no email",
                "failing_rows": 3,
            }
        ],
        "table": None,
        "url": "http://ui:8080/ui/runs/r-20261206-020000",
        "headline": "retail: pipeline ingestion failed",
        "details": {},
    }
    assert {k: body[k] for k in expected} == expected
    assert set(body) == {*expected, "id", "sent_at"}
    assert datetime.fromisoformat(body["sent_at"]).tzinfo is not None
    text = caplog_notify.text
    assert "delivered" in text
    for secret in (HOOK_TOKEN, BEARER):
        assert secret not in text


def test_slack_delivers_a_readable_summary_with_the_link(tmp_path, caplog_notify):
    with WebhookSink() as sink:
        config = targets(
            tmp_path,
            f"  ops: {{type: slack, url: '{sink.url}/services/{SLACK_TOKEN}'}}\n",
        )
        n = notifier(config)
        n.send(failure(["ops"]))
        [request] = sink.wait_for(1)
        n.close()

    assert request.path == f"/services/{SLACK_TOKEN}"
    assert set(request.body) == {"text"}
    lines = request.body["text"].splitlines()
    assert lines[0] == "*retail: pipeline ingestion failed*"
    assert "2 of 4 steps did not finish" in lines
    assert (
        "run r-20261206-020000 (failed), trigger: schedule, scheduled for 2026-12-06T02:00:00+00:00"
        in lines
    )
    assert "rows written: 158, quarantined: 2" in lines
    # Slack's three reserved characters escaped, so the error reads as written
    assert '  silver.orders (model): models/silver/orders.sql:3: column "amont" not found' in lines
    assert "    hint: did you mean amount?" in lines
    assert "  silver.customers email_present: warn (3 rows): 3 rows have no email" in lines
    assert (
        lines[-1]
        == "<http://ui:8080/ui/runs/r-20261206-020000|Open run r-20261206-020000 in medallion>"
    )
    assert SLACK_TOKEN not in caplog_notify.text
    assert "/…" in caplog_notify.text  # the URL is logged as scheme and host


def test_slack_escapes_its_reserved_characters(tmp_path):
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  ops: {{type: slack, url: '{sink.url}/x', on: missed}}\n")
        n = notifier(config)
        n.send(Notice("missed", ["ops"], pipeline="p<1>", message="a & b <!channel>"))
        [request] = sink.wait_for(1)
        n.close()
    assert request.body["text"].splitlines() == [
        "*retail: pipeline p&lt;1&gt; missed a scheduled run*",
        "a &amp; b &lt;!channel&gt;",
    ]


def test_email_over_starttls_with_login(tmp_path, caplog_notify):
    server_tls, client_tls = tls_pair(tmp_path / "tls")
    with SmtpSink(users={"bot": SMTP_PASSWORD}, starttls=server_tls) as smtp:
        config = targets(
            tmp_path,
            "  team:\n    type: email\n    to: [data-team@example.com, oncall@example.com]\n"
            "    smtp: ${SMTP_URL}\n    from: medallion@retail.example\n    on: [failure]\n",
            env={"SMTP_URL": smtp.url("bot", SMTP_PASSWORD).replace("127.0.0.1", "localhost")},
        )
        n = notifier(config, ssl_context=client_tls)
        n.send(failure(["team"]))
        [message] = smtp.wait_for(1)
        n.close()

    [session] = smtp.sessions
    assert session.tls and session.login == "bot"
    assert session.rcpt_tos == ["data-team@example.com", "oncall@example.com"]
    assert session.mail_from == "medallion@retail.example"
    assert smtp.logins == [("PLAIN", "bot", True)]
    assert message["Subject"] == "[medallion] retail: pipeline ingestion failed"
    assert message["To"] == "data-team@example.com, oncall@example.com"
    assert message["X-Medallion-Run-Id"] == "r-20261206-020000"
    body = message.get_content()
    for fact in (
        "2 of 4 steps did not finish",
        "run r-20261206-020000 (failed), trigger: schedule",
        "rows written: 158, quarantined: 2",
        'silver.orders (model): models/silver/orders.sql:3: column "amont" not found',
        "hint: did you mean amount?",
        "silver.customers email_present: warn (3 rows)",
        "The run in medallion: http://ui:8080/ui/runs/r-20261206-020000",
    ):
        assert fact in body
    text = caplog_notify.text
    assert "smtp://localhost:" in text and "delivered" in text
    for secret in (SMTP_PASSWORD, "p%40ss", "bot:"):
        assert secret not in text


def test_email_auth_login_mechanism_and_a_wrong_password(tmp_path, caplog_notify):
    server_tls, client_tls = tls_pair(tmp_path / "tls")
    with SmtpSink(users={"bot": "right-password"}, starttls=server_tls, mechanisms=("LOGIN",)) as s:
        good = targets(
            tmp_path,
            email_target(s.url("bot", "right-password"), "success"),
        )
        n = notifier(good, ssl_context=client_tls)
        n.send(Notice("success", ["t"], pipeline="p", run=RunResult("r1", "success", [], 1.0)))
        [message] = s.wait_for(1)
        n.close()
        assert s.logins == [("LOGIN", "bot", True)]
        assert message["Subject"] == "[medallion] retail: pipeline p succeeded"

        bad = targets(
            tmp_path,
            email_target(s.url("bot", "wrong-password"), "success"),
        )
        n = notifier(bad, ssl_context=client_tls)
        n.send(Notice("success", ["t"], pipeline="p"))
        assert n.flush(5)
        n.close()
    assert s.logins[1:] == [("LOGIN", "bot", False)]  # refused once: not retried
    [error] = records(caplog_notify, logging.ERROR)
    assert "the server refused the login: 535" in error and "not retried" in error
    assert "wrong-password" not in caplog_notify.text


def test_smtps_implicit_tls(tmp_path):
    server_tls, client_tls = tls_pair(tmp_path / "tls")
    with SmtpSink(users={"bot": SMTP_PASSWORD}, implicit_tls=server_tls) as smtp:
        config = targets(
            tmp_path,
            email_target(smtp.url("bot", SMTP_PASSWORD), "sla"),
        )
        assert config.notifications["t"].smtp.startswith("smtps://")
        n = notifier(config, ssl_context=client_tls)
        n.send(
            Notice(
                "sla",
                ["t"],
                table="gold.sales_daily",
                message="gold.sales_daily was last written 27 h ago (sla: 26 hours)",
                details={"age_hours": 27.0},
            )
        )
        [message] = smtp.wait_for(1)
        n.close()
    assert smtp.sessions[0].tls and smtp.sessions[0].login == "bot"
    assert message["Subject"] == "[medallion] retail: SLA breached on gold.sales_daily"
    body = message.get_content()
    assert "gold.sales_daily was last written 27 h ago" in body
    assert "age_hours: 27.0" in body
    assert "runs/" not in body  # no run, no link


def test_smtp_without_login_and_default_from(tmp_path):
    with SmtpSink() as smtp:
        config = targets(
            tmp_path, f"  t: {{type: email, to: a@example.com, smtp: '{smtp.url()}', on: missed}}\n"
        )
        n = notifier(config)
        n.send(
            Notice(
                "missed",
                ["t"],
                pipeline="ingestion",
                trigger="schedule",
                scheduled_for=TICK,
                message="tick of 02:00 Europe/London missed by 3 h",
            )
        )
        [message] = smtp.wait_for(1)
        n.close()
    assert not smtp.sessions[0].tls and smtp.sessions[0].login is None
    assert message["From"].startswith("medallion@")
    assert message["Subject"] == "[medallion] retail: pipeline ingestion missed a scheduled run"
    assert "tick of 02:00 Europe/London missed by 3 h" in message.get_content()


def test_a_password_is_not_sent_without_tls_except_on_this_machine(tmp_path, caplog_notify):
    password = "pw-not-over-plain-text"
    with SmtpSink(users={"bot": password}, login_without_tls=True) as smtp:
        # 127.0.0.1: nothing crosses a network, the login goes ahead without TLS
        local = targets(tmp_path, email_target(smtp.url("bot", password), "failure"))
        n = notifier(local)
        n.send(failure(["t"]))
        smtp.wait_for(1)
        n.close()
    assert smtp.logins == [("PLAIN", "bot", True)] and not smtp.sessions[0].tls

    # the same kind of server at an address that is not loopback: refused before any AUTH,
    # once (not retried), saying what to do
    with SmtpSink(users={"bot": password}, login_without_tls=True, host=outward_address()) as far:
        remote = targets(tmp_path, email_target(far.url("bot", password), "failure"))
        n = notifier(remote)
        n.send(failure(["t"]))
        assert n.flush(5)
        n.close()
    assert far.logins == [] and far.messages == []
    [error] = records(caplog_notify, logging.ERROR)
    assert "offers no STARTTLS" in error and "use smtps://" in error and "not retried" in error
    assert password not in caplog_notify.text


# -- who hears what ---------------------------------------------------------------------------


def test_targets_hear_only_the_events_they_listen_to(tmp_path):
    with WebhookSink() as sink:
        config = targets(
            tmp_path,
            f"  failures: {{type: webhook, url: '{sink.url}/failures', on: [failure]}}\n"
            f"  both: {{type: webhook, url: '{sink.url}/both', on: [success, failure]}}\n"
            f"  default: {{type: webhook, url: '{sink.url}/default'}}\n"
            f"  unnamed: {{type: webhook, url: '{sink.url}/unnamed', on: [success]}}\n",
        )
        n = notifier(config)
        ok = RunResult("r-ok", "success", [StepResult(1, "bronze.a", "ingest", rows_written=5)], 1)
        assert n.send(Notice("success", ["failures", "both", "default"], pipeline="p", run=ok)) == 1
        # without `on:` a target hears failure, missed and sla
        assert n.send(failure(["failures", "both", "default"])) == 3
        assert n.send(Notice("sla", ["failures", "both", "default"], table="gold.t")) == 1
        assert n.flush(5)
        n.close()
    got = sorted((r.path, r.body["event"]) for r in sink.requests)
    assert got == [
        ("/both", "failure"),
        ("/both", "success"),
        ("/default", "failure"),
        ("/default", "sla"),
        ("/failures", "failure"),
    ]
    [success] = [r.body for r in sink.requests if r.body["event"] == "success"]
    assert success["rows_written"] == 5 and success["failed_steps"] == []
    [sla] = [r.body for r in sink.requests if r.body["event"] == "sla"]
    assert sla["run_id"] is None and sla["url"] is None and sla["table"] == "gold.t"


def test_check_event_carries_the_checks_given_in_details(tmp_path):
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  q: {{type: webhook, url: '{sink.url}/q', on: check}}\n")
        n = notifier(config)
        checks = [
            CheckResult("positive_amount", "expression", "silver.orders", "error", "fail",
                        failing_rows=7, message="7 rows have amount <= 0"),
            CheckResult("fresh", "freshness", "silver.orders", "warn", "pass"),
        ]  # fmt: skip
        n.send(Notice("check", ["q"], pipeline="nightly", table="silver.orders",
                      details={"checks": checks}))  # fmt: skip
        [request] = sink.wait_for(1)
        n.close()
    body = request.body
    assert body["headline"] == "retail: checks failed on silver.orders"
    assert body["checks"] == [
        {
            "table": "silver.orders",
            "name": "positive_amount",
            "status": "fail",
            "message": "7 rows have amount <= 0",
            "failing_rows": 7,
        }
    ]


# -- failures never fail the run --------------------------------------------------------------


def test_a_failing_endpoint_is_retried_until_it_answers(tmp_path, caplog_notify):
    with WebhookSink(fail_first=2) as sink:
        config = targets(
            tmp_path, f"  ops: {{type: slack, url: '{sink.url}/services/{SLACK_TOKEN}'}}\n"
        )
        n = notifier(config)
        n.send(failure(["ops"]))
        sink.wait_for(1)
        assert n.flush(5)
        n.close()
    assert [a.status for a in sink.attempts] == [500, 500, 200]
    assert len(sink.requests) == 1
    assert sink.attempts[0].raw == sink.attempts[2].raw  # the same message each time
    warnings = records(caplog_notify, logging.WARNING)
    assert len(warnings) == 2
    assert "attempt 1 of 3" in warnings[0] and "HTTP 500" in warnings[0]
    assert "retrying in 0.05 s" in warnings[0]
    assert not records(caplog_notify, logging.ERROR)
    assert any("delivered (attempt 3)" in m for m in records(caplog_notify, logging.INFO))
    assert SLACK_TOKEN not in caplog_notify.text


def test_an_smtp_server_refusing_for_now_is_tried_again(tmp_path, caplog_notify):
    with SmtpSink(fail_first=1) as smtp:
        config = targets(tmp_path, email_target(smtp.url(), "failure"))
        n = notifier(config)
        n.send(failure(["t"]))
        [message] = smtp.wait_for(1)
        assert n.flush(5)
        n.close()
    assert smtp.refused == 1
    assert message["Subject"] == "[medallion] retail: pipeline ingestion failed"
    [warning] = records(caplog_notify, logging.WARNING)
    assert "the server answered 451" in warning and "attempt 1 of 3" in warning


def test_a_dead_port_is_given_up_without_raising(tmp_path, caplog_notify):
    with WebhookSink() as sink:
        dead = sink.url  # the port is free again once the sink stops
    config = targets(
        tmp_path,
        f"  hook: {{type: webhook, url: '{dead}/in/{HOOK_TOKEN}', headers: {{X-Key: {BEARER}}}}}\n",
    )
    n = notifier(config, retry_delays=(0.2, 0.2))
    assert n.send(failure(["hook"])) == 1
    assert n.flush(10)
    n.close()
    warnings = records(caplog_notify, logging.WARNING)
    [error] = records(caplog_notify, logging.ERROR)
    assert len(warnings) == 2
    assert "Connection refused" in error and "attempt 3 of 3" in error and "given up" in error
    assert f"{dead}/…" in error
    for secret in (HOOK_TOKEN, BEARER):
        assert secret not in caplog_notify.text


def test_an_unset_variable_is_logged_once_and_never_attempted(tmp_path, caplog_notify):
    with WebhookSink() as sink:
        config = targets(
            tmp_path,
            "  ops: {type: slack, url: '${SLACK_WEBHOOK_URL}'}\n"
            f"  hook: {{type: webhook, url: '{sink.url}/h',\n"
            "    headers: {Authorization: 'Bearer ${HOOK_TOKEN}'}}\n",
        )
        assert config.notifications["ops"].url == "${SLACK_WEBHOOK_URL}"
        n = notifier(config)
        # what the scheduler can say when it starts, before any event (nothing logged)
        assert n.problems() == {
            "ops": "notification 'ops' is not sent: SLACK_WEBHOOK_URL is not set "
            "(export it where the scheduler runs)",
            "hook": "notification 'hook' is not sent: HOOK_TOKEN is not set "
            "(export it where the scheduler runs)",
        }
        assert not caplog_notify.records
        assert n.send(failure(["ops", "hook"])) == 0
        assert n.send(failure(["ops", "hook"])) == 0
        assert n.flush(1)
        n.close()
        assert sink.attempts == []
    assert records(caplog_notify, logging.WARNING) == [
        "notification 'ops' is not sent: SLACK_WEBHOOK_URL is not set "
        "(export it where the scheduler runs)",
        "notification 'hook' is not sent: HOOK_TOKEN is not set "
        "(export it where the scheduler runs)",
    ]


def test_a_certificate_not_trusted_is_a_failed_delivery(tmp_path, caplog_notify):
    server_tls, client_tls = tls_pair(tmp_path / "tls")
    with WebhookSink(tls=server_tls) as sink:
        config = targets(
            tmp_path, f"  hook: {{type: webhook, url: '{sink.url}/in/{HOOK_TOKEN}'}}\n"
        )
        # verification is on by default: the self-signed certificate is refused
        n = notifier(config, retry_delays=())
        n.send(failure(["hook"]))
        assert n.flush(5)
        n.close()
        [error] = records(caplog_notify, logging.ERROR)
        assert "certificate is not trusted" in error
        # a context that trusts it, as a user's CA bundle would
        n = notifier(config, ssl_context=client_tls)
        n.send(failure(["hook"]))
        [request] = sink.wait_for(1)
        n.close()
    assert request.body["event"] == "failure"
    assert HOOK_TOKEN not in caplog_notify.text


def test_a_bad_url_and_an_unknown_target_are_logged_not_raised(tmp_path, caplog_notify):
    config = targets(tmp_path, "  hook: {type: webhook, url: 'ftp://files.example.com/x'}\n")
    n = notifier(config)
    assert n.send(failure(["hook", "nobody"])) == 0
    n.close()
    assert records(caplog_notify, logging.ERROR) == [
        "notification 'hook' is not sent: url must start with https:// (or http://)"
    ]
    assert records(caplog_notify, logging.WARNING) == [
        "notification 'nobody' is not sent: there is no such target under notifications: (hook)"
    ]


def test_close_drops_what_waits_for_a_retry(tmp_path, caplog_notify):
    with WebhookSink(fail_first=1) as sink:
        config = targets(tmp_path, f"  hook: {{type: webhook, url: '{sink.url}/h'}}\n")
        n = notifier(config, retry_delays=(30.0,))
        n.send(failure(["hook"]))
        deadline = time.monotonic() + 5
        while not sink.attempts and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not n.flush(0.3)  # the retry is 30 s away
        n.close()
        assert n.send(failure(["hook"])) == 0
    assert len(sink.attempts) == 1
    assert any("dropped" in m for m in records(caplog_notify, logging.WARNING))


@pytest.mark.parametrize(
    ("notice", "headline"),
    [
        (Notice("success", pipeline="ingestion"), "retail: pipeline ingestion succeeded"),
        (Notice("failure", pipeline="ingestion"), "retail: pipeline ingestion failed"),
        (
            Notice("retry", pipeline="ingestion", attempt=2),
            "retail: pipeline ingestion failed, retrying (attempt 2)",
        ),
        (
            Notice("missed", pipeline="ingestion"),
            "retail: pipeline ingestion missed a scheduled run",
        ),
        (
            Notice("check", table="silver.orders", details={"checks": [{"status": "warn"}]}),
            "retail: checks warned on silver.orders",
        ),
        (Notice("sla", table="gold.sales"), "retail: SLA breached on gold.sales"),
        (Notice("failure", run=RunResult("r9", "failed", [], 1.0)), "retail: run r9 failed"),
    ],
)
def test_each_event_has_its_headline(notice, headline):
    from medallion.orchestrate.notify.message import Facts

    assert Facts.of(notice, "retail", None).headline == headline


def test_a_url_without_a_secret_part_is_logged_whole(tmp_path, caplog_notify):
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  hook: {{type: webhook, url: '{sink.url}'}}\n")
        n = notifier(config)
        n.send(failure(["hook"]))
        sink.wait_for(1)
        assert n.flush(5)
        n.close()
    [delivered] = records(caplog_notify, logging.INFO)
    assert f"to {sink.url} delivered" in delivered


def test_send_does_not_wait_for_the_network(tmp_path, caplog_notify):
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  hook: {{type: webhook, url: '{sink.url}/h'}}\n")
        n = notifier(config, timeout=5.0)
        sink.hold()  # the endpoint answers nothing until released
        assert n.send(failure(["hook"])) == 1
        assert n.send(failure(["hook"])) == 1
        # both sends came back while the first request still waits for its answer
        assert sink.requests == []
        assert not n.flush(0.1)
        sink.release()
        sink.wait_for(2)
        assert n.flush(5)
        n.close()
    # each delivered on its first attempt: no sender timed out waiting on the held answer
    assert [a.status for a in sink.attempts] == [200, 200]
    assert sum("delivered (attempt 1)" in m for m in records(caplog_notify, logging.INFO)) == 2


def test_a_retry_names_the_step_that_runs_again(tmp_path):
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  ops: {{type: webhook, url: '{sink.url}/r', on: retry}}\n")
        n = notifier(config)
        step = StepResult(1, "bronze.orders", "ingest")
        step.fail("source orders: connection refused\n  hint: is the database up?")
        n.send(
            Notice(
                "retry",
                ["ops"],
                pipeline="ingestion",
                trigger="schedule",
                attempt=2,
                step=step,
                message="bronze.orders failed, run again in 5 s",
            )
        )
        [request] = sink.wait_for(1)
        n.close()
    body = request.body
    assert body["headline"] == "retail: pipeline ingestion failed, retrying (attempt 2)"
    assert body["failed_steps"] == [
        {
            "node": "bronze.orders",
            "step": "ingest",
            "error": "source orders: connection refused",
            "hint": "is the database up?",
        }
    ]


# -- what a message may say -------------------------------------------------------------------


def test_quoted_values_in_errors_and_checks_are_not_posted(tmp_path):
    """A failing model's error quotes the value it could not convert (maybe of a masked
    column): the channel gets the error without it; the run log keeps the full text."""
    run = failed_run()
    run.steps[1] = StepResult(
        2,
        "silver.orders",
        "model",
        status="failed",
        error="models/silver/orders.sql: Conversion Error: Could not convert string "
        "'Éric Blanc' to INT32 (value 'O''Brien' too)\n  hint: cast 'nom' or fix the data",
    )
    run.steps[3].checks[0].message = "2 rows are not in ('a', 'b'): 'jean@example.fr'"
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  hook: {{type: webhook, url: '{sink.url}/h'}}\n")
        n = notifier(config)
        notice = failure(["hook"])
        notice.run = run
        notice.message = "silver.orders failed: 'Éric Blanc'"
        assert n.send(notice) == 1
        [request] = sink.wait_for(1)
        n.close()
    body = request.body
    assert "Éric" not in request.raw.decode() and "jean@" not in request.raw.decode()
    assert "Brien" not in request.raw.decode()
    [step] = body["failed_steps"]
    assert step["error"] == (
        "models/silver/orders.sql: Conversion Error: Could not convert string '…' to INT32 "
        "(value '…' too)"
    )
    assert step["hint"] == "cast '…' or fix the data"
    assert body["message"] == "silver.orders failed: '…'"
    assert body["checks"][0]["message"] == "2 rows are not in ('…', '…'): '…'"


def test_a_checks_example_values_are_not_posted_bare(tmp_path):
    """accepted_values lists the values it found as SQL writes them: numbers, dates and
    timestamps bare (the sample keeps dates and decimals as text); none of them is posted."""
    run = failed_run()
    run.steps[3].checks[0] = CheckResult(
        "accepted_values_born",
        "accepted_values",
        "silver.customers",
        "warn",
        "warn",
        failing_rows=4,
        message="4 rows with values not accepted: 1987-03-14, 1990-01-02 10:00:00, 4321.50, 86",
        sample=[
            {"born": "1987-03-14", "n": 1},
            {"born": "1990-01-02T10:00:00", "n": 1},
            {"born": "4321.50", "n": 1},
            {"born": 86, "n": 1},
        ],
    )
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  hook: {{type: webhook, url: '{sink.url}/h'}}\n")
        n = notifier(config)
        notice = failure(["hook"])
        notice.run = run
        n.send(notice)
        [request] = sink.wait_for(1)
        n.close()
    check = request.body["checks"][0]
    assert check["message"] == "4 rows with values not accepted: …, …, …, …"
    assert check["failing_rows"] == 4


def test_a_scheduled_run_posts_no_byte_of_the_masked_values(tmp_path):
    """A real run under the scheduler whose failures would carry masked data: a CSV whose
    header is `;`-delimited but rows `,` (the rejection summary quotes a raw line), an
    expectation with `action: fail` (its sample rows show a masked salary, bare), a warned
    accepted_values check listing the masked grades it found (bare numbers), and a retry whose
    details carry the step's error. The webhook on 127.0.0.1 gets every event, and not one of
    the masked values; the run log keeps them."""
    from tests.conftest import write_project
    from tests.orchestrate.test_scheduler import FakeClock, at, seen_at

    from medallion.orchestrate.scheduler import Scheduler
    from medallion.project import Project

    people = ["customer_id;name;email;city"] + [
        f"CUST-{i:05d},Zoë Müller {i},zoë{i}@example.fr,Lyon" for i in range(1, 42)
    ]
    pay = "emp_id,salary,grade\n" + "".join(
        f"E{i},{918273 + i},{7717 + i % 2}\n" for i in range(1, 6)
    )
    with WebhookSink() as hook:
        config = f"""\
            name: leak
            sources:
              customers: {{path: landing/customers*.csv, delimiter: ";"}}
              pay: {{path: landing/pay*.csv}}
            access:
              grants: {{analysts: [silver.*]}}
              masks:
                bronze.customers.name: "null"
                bronze.customers.email: email
                silver.pay_checked.salary: "null"
                silver.pay_graded.grade: "null"
            pipelines:
              nightly: {{schedule: '0 2 * * *', retries: 1, retry_delay: 1 second, notify: [hook]}}
            notifications:
              hook: {{type: webhook, url: '{hook.url}/in', on: [failure, retry, check]}}
            """
        models = {
            "silver/pay_checked.sql": """\
                /* ---
                expectations:
                  modest: {expect: salary < 1000, action: fail}
                --- */
                select emp_id, salary from bronze.pay
                """,
            "silver/pay_graded.sql": """\
                /* ---
                checks:
                  - accepted_values: {column: grade, values: [1, 2]}
                    severity: warn
                --- */
                select emp_id, grade from bronze.pay
                """,
        }
        files = {"landing/customers.csv": "\n".join(people) + "\n", "landing/pay.csv": pay}
        project = Project.load(write_project(tmp_path / "p", config, models, files))
        seen_at(project, "nightly", at("2026-06-01T00:00:00"))
        notifier = notifier_of(project)
        Scheduler(project, clock=FakeClock(at("2026-06-01T02:00:00")), notifier=notifier).step()
        notifier.flush(10)
        notifier.close()
        requests = list(hook.requests)
    events = sorted({r.body["event"] for r in requests})
    assert events == ["check", "failure", "retry"]
    # every byte but the message's random id (hex digits could spell a number)
    sent = "\n".join(r.raw.decode("utf-8").replace(r.body["id"], "") for r in requests)
    for secret in ["Zoë", "Müller", "zoë1@", "example.fr", "918274", "7717", "7718"]:
        assert secret not in sent, secret
    # what is sent still says what went wrong
    [failure] = [r.body for r in requests if r.body["event"] == "failure"]
    errors = {s["node"]: s["error"] for s in failure["failed_steps"]}
    assert "41 of 41 rows rejected" in errors["bronze.customers"]
    assert "e.g. line 2: '…')" in errors["bronze.customers"]
    assert "sample rows: in the run log" in errors["silver.pay_checked"]
    [check] = [r.body for r in requests if r.body["event"] == "check"]
    [graded] = [c for c in check["checks"] if c["name"].startswith("accepted_values")]
    assert graded["failing_rows"] == 5 and "values not accepted" in graded["message"]
    # the run log keeps the full text for those the grants let read it
    [run] = project.runs(limit=1)
    steps = {f"{s['layer']}.{s['table_name']}": s for s in project.steps(run["run_id"])}
    assert "Zoë Müller 1" in steps["bronze.customers"]["error"]


def notifier_of(project: Any) -> Notifier:
    return Notifier(
        targets=project.config.notifications,
        project=project.config.name,
        ui_url=project.config.scheduler.ui_url,
        retry_delays=FAST,
    )
