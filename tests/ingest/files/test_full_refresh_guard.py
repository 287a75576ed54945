"""`--full-refresh SOURCE` rebuilds bronze from the files in the landing folder. When files bronze
holds rows of are gone from it (a rotated folder: last month's files moved away), that would
delete their rows while the run exits 0 — seen: 1,009 rows became 4. It is refused, naming the
missing files, unless `allow_missing_files` (`--allow-missing-files`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import medallion
from medallion.project import Project

MakeProject = Callable[..., Project]
Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture

CONFIG = """
name: t
sources:
  s:
    path: landing/*.csv
    columns: {id: BIGINT}
    max_rejected: 100%
"""
MODELS = {"silver/daily.sql": "select _source_file, count(*) as n from bronze.s group by 1"}


def day_file(day: int, rows: int) -> str:
    return "id,day\n" + "".join(f"{day * 1000 + i},{day}\n" for i in range(rows))


def rotated(make_project: MakeProject, run_ok: Helper) -> Project:
    """Eight daily files ingested (plus a rejected row), then the first seven moved away and a
    new day's file landed."""
    files = {f"landing/day{d}.csv": day_file(d, 126) for d in range(1, 9)}
    files["landing/day1.csv"] += "oops,1\n"
    p = make_project(CONFIG, MODELS, files)
    run_ok(p)
    assert p.row_count("bronze.s") == 1008
    for d in range(1, 8):
        os.replace(p.root / f"landing/day{d}.csv", p.root / f"day{d}.csv.archived")
    (p.root / "landing/day9.csv").write_text(day_file(9, 4), encoding="utf-8")
    return p


def test_a_refresh_that_would_drop_missing_files_rows_is_refused(
    make_project: MakeProject, run_ok: Helper, versions: Helper
) -> None:
    p = rotated(make_project, run_ok)
    before = versions(p)
    result = p.run(full_refresh=["s"])
    step = result.step("bronze.s")
    assert (result.status, step.status) == ("failed", "failed")
    assert [s.status for s in result.steps] == ["failed", "skipped"]
    error = step.error or ""
    assert (
        "a full refresh would rebuild bronze.s from the 2 files in the landing folder, but 7 of "
        "the 8 files it holds rows of are no longer there (landing/day1.csv, landing/day2.csv, "
        "landing/day3.csv, landing/day4.csv, landing/day5.csv and 2 more): their rows would be "
        "deleted. Nothing was changed"
    ) in error
    assert "--allow-missing-files" in error
    # nothing lost: every table at its version, every row still there
    assert versions(p) == before
    assert p.row_count("bronze.s") == 1008
    assert p.row_count("bronze.s__quarantine") == 1
    assert p.row_count("silver.daily") == 8

    # an ordinary run still ingests the new file
    assert run_ok(p).step("bronze.s").rows_written == 4
    assert p.row_count("bronze.s") == 1012


def test_allow_missing_files_rebuilds_from_the_files_there_are(
    make_project: MakeProject, run_ok: Helper
) -> None:
    p = rotated(make_project, run_ok)
    # the refresh keeps 130 of 1,008 rows: past half of the table, so it is confirmed too
    refresh = run_ok(p, full_refresh=["s"], allow_missing_files=True, yes=True)
    assert refresh.step("bronze.s").rows_written == 130
    assert p.row_count("bronze.s") == 130
    assert p.query("select count(*) n from bronze.s__quarantine").to_pylist() == [{"n": 0}]
    # and the next refresh has nothing missing: no flag needed
    (p.root / "landing/day9.csv").write_text(day_file(9, 5), encoding="utf-8")
    assert run_ok(p, full_refresh=True).step("bronze.s").rows_written == 131


def test_a_refresh_with_every_file_present_needs_no_flag(
    make_project: MakeProject, run_ok: Helper
) -> None:
    p = make_project(CONFIG, MODELS, {"landing/a.csv": day_file(1, 3)})
    run_ok(p)
    (p.root / "landing/a.csv").write_text(day_file(1, 5), encoding="utf-8")  # changed in place
    assert run_ok(p, full_refresh=True).step("bronze.s").rows_written == 5
    assert p.row_count("bronze.s") == 5


def test_the_cli_refuses_and_takes_the_flag(make_project: MakeProject, run_ok: Helper) -> None:
    p = rotated(make_project, run_ok)
    # this checkout's package, whatever the environment has installed
    env = {**os.environ, "PYTHONPATH": str(Path(medallion.__file__).parents[1])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "medallion", "run", *args],
            cwd=p.root,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )

    refused = cli("--full-refresh", "s")
    assert refused.returncode == 1
    printed = refused.stdout + refused.stderr  # the failure is in the run's summary (stdout)
    assert "7 of the 8 files it holds rows of are no longer there" in printed
    assert "hint: put the files back" in printed
    assert p.row_count("bronze.s") == 1008

    unconfirmed = cli("--full-refresh", "s", "--allow-missing-files")
    assert unconfirmed.returncode == 1
    assert "would leave 130 of the table's 1,008 rows" in unconfirmed.stdout + unconfirmed.stderr
    assert p.row_count("bronze.s") == 1008
    allowed = cli("--full-refresh", "s", "--allow-missing-files", "--yes")
    assert allowed.returncode == 0, allowed.stderr
    assert p.row_count("bronze.s") == 130
