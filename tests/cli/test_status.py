"""`medallion status` shows the last run that built the tables and the last `medallion test`
apart: a test run used to become "the last run", hiding the run's steps, rows and errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import medallion as run_cli


def medallion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    return proc


def test_status_shows_the_last_run_and_the_last_test_apart(tmp_path: Path) -> None:
    medallion("init", "shop", "-t", "retail", "--rows", "200", cwd=tmp_path)
    shop = tmp_path / "shop"
    built = json.loads(medallion("run", "--json", cwd=shop).stdout)
    tested = json.loads(medallion("test", "--json", cwd=shop).stdout)
    assert built["run_id"] != tested["run_id"]

    data = json.loads(medallion("status", "--json", cwd=shop).stdout)
    assert data["run"]["run_id"] == built["run_id"]
    assert len(data["steps"]) == 15 and data["steps"][0]["step"] == "ingest"
    assert data["test"]["run"]["run_id"] == tested["run_id"]
    assert {c["table_name"] for c in data["test"]["checks"]} >= {"silver.dim_customers"}

    text = medallion("status", cwd=shop).stdout
    assert f"last run {built['run_id']} success" in text
    assert f"last test {tested['run_id']} success" in text
    assert text.index("bronze.orders") < text.index("last test")  # the run's steps shown

    # a later run is the last run again; the test keeps its place, said to be older
    again = json.loads(medallion("run", "--json", cwd=shop).stdout)
    text = medallion("status", cwd=shop).stdout
    assert f"last run {again['run_id']}" in text
    assert f"last test {tested['run_id']} success" in text and "(before the last run)" in text
