"""When a cron schedule fires, in a time zone, across daylight-saving changes.

croniter walks the schedule's fields; this module decides which real instants those wall-clock
times are, the way Airflow's cron timetables do:

- a schedule that names its hours (`30 2 * * *`, `0 9,17 * * 1-5`) fires once per matching wall
  time of each local day: when the clocks go forward past it (02:30 does not exist that night)
  it fires at the same offset after the change (03:30 summer time, the instant 02:30 winter time
  would have been); when they go back and the wall time happens twice, it fires on the first
  only. croniter alone fires such a daily job twice on the autumn change;
- a schedule that runs every hour (`*` in the hour field: `0 * * * *`, `*/15 * * * *`, or a
  six-field one with seconds) fires at every real instant that matches, both passes of a
  repeated hour included, and once for a wall time in a skipped hour.

Times in and out are aware datetimes; the zone is an IANA name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

#: more than any zone's daylight-saving shift: how far around a wall time to look
_SLACK = timedelta(hours=3)


class Schedule:
    def __init__(self, cron: str, timezone: str = "UTC") -> None:
        from croniter import croniter

        self.cron = cron
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self._croniter = croniter
        # the hour field is the second (croniter's sixth field is seconds): every hour listed
        self.every_hour = croniter(cron).expanded[1] == ["*"]

    def __repr__(self) -> str:
        return f"Schedule({self.cron!r}, {self.timezone!r})"

    def _wall_times(self, start: datetime) -> Iterator[datetime]:
        """Matching naive local wall times after `start` (naive), ascending."""
        it = self._croniter(self.cron, start)
        while True:
            yield it.get_next(datetime)

    def _instants(self, wall: datetime) -> list[datetime]:
        """The real instants (UTC) a wall time stands for, per the rules above."""
        first = wall.replace(tzinfo=self.zone, fold=0)
        second = wall.replace(tzinfo=self.zone, fold=1)
        a, b = first.astimezone(UTC), second.astimezone(UTC)
        if a == b:
            return [a]
        if _exists(first):  # a repeated wall time (clocks went back): fold 0 is the first pass
            return [a, b] if self.every_hour else [a]
        # a skipped wall time (clocks went forward): zoneinfo's fold=0 reads it with the offset
        # before the change, i.e. the instant the wall time would have been: shifted forward
        return [a]

    def next_after(self, after: datetime) -> datetime:
        """The first instant the schedule fires strictly after `after`."""
        after = after.astimezone(UTC)
        local = after.astimezone(self.zone).replace(tzinfo=None)
        # no clock change near `after` nor before the next wall time: wall order is time order
        offset = after.astimezone(self.zone).utcoffset()
        if (
            offset
            == (after - _SLACK).astimezone(self.zone).utcoffset()
            == (after + _SLACK).astimezone(self.zone).utcoffset()
        ):
            wall = next(self._wall_times(local))
            instants = self._instants(wall)
            if len(instants) == 1 and instants[0].astimezone(self.zone).utcoffset() == offset:
                return instants[0]
        best: datetime | None = None
        for wall in self._wall_times(local - _SLACK):
            if best is not None and wall > best.astimezone(self.zone).replace(tzinfo=None) + _SLACK:
                break
            for instant in self._instants(wall):
                if instant > after and (best is None or instant < best):
                    best = instant
        assert best is not None
        return best

    def between(self, start: datetime, end: datetime, limit: int = 10_000) -> list[datetime]:
        """Fire instants in (start, end], oldest first (at most `limit`: the newest kept)."""
        out: list[datetime] = []
        when = start
        while True:
            when = self.next_after(when)
            if when > end:
                return out
            out.append(when)
            if len(out) > limit:
                del out[0]


def _exists(aware: datetime) -> bool:
    """Whether a wall time (with its zone) happens: a skipped one does not survive the round
    trip through UTC."""
    back = aware.astimezone(UTC).astimezone(aware.tzinfo)
    return back.replace(tzinfo=None) == aware.replace(tzinfo=None)


@lru_cache(maxsize=64)
def schedule(cron: str, timezone: str) -> Schedule:
    return Schedule(cron, timezone)


def local_text(when: datetime, timezone: str, seconds: bool | None = None) -> str:
    """'2026-03-29 02:30 Europe/London (BST)' for messages; 'UTC' once, not 'UTC (UTC)'.
    `seconds`: always shown (a table of ticks of a schedule with a seconds field, where 22:50
    beside 22:50:10 would read as another minute), never, or (None) when not zero."""
    local = when.astimezone(ZoneInfo(timezone))
    shown = seconds if seconds is not None else bool(local.second)
    abbreviation = f"{local:%Z}"
    zone = timezone if abbreviation == timezone else f"{timezone} ({abbreviation})"
    return f"{local:%Y-%m-%d %H:%M}{f':{local:%S}' if shown else ''} {zone}"


def has_seconds(cron: str | None) -> bool:
    """A six-field cron: its last field is the seconds (croniter's order)."""
    return bool(cron) and len(str(cron).split()) == 6


def shown_zone(pipelines: Mapping[str, Any], name: str) -> str:
    """The zone a pipeline's times are shown in: its own `timezone:` when it has a schedule or
    sets one; an `after:` pipeline without either ticks at its upstream's times, so it shows
    them in its (first) upstream's zone, as the upstream does."""
    seen: set[str] = set()
    while name in pipelines and name not in seen:
        seen.add(name)
        p = pipelines[name]
        if p.schedule or "timezone" in p.model_fields_set or not p.after:
            return str(p.timezone)
        name = p.after[0]
    return "UTC"


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["Schedule", "has_seconds", "local_text", "schedule", "shown_zone", "utcnow"]
