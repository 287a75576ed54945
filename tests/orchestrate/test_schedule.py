"""Fire times across daylight-saving changes, worked out by hand (orchestrate/schedule.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medallion.orchestrate.schedule import Schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(cron: str, zone: str, start: str, end: str) -> list[str]:
    return [f"{t:%m-%d %H:%M}" for t in Schedule(cron, zone).between(utc(start), utc(end))]


def test_hourly_fires_every_real_hour_across_both_changes() -> None:
    # London, 2026-03-29: 01:00 GMT becomes 02:00 BST -> 23 local hours, 23 runs
    spring = fires("0 * * * *", "Europe/London", "2026-03-28T23:30", "2026-03-29T22:30")
    assert len(spring) == 23 and len(set(spring)) == 23
    # 2026-10-25: 02:00 BST becomes 01:00 GMT -> 25 local hours, 25 runs, 01:00 twice
    autumn = fires("0 * * * *", "Europe/London", "2026-10-24T22:30", "2026-10-25T23:30")
    assert len(autumn) == 25
    assert autumn[:4] == ["10-24 23:00", "10-25 00:00", "10-25 01:00", "10-25 02:00"]


def test_a_daily_job_in_the_repeated_hour_runs_once() -> None:
    # croniter alone fires 01:30 twice on this day
    assert fires("30 1 * * *", "Europe/London", "2026-10-24T12:00", "2026-10-26T12:00") == [
        "10-25 00:30",
        "10-26 01:30",
    ]


def test_a_daily_job_in_the_skipped_hour_is_shifted() -> None:
    # 01:30 does not exist in London on 2026-03-29: it runs at 02:30 BST (01:30 UTC)
    assert fires("30 1 * * *", "Europe/London", "2026-03-28T12:00", "2026-03-30T12:00") == [
        "03-29 01:30",
        "03-30 00:30",
    ]


@pytest.mark.parametrize("zone", ["Australia/Lord_Howe", "Asia/Kolkata", "UTC"])
def test_half_hour_zones_and_utc(zone: str) -> None:
    # a day of a daily 09:00 job is one run per local day whatever the zone's offset
    got = Schedule("0 9 * * *", zone).between(utc("2026-04-01T00:00"), utc("2026-04-11T00:00"))
    assert len(got) == 10
    from zoneinfo import ZoneInfo

    assert {t.astimezone(ZoneInfo(zone)).strftime("%H:%M") for t in got} == {"09:00"}


def test_seconds_field() -> None:
    assert fires("* * * * * */20", "UTC", "2026-01-01T00:00", "2026-01-01T00:01") == [
        "01-01 00:00",
        "01-01 00:00",
        "01-01 00:01",
    ]


def test_the_zone_a_pipeline_is_shown_in() -> None:
    from medallion.config.pipelines import Pipeline
    from medallion.orchestrate.schedule import shown_zone

    pipelines = {
        "nightly": Pipeline(schedule="0 2 * * *", timezone="Europe/Paris"),
        "after": Pipeline(after=["nightly"]),
        "after_after": Pipeline(after=["after"]),
        "own": Pipeline(after=["nightly"], timezone="Asia/Tokyo"),
        "by_hand": Pipeline(),
    }
    assert shown_zone(pipelines, "nightly") == "Europe/Paris"
    assert shown_zone(pipelines, "after") == "Europe/Paris"
    assert shown_zone(pipelines, "after_after") == "Europe/Paris"
    assert shown_zone(pipelines, "own") == "Asia/Tokyo"
    assert shown_zone(pipelines, "by_hand") == "UTC"
    assert shown_zone(pipelines, "removed") == "UTC"
