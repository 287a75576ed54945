"""The scheduler on an injectable clock, with real runs of a real project: a day of ticks, DST
changes in two zones, a restart, missed ticks, `after:` chains, retries with backoff, a timeout,
pause/resume — each checked in the run log and the tick log of the state database."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.conftest import medallion, write_project

from medallion.orchestrate.scheduler import Clock, Scheduler, run_pipeline
from medallion.project import Project


class FakeClock(Clock):
    """Time that moves only when the scheduler sleeps; stops the scheduler at `end`."""

    def __init__(self, start: datetime, end: datetime | None = None) -> None:
        self.t = start
        self.end = end
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)
        if self.end is not None and self.t >= self.end:
            stop.set()
        return stop.is_set()


FILES = {"landing/orders.csv": "order_id,amount\nA1,10\nA2,20\n"}


def project_with(tmp_path: Path, pipelines: str, models: dict[str, str] | None = None) -> Project:
    config = "name: sched\nsources:\n  orders: {path: landing/orders*.csv}\n" + pipelines
    models = models or {"silver/orders.sql": "select order_id, amount from bronze.orders"}
    return Project.load(write_project(tmp_path / "p", config, models, FILES))


def runs(project: Project) -> list[dict]:
    con = sqlite3.connect(project.state_dir / "state.db")
    con.row_factory = sqlite3.Row
    rows = con.execute(
        "SELECT run_id, status, trigger, pipeline, attempt, scheduled_for, error FROM runs"
        " WHERE pipeline IS NOT NULL ORDER BY started_at"
    ).fetchall()
    con.close()
    return [dict(r) for r in rows]


def ticks(project: Project, pipeline: str | None = None) -> list[dict]:
    return [t.to_dict() for t in reversed(project.schedule_log().history(pipeline, limit=10_000))]


def at(text: str, zone: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def serve(project: Project, start: datetime, end: datetime, **kwargs) -> Scheduler:
    """The scheduler's loop from `start` to `end` of the fake clock (woken only when a tick is
    due: nothing else changes while it sleeps)."""
    clock = FakeClock(start, end)
    scheduler = Scheduler(project, clock=clock, idle_poll=86400, **kwargs)
    scheduler.serve()
    return scheduler


def seen_at(project: Project, name: str, when: datetime) -> None:
    """The pipeline was first seen at `when`: ticks after it are owed."""
    project.schedule_log().first_seen(name, when)


def test_a_day_of_hourly_ticks_runs_each_hour_once(tmp_path: Path) -> None:
    project = project_with(tmp_path, "pipelines:\n  hourly: {schedule: '0 * * * *'}\n")
    start = at("2026-06-01T00:00:00")
    seen_at(project, "hourly", start)
    serve(project, start, start + timedelta(hours=24, minutes=30))
    rows = runs(project)
    assert [r["scheduled_for"][:19] for r in rows] == [
        (start + timedelta(hours=h)).isoformat()[:19] for h in range(1, 25)
    ]
    assert {(r["status"], r["trigger"], r["pipeline"], r["attempt"]) for r in rows} == {
        ("success", "schedule", "hourly", 1)
    }
    assert [t["status"] for t in ticks(project)] == ["success"] * 24
    assert all(t["run_id"] for t in ticks(project))


@pytest.mark.parametrize(
    ("zone", "cron", "days", "expected_utc"),
    [
        # London springs forward at 01:00 GMT on 2026-03-29: 01:30 does not exist that day
        (
            "Europe/London",
            "30 1 * * *",
            ("2026-03-28", "2026-03-31"),
            ["2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30"],
        ),
        # and falls back at 02:00 BST on 2026-10-25: 01:30 happens twice, runs on the first
        (
            "Europe/London",
            "30 1 * * *",
            ("2026-10-24", "2026-10-27"),
            ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"],
        ),
        # New York: 02:30 does not exist on 2026-03-08, shifted to 03:30 EDT
        (
            "America/New_York",
            "30 2 * * *",
            ("2026-03-07", "2026-03-10"),
            ["2026-03-07T07:30", "2026-03-08T07:30", "2026-03-09T06:30"],
        ),
        # 01:30 happens twice on 2026-11-01 (EDT, then EST): once
        (
            "America/New_York",
            "30 1 * * *",
            ("2026-10-31", "2026-11-03"),
            ["2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"],
        ),
    ],
)
def test_a_daily_schedule_runs_once_per_local_day_across_dst(
    tmp_path: Path, zone: str, cron: str, days: tuple[str, str], expected_utc: list[str]
) -> None:
    project = project_with(
        tmp_path, f"pipelines:\n  daily: {{schedule: '{cron}', timezone: {zone}}}\n"
    )
    start = at(f"{days[0]}T00:00:00", zone)
    seen_at(project, "daily", start)
    serve(project, start, at(f"{days[1]}T00:00:00", zone))
    assert [r["scheduled_for"][:16] for r in runs(project)] == expected_utc
    local_days = [
        datetime.fromisoformat(r["scheduled_for"]).astimezone(ZoneInfo(zone)).date()
        for r in runs(project)
    ]
    assert len(set(local_days)) == len(local_days) == 3


def test_a_restart_mid_day_neither_loses_nor_repeats_a_tick(tmp_path: Path) -> None:
    project = project_with(tmp_path, "pipelines:\n  p: {schedule: '0 */3 * * *'}\n")
    start = at("2026-06-01T00:00:00")
    seen_at(project, "p", start)
    serve(project, start, at("2026-06-01T10:00:00"))  # ticks 03, 06, 09
    # stopped at 10:00, started again at 10:30 (within the 1-hour grace of nothing): the day
    # goes on from where it was
    serve(project.reload(), at("2026-06-01T10:30:00"), at("2026-06-02T00:30:00"))
    hours = [datetime.fromisoformat(r["scheduled_for"]).hour for r in runs(project)]
    assert hours == [3, 6, 9, 12, 15, 18, 21, 0]
    assert len({r["scheduled_for"] for r in runs(project)}) == 8


def test_a_tick_whose_run_was_cut_off_runs_again_on_restart(tmp_path: Path) -> None:
    project = project_with(tmp_path, "pipelines:\n  p: {schedule: '0 2 * * *', retries: 1}\n")
    log = project.schedule_log()
    when = at("2026-06-01T02:00:00")
    seen_at(project, "p", when - timedelta(days=1))
    log.add("p", when, "schedule")
    tick = log.open()[0]
    log.start(tick, 1)  # the scheduler died here (kill -9): running, no run ended
    clock = FakeClock(when + timedelta(minutes=5))
    out = Scheduler(project, clock=clock).step()
    assert [t.pipeline for t in out.ran] == ["p"]
    [row] = runs(project)
    assert (row["status"], row["attempt"]) == ("success", 2)
    assert [t["status"] for t in ticks(project)] == ["success"]


def test_a_missed_tick_runs_within_grace_and_is_recorded_past_it(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n"
        "  a: {schedule: '0 2 * * *', grace: 1 hour}\n"
        "  b: {schedule: '0 2 * * *', grace: 1 hour}\n",
    )
    day = at("2026-06-01T00:00:00")
    seen_at(project, "a", day)
    seen_at(project, "b", day)
    # the scheduler was down at 02:00; it starts at 02:40: within a's grace
    Scheduler(project, clock=FakeClock(at("2026-06-01T02:40:00"))).step()
    assert [(r["pipeline"], r["scheduled_for"][:16]) for r in runs(project)] == [
        ("a", "2026-06-01T02:00"),
        ("b", "2026-06-01T02:00"),
    ]
    # down again for three days; started at 05:00: 02:00 is past grace, and two days before
    out = Scheduler(project, clock=FakeClock(at("2026-06-04T05:00:00"))).step()
    assert out.ran == []
    assert sorted((p, w.isoformat()[:10]) for p, w in out.missed) == [
        ("a", "2026-06-02"),
        ("a", "2026-06-03"),
        ("a", "2026-06-04"),
        ("b", "2026-06-02"),
        ("b", "2026-06-03"),
        ("b", "2026-06-04"),
    ]
    assert [t["status"] for t in ticks(project, "a")] == ["success", "missed", "missed", "missed"]
    assert len(runs(project)) == 2


def test_after_chains_follow_success_and_completion(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n"
        "  ingestion: {select: [layer:bronze], schedule: '0 2 * * *'}\n"
        "  transformation: {select: [layer:silver], after: [ingestion]}\n"
        "  report: {select: [layer:silver], after: [transformation], on: completion}\n",
    )
    day = at("2026-06-01T00:00:00")
    seen_at(project, "ingestion", day)
    serve(project, day, at("2026-06-01T03:00:00"))
    rows = runs(project)
    assert [(r["pipeline"], r["trigger"], r["status"]) for r in rows] == [
        ("ingestion", "schedule", "success"),
        ("transformation", "after", "success"),
        ("report", "after", "success"),
    ]
    assert len({r["scheduled_for"] for r in rows}) == 1
    # ingestion fails next day: transformation (on: success) is skipped and so, having no run,
    # starts nothing; a pipeline on: completion would have run
    (project.root / "landing" / "orders_2.csv").write_text("order_id,amount\nA3\n")
    (project.root / "medallion.yml").write_text(
        (project.root / "medallion.yml")
        .read_text()
        .replace("{path: landing/orders*.csv}", "{path: landing/orders*.csv, max_rejected: 0}")
    )
    serve(project.reload(), at("2026-06-01T03:00:00"), at("2026-06-02T03:00:00"))
    day2 = [t for t in ticks(project) if t["scheduled_for"].startswith("2026-06-02")]
    assert [(t["pipeline"], t["status"]) for t in day2] == [
        ("ingestion", "failed"),
        ("transformation", "skipped"),
    ]
    assert "ingestion ended failed" in day2[1]["note"]


FLAKY = '''"""---
depends_on: [bronze.orders]
"""
from pathlib import Path


def model(ctx):
    counter = Path(__file__).parents[2] / "attempts.txt"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    if n < FAILS:
        raise ConnectionError(f"upstream API not ready (attempt {n + 1})")
    return ctx.sql("select count(*) as n from bronze.orders")
'''


def test_a_failed_step_is_retried_with_backoff_then_succeeds(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n  p: {schedule: '0 2 * * *', retries: 3, retry_delay: 10 seconds}\n",
        {"gold/flaky.py": FLAKY.replace("FAILS", "2")},
    )
    day = at("2026-06-01T00:00:00")
    seen_at(project, "p", day)
    clock = FakeClock(at("2026-06-01T02:00:00"))
    retried: list[tuple[str, int, float]] = []
    scheduler = Scheduler(project, clock=clock)
    scheduler._notify_retry = lambda tick, p, res, n, delay: retried.append(  # type: ignore[method-assign]
        (res.node, n, delay)
    )
    scheduler.step()
    [row] = runs(project)
    assert row["status"] == "success"
    assert retried == [("gold.flaky", 1, 10.0), ("gold.flaky", 2, 20.0)]
    assert clock.slept == [10.0, 20.0]
    step = project.steps(row["run_id"])
    flaky = next(s for s in step if s["table_name"] == "flaky")
    assert flaky["attempts"] == 3 and flaky["status"] == "success"
    attempts = flaky["details"]["attempts"]
    assert [a.get("retry_in_s") for a in attempts] == [10.0, 20.0, None]
    assert "(attempt 1)" in attempts[0]["error"] and "(attempt 2)" in attempts[1]["error"]
    assert attempts[2]["error"] is None


def test_retries_used_up_fail_the_run_and_a_failed_check_is_not_retried(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n  p: {schedule: '0 2 * * *', retries: 1, retry_delay: 1 second}\n",
        {
            "gold/flaky.py": FLAKY.replace("FAILS", "5"),
            "silver/checked.sql": (
                "/* ---\nexpectations:\n  positive: {expect: amount > 100, action: fail}\n--- */\n"
                "select order_id, amount from bronze.orders"
            ),
        },
    )
    seen_at(project, "p", at("2026-06-01T00:00:00"))
    clock = FakeClock(at("2026-06-01T02:00:00"))
    Scheduler(project, clock=clock).step()
    [row] = runs(project)
    assert row["status"] == "failed"
    steps = {s["table_name"]: s for s in project.steps(row["run_id"])}
    assert steps["flaky"]["attempts"] == 2 and steps["flaky"]["status"] == "failed"
    assert steps["checked"]["attempts"] == 1 and steps["checked"]["status"] == "failed"
    assert clock.slept == [1.0]  # only the flaky step waited


def test_a_run_past_its_timeout_is_stopped_cleanly(tmp_path: Path) -> None:
    slow = "select count(*) as n from range(20000000000) a where a.range % 7 = 3"
    project = project_with(
        tmp_path,
        "pipelines:\n  p: {schedule: '0 2 * * *', timeout: 2 seconds, retries: 2}\n",
        {"gold/slow.sql": slow, "gold/after_slow.sql": "select * from gold.slow"},
    )
    seen_at(project, "p", at("2026-06-01T00:00:00"))
    started = datetime.now(UTC)
    Scheduler(project, clock=FakeClock(at("2026-06-01T02:00:00"))).step()
    took = (datetime.now(UTC) - started).total_seconds()
    [row] = runs(project)
    assert row["status"] == "failed"
    assert "timeout of 2 s" in row["error"]
    steps = {s["table_name"]: s for s in project.steps(row["run_id"])}
    assert steps["slow"]["status"] == "failed" and steps["slow"]["attempts"] == 1
    assert "timeout" in steps["slow"]["error"]
    assert steps["after_slow"]["status"] == "skipped"
    assert not (project.storage_root / "gold" / "slow").exists()  # nothing committed
    assert took < 60


def test_pause_and_resume(tmp_path: Path) -> None:
    project = project_with(tmp_path, "pipelines:\n  p: {schedule: '0 2 * * *'}\n")
    log = project.schedule_log()
    seen_at(project, "p", at("2026-06-01T00:00:00"))
    log.set_paused("p", True, at("2026-06-01T00:00:00"), "test")
    serve(project, at("2026-06-01T00:00:00"), at("2026-06-03T00:00:00"))
    assert runs(project) == []
    assert [(t["status"], t["note"]) for t in ticks(project)] == [("skipped", "paused")] * 2
    log.set_paused("p", False, at("2026-06-03T00:00:00"), "test")
    serve(project, at("2026-06-03T00:00:00"), at("2026-06-04T00:00:00"))
    assert [r["scheduled_for"][:10] for r in runs(project)] == ["2026-06-03"]


def test_a_manual_run_follows_after_and_waits_for_the_writer(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n"
        "  ingestion: {select: [layer:bronze]}\n"
        "  transformation: {select: [layer:silver], after: [ingestion]}\n",
    )
    holder = project.writer("run")  # a manual `medallion run` holds the lock for a while
    threading.Timer(1.5, holder.release).start()
    done = run_pipeline(project, "ingestion")
    assert [(t.pipeline, t.trigger, t.status) for t, _ in done] == [
        ("ingestion", "manual", "success"),
        ("transformation", "after", "success"),
    ]
    assert [r["trigger"] for r in runs(project)] == ["manual", "after"]


def test_a_second_scheduler_refuses_to_start(tmp_path: Path) -> None:
    from medallion.errors import LockError

    project = project_with(tmp_path, "pipelines:\n  p: {schedule: '@daily'}\n")
    with project.scheduler_lock():
        with pytest.raises(LockError, match="already running") as e:
            project.scheduler_lock()
        assert "pid" in str(e.value)


def _notifier(project: Project):
    from medallion.orchestrate.notify import Notifier

    return Notifier(
        targets=project.config.notifications,
        project=project.config.name,
        ui_url=project.config.scheduler.ui_url,
        retry_delays=(0.1,),
    )


def test_missed_ticks_and_a_breached_sla_are_notified(tmp_path: Path) -> None:
    from tests.orchestrate.sinks import WebhookSink

    with WebhookSink() as hook:
        config = (
            "name: sched\n"
            "sources:\n"
            "  orders: {path: landing/orders*.csv, sla: 2 hours}\n"
            "pipelines:\n"
            "  nightly: {schedule: '0 2 * * *', notify: [hook]}\n"
            "notifications:\n"
            f"  hook: {{type: webhook, url: '{hook.url}/in', on: [missed, sla]}}\n"
            "scheduler: {ui_url: 'http://ui.example:8080'}\n"
        )
        project = Project.load(
            write_project(
                tmp_path / "p", config, {"silver/o.sql": "select * from bronze.orders"}, FILES
            )
        )
        seen_at(project, "nightly", at("2026-06-01T00:00:00"))
        notifier = _notifier(project)
        # down for two nights: both past grace at 05:00 on the 3rd
        out = Scheduler(
            project, clock=FakeClock(at("2026-06-03T05:00:00")), notifier=notifier
        ).step()
        assert [w.isoformat()[:10] for _, w in out.missed] == [
            "2026-06-01",
            "2026-06-02",
            "2026-06-03",
        ]
        # bronze.orders was never written: its SLA is breached, once
        assert out.breaches == ["bronze.orders"]
        notifier.flush(10)
        bodies = [r.body for r in hook.requests]
        missed = [b for b in bodies if b["event"] == "missed"]
        assert len(missed) == 1 and missed[0]["pipeline"] == "nightly"
        assert "3 ticks" in missed[0]["message"]
        [sla] = [b for b in bodies if b["event"] == "sla"]
        assert sla["table"] == "bronze.orders" and "never written" in sla["message"]

        # written now; an hour later the SLA holds; three hours later it is breached again
        project.run()
        now = datetime.now(UTC)
        sched = Scheduler(project, clock=FakeClock(now + timedelta(hours=1)), notifier=notifier)
        assert sched.step().breaches == []
        assert project.schedule_log().breaches() == {}
        sched.clock.t = now + timedelta(hours=3)  # type: ignore[attr-defined]
        assert sched.step().breaches == ["bronze.orders"]
        sched.clock.t = now + timedelta(hours=4)  # type: ignore[attr-defined]
        assert sched.step().breaches == []  # told once per breach
        notifier.flush(10)
        slas = [r.body for r in hook.requests if r.body["event"] == "sla"]
        assert len(slas) == 2 and "last written 3 hours ago" in slas[1]["message"]
        notifier.close()


def test_a_pipeline_selecting_nothing_is_refused_at_validate(tmp_path: Path) -> None:
    from medallion.errors import ConfigError

    project = project_with(
        tmp_path, "pipelines:\n  p: {select: [layer:silver, silver.ordres], schedule: '@daily'}\n"
    )
    with pytest.raises(ConfigError, match="pipeline p: select") as e:
        project.validate()
    assert e.value.key == "pipelines.p.select" and "did you mean 'silver.orders'" in str(e.value)


def test_a_step_that_committed_is_not_retried(tmp_path: Path) -> None:
    # silver.orders commits, then its check fails to run (the table it compares with was never
    # built): running the step again could write twice, so it is not retried
    project = project_with(
        tmp_path,
        "pipelines:\n  p: {schedule: '0 2 * * *', retries: 2, retry_delay: 1 second}\n",
        {
            "silver/orders.sql": (
                "/* ---\nchecks:\n  - relationships: {column: order_id, to: silver.other.id}\n"
                "--- */\nselect order_id, amount from bronze.orders"
            ),
            "silver/other.sql": "select 1 as id from bronze.orders where false",
        },
    )
    from medallion.state.records import RunControl

    result = project.run(["silver.orders", "bronze.orders"], control=RunControl(retries=2))
    step = result.step("silver.orders")
    assert step.status == "failed" and step.delta_version == 0
    assert "attempts" not in step.details


def test_stopped_while_waiting_to_retry_the_run_is_interrupted(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n  p: {schedule: '0 2 * * *', retries: 3, retry_delay: 1 hour, "
        "timeout: 1 day}\n",
        {"gold/flaky.py": FLAKY.replace("FAILS", "9")},
    )
    seen_at(project, "p", at("2026-06-01T00:00:00"))
    stop = threading.Event()

    class StopOnSleep(FakeClock):
        def sleep(self, seconds: float, stop_event: threading.Event) -> bool:
            self.slept.append(seconds)
            stop_event.set()  # SIGTERM arrives during the retry's wait
            return True

    clock = StopOnSleep(at("2026-06-01T02:00:00"))
    Scheduler(project, clock=clock, stop=stop).step()
    [row] = runs(project)
    assert row["status"] == "interrupted"
    assert [t["status"] for t in ticks(project)] == ["pending"]  # runs again at the next start
    assert clock.slept == [3600.0]


def test_a_retry_wait_never_outlasts_the_timeout(tmp_path: Path) -> None:
    import time

    from medallion.state.records import RunControl

    project = project_with(tmp_path, "", {"gold/flaky.py": FLAKY.replace("FAILS", "9")})
    started = time.monotonic()
    result = project.run(control=RunControl(retries=3, retry_delay=300, timeout=1.5))
    took = time.monotonic() - started
    assert result.status == "failed" and "timeout of 1.5 s" in (result.error or "")
    assert took < 30  # not the 300 s of the first retry's wait
    assert len(result.step("gold.flaky").details["attempts"]) == 2  # one wait, cut short


def test_a_scheduler_leaves_a_live_manual_runs_tick_alone(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    project = project_with(tmp_path, "pipelines:\n  nightly: {select: [layer:bronze]}\n")
    # a manual run paused after its first commit (a fault point), its tick running
    env = {**os.environ, "MEDALLION_FAULT": "after-commit:bronze.orders@pause"}
    child = subprocess.Popen(
        [sys.executable, "-m", "medallion", "pipelines", "run", "nightly"],
        cwd=project.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [
            t for t in ticks(project) if t["status"] == "running"
        ]:
            time.sleep(0.2)
        [tick] = ticks(project)
        assert tick["status"] == "running"
        out = Scheduler(project, clock=FakeClock(datetime.now(UTC))).step()
        assert out.ran == []
        [tick] = ticks(project)
        assert (tick["status"], tick["attempt"], tick["trigger"]) == ("running", 1, "manual")
    finally:
        child.kill()
        child.wait()


def test_a_pipeline_after_two_waits_for_both(tmp_path: Path) -> None:
    """`after: [a, b]` runs once per scheduled time, after both; with `on: success` a failed
    upstream skips it, naming it."""
    project = project_with(
        tmp_path,
        "pipelines:\n"
        "  a: {select: [layer:bronze], schedule: '0 2 * * *'}\n"
        "  b: {select: [layer:bronze], schedule: '0 2 * * *'}\n"
        "  joined: {select: [layer:silver], after: [a, b]}\n",
    )
    day = at("2026-06-01T00:00:00")
    seen_at(project, "a", day)
    seen_at(project, "b", day)
    serve(project, day, at("2026-06-01T03:00:00"))
    assert [(r["pipeline"], r["trigger"], r["status"]) for r in runs(project)] == [
        ("a", "schedule", "success"),
        ("b", "schedule", "success"),
        ("joined", "after", "success"),
    ]
    # b fails the next day: joined (on: success) is skipped once, naming b
    (project.root / "landing" / "orders_2.csv").write_text("order_id,amount\nA3\n")
    (project.root / "medallion.yml").write_text(
        (project.root / "medallion.yml")
        .read_text()
        .replace("b: {select: [layer:bronze],", "b: {select: [layer:bronze], retries: 0,")
        .replace("{path: landing/orders*.csv}", "{path: landing/orders*.csv, max_rejected: 0}")
    )
    serve(project.reload(), at("2026-06-01T03:00:00"), at("2026-06-02T03:00:00"))
    day2 = [t for t in ticks(project) if t["scheduled_for"].startswith("2026-06-02")]
    assert [(t["pipeline"], t["status"]) for t in day2] == [
        ("a", "failed"),
        ("b", "failed"),
        ("joined", "skipped"),
    ]
    assert "a ended failed" in day2[2]["note"] and "b ended failed" in day2[2]["note"]


def test_a_manual_run_of_one_upstream_does_not_wait_for_the_other(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "pipelines:\n"
        "  a: {select: [layer:bronze]}\n"
        "  b: {select: [layer:bronze], schedule: '0 2 * * *'}\n"
        "  joined: {select: [layer:silver], after: [a, b]}\n",
    )
    done = run_pipeline(project, "a")
    assert [(t.pipeline, r.status if r else None) for t, r in done] == [
        ("a", "success"),
        ("joined", "success"),
    ]


def test_run_records_the_pipeline_an_orchestrator_ran(tmp_path: Path) -> None:
    """`medallion run --trigger airflow --pipeline NAME --scheduled-for T --attempt N` (what the
    exported DAGs call) lands in the run log as that pipeline's run; mistakes are refused
    before anything runs."""
    project = project_with(tmp_path, "pipelines:\n  nightly: {schedule: '0 2 * * *'}\n")
    args = ("run", "--trigger", "airflow", "--pipeline", "nightly")
    when = ("--scheduled-for", "2026-12-01T02:00:00+01:00", "--attempt", "2")
    medallion(*args, *when, cwd=project.root, check=True)
    (last,) = runs(project)
    assert (last["trigger"], last["pipeline"], last["attempt"], last["status"]) == (
        "airflow",
        "nightly",
        2,
        "success",
    )
    assert last["scheduled_for"].startswith("2026-12-01T01:00:00")
    for bad, says in [
        (("run", "--pipeline", "nope"), "no pipeline 'nope'"),
        ((*args, "--scheduled-for", "yesterday"), "not an ISO 8601 time"),
        (("run", "--attempt", "2"), "go with --pipeline"),
    ]:
        proc = medallion(*bad, cwd=project.root)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert len(runs(project)) == 1
