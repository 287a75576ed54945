"""A session's TimeZone (SET TimeZone, or the startup parameter libpq sends from PGTZ): its
timestamptz values come back as local time in that zone with the offset, as PostgreSQL writes
them; timestamp without time zone is unchanged; an unknown zone is 22023."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.string import TextLoader
from tests.serve.conftest import Endpoint

#: order 1 was placed at 2024-01-01 10:00 (UTC when read as timestamptz); a summer instant
QUERY = (
    "select ordered_at::timestamptz as t, ordered_at as naive, "
    "timestamptz '2024-07-01 12:00:00.25+00' as summer from silver.orders where order_id = 1"
)


def raw_text(con: psycopg.Connection) -> None:
    """Show timestamps as the text the server sent (not parsed)."""
    for name in ("timestamptz", "timestamp"):
        con.adapters.register_loader(name, TextLoader)


def test_set_timezone_writes_timestamptz_in_that_zone(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn(), connect_timeout=10) as con:
        con.execute("SET TimeZone = 'Europe/Paris'")
        assert con.info.parameter_status("TimeZone") == "Europe/Paris"
        assert con.execute("show timezone").fetchone() == ("Europe/Paris",)
        t, naive, summer = con.execute(QUERY).fetchone()
        assert t == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)  # the same instant
        assert t.utcoffset() == timedelta(hours=1)
        assert naive == datetime(2024, 1, 1, 10, 0)
        assert summer == datetime(2024, 7, 1, 12, 0, 0, 250000, tzinfo=UTC)
        raw_text(con)
        assert con.execute(QUERY).fetchone() == (
            "2024-01-01 11:00:00+01",
            "2024-01-01 10:00:00",
            "2024-07-01 14:00:00.25+02",  # summer time, fraction kept
        )
        con.execute("SET TIME ZONE 'Asia/Kolkata'")
        assert con.execute(QUERY).fetchone()[0] == "2024-01-01 15:30:00+05:30"
        con.execute("SET TimeZone = 'UTC'")
        assert con.execute(QUERY).fetchone()[0] == "2024-01-01 10:00:00+00"


def test_binary_timestamptz_is_the_same_instant(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn(), connect_timeout=10) as con:
        con.execute("SET TimeZone = 'America/New_York'")
        t, naive, _ = con.cursor(binary=True).execute(QUERY).fetchone()
        assert t == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
        assert t.utcoffset() == timedelta(hours=-5)
        assert naive == datetime(2024, 1, 1, 10, 0)


def test_the_startup_parameter_sets_the_zone(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGTZ", "Europe/Paris")  # libpq sends it as the timezone parameter
    with psycopg.connect(endpoint.dsn(), connect_timeout=10) as con:
        assert con.info.parameter_status("TimeZone") == "Europe/Paris"
        raw_text(con)
        assert con.execute(QUERY).fetchone()[0] == "2024-01-01 11:00:00+01"


def test_an_unknown_zone_is_22023(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(endpoint.dsn(), connect_timeout=10) as con:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="Mars/Olympus"):
            con.execute("SET TimeZone = 'Mars/Olympus'")
        con.rollback()
        assert con.execute("show timezone").fetchone() == ("UTC",)  # unchanged
    monkeypatch.setenv("PGTZ", "../../etc/passwd")
    with pytest.raises(psycopg.OperationalError, match="TimeZone"):
        psycopg.connect(endpoint.dsn(), connect_timeout=10)
