"""Durations written in medallion.yml: '90 minutes', '2 days', and layers' retention."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE
)


def duration_seconds(text: str) -> float:
    """'90 minutes' -> 5400.0 (seconds, minutes, hours, days, weeks)."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is a number and a unit: '30 seconds', '2 hours', '1 day'")
    unit = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
    return float(m.group(1)) * unit[m.group(2).lower()]


#: Delta's own default: a week of history stays restorable
DEFAULT_RETENTION_HOURS = 168

_RETENTION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(hour|day|week|month|year)s?\s*$", re.IGNORECASE)
_HOURS = {"hour": 1, "day": 24, "week": 24 * 7, "month": 24 * 30, "year": 24 * 365}


def retention_hours(value: str | None) -> int | None:
    """'90 days' -> 2160; None / 'forever' -> None (keep everything)."""
    if value is None or str(value).strip().lower() in ("forever", "indefinitely", "none"):
        return None
    m = _RETENTION_RE.match(str(value))
    if not m:
        raise ValueError(
            f"retention {value!r} is a number and a unit (hours, days, weeks, months, years), "
            "or 'forever'"
        )
    return round(float(m.group(1)) * _HOURS[m.group(2).lower()])
