"""`medallion pipelines list/history` show times in each pipeline's zone (an `after:` pipeline
in its upstream's), and as ISO UTC in --json."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

CONFIG = """
name: clocks
sources:
  orders: {path: data/orders*.csv}
pipelines:
  nightly:
    select: [layer:bronze]
    schedule: "36 20 * * *"
    timezone: Europe/Paris
  follower: {select: [layer:bronze], after: [nightly]}
  utc_daily: {select: [layer:bronze], schedule: "@daily"}
"""


@pytest.fixture(scope="module")
def clocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(
        tmp_path_factory.mktemp("clocks") / "clocks", CONFIG, {}, {"data/orders1.csv": "id\n1\n"}
    )
    medallion("pipelines", "run", "nightly", cwd=root, check=True)
    return root


def wide() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "300"}


def rows_of(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.strip()}


def test_list_shows_each_pipeline_in_its_zone_and_a_follower_in_its_upstreams(
    clocks: Path,
) -> None:
    out = medallion("pipelines", "list", cwd=clocks, env=wide(), check=True).stdout
    rows = rows_of(out)
    assert "Europe/Paris (CE" in rows["nightly"]  # CET or CEST, as the date has it
    assert rows["follower"].count("Europe/Paris (CE") == 1  # its last tick
    assert " UTC" in rows["utc_daily"] and "(UTC)" not in rows["utc_daily"]  # the zone once
    assert "+00:00" not in out


def test_history_shows_ticks_as_list_does(clocks: Path) -> None:
    out = medallion("pipelines", "history", cwd=clocks, env=wide(), check=True).stdout
    rows = rows_of(out)
    assert "Europe/Paris (CE" in rows["nightly"]
    assert "Europe/Paris (CE" in rows["follower"]
    assert "+00:00" not in out and "T" not in rows["nightly"].split()[1]


def test_json_times_are_iso_utc(clocks: Path) -> None:
    listed = json.loads(medallion("pipelines", "list", "--json", cwd=clocks, check=True).stdout)
    by_name = {r["pipeline"]: r for r in listed}
    assert by_name["nightly"]["next_tick"].endswith(":36:00.000000+00:00")
    assert by_name["follower"]["last_tick"].endswith("+00:00")
    ticks = json.loads(medallion("pipelines", "history", "--json", cwd=clocks, check=True).stdout)
    assert {t["pipeline"] for t in ticks} == {"nightly", "follower"}
    assert all(t["scheduled_for"].endswith("+00:00") for t in ticks)
    assert by_name["follower"]["last_tick"] in {t["scheduled_for"] for t in ticks}


def test_a_seconds_schedule_shows_seconds_on_every_time_and_utc_once(tmp_path: Path) -> None:
    config = """
name: secs
sources:
  orders: {path: data/orders*.csv}
pipelines:
  hourly: {select: [layer:bronze], schedule: "0 * * * * 0"}
"""
    root = write_project(tmp_path / "secs", config, {}, {"data/orders1.csv": "id\n1\n"})
    out = medallion("pipelines", "list", cwd=root, env=wide(), check=True).stdout
    row = rows_of(out)["hourly"]
    # its ticks are on the hour, second 0: shown as HH:00:00, not HH:00 (a seconds schedule)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:00:00 UTC", row), row
    assert "(UTC)" not in out
