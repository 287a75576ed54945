"""How a tick's time reads in messages and tables: the zone once when its abbreviation is its
name (UTC), with its abbreviation otherwise; seconds when asked for or not zero."""

from __future__ import annotations

from datetime import UTC, datetime

from medallion.orchestrate.schedule import has_seconds, local_text


def test_zone_once_and_seconds_as_asked() -> None:
    on_the_minute = datetime(2026, 12, 6, 22, 50, tzinfo=UTC)
    assert local_text(on_the_minute, "UTC") == "2026-12-06 22:50 UTC"
    assert local_text(on_the_minute, "UTC", seconds=True) == "2026-12-06 22:50:00 UTC"
    later = datetime(2026, 12, 6, 22, 50, 10, tzinfo=UTC)
    assert local_text(later, "UTC") == "2026-12-06 22:50:10 UTC"
    assert local_text(later, "UTC", seconds=False) == "2026-12-06 22:50 UTC"
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_text(summer, "Europe/London") == "2026-07-01 13:00 Europe/London (BST)"


def test_has_seconds() -> None:
    assert has_seconds("*/10 * * * * *")
    assert not has_seconds("*/10 * * * *")
    assert not has_seconds(None)
