"""Storage or state folders this user may not write, and a damaged Delta log: one clear message
each — what, where, what to do — never "internal error", a Rust backtrace, or advice to move a
file away for what is a permission problem.

As root, permissions do not apply: the commands then run without the capabilities that bypass
them (setpriv), as the owner of files that deny their owner writing."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CONFIG = "name: p\nsources:\n  sales:\n    path: data/sales*.csv\n"
MODEL = "select id, amount from bronze.sales where amount > 0\n"
#: what no message about these problems may say
NEVER = ("internal error", "Traceback", "start_thread", "<unknown>", "os error", "move it away")


def as_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("as root, these tests need setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def medallion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*as_user(), sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` and everything in it without write permission, for the block."""
    paths = [folder, *folder.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for p in reversed(paths):
            p.chmod(modes[p])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "medallion.yml").write_text(CONFIG)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales1.csv").write_text("id,amount\n1,10\n2,-1\n3,30\n")
    (tmp_path / "models" / "silver").mkdir(parents=True)
    (tmp_path / "models" / "silver" / "s.sql").write_text(MODEL)
    first = medallion("run", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    (tmp_path / "data" / "sales2.csv").write_text("id,amount\n4,40\n")  # new input
    return tmp_path


def versions(root: Path) -> dict[str, int]:
    rows = json.loads(medallion("tables", "--json", cwd=root).stdout)
    return {r["table"]: r["version"] for r in rows}


def clear(proc: subprocess.CompletedProcess[str]) -> str:
    text = proc.stdout + proc.stderr
    for word in NEVER:
        assert word not in text, text
    return text


def test_a_read_only_storage_folder_is_said_once_before_the_run(project: Path) -> None:
    before = versions(project)
    with read_only(project / "lakehouse"):
        proc = medallion("run", cwd=project)
        assert proc.returncode == 1
        assert proc.stderr.splitlines()[0] == (
            "error: cannot write the lakehouse: lakehouse is not writable for this user "
            "(permission denied)"
        )
        assert "set `storage:` in medallion.yml" in proc.stderr
        clear(proc)
        # reading still works
        query = medallion("query", "select count(*) as n from silver.s", "-f", "json", cwd=project)
        assert json.loads(query.stdout) == [{"n": 2}]
    assert versions(project) == before


def test_a_read_only_table_fails_its_step_with_the_reason(project: Path) -> None:
    before = versions(project)
    with read_only(project / "lakehouse" / "bronze" / "sales"):
        proc = medallion("run", cwd=project)
    assert proc.returncode == 1
    text = clear(proc)
    assert (
        "cannot write table bronze.sales: lakehouse/bronze/sales is not writable for this user "
        "(permission denied)"
    ) in text
    assert versions(project) == before


def test_a_read_only_state_folder_is_one_message_and_status_still_reads(project: Path) -> None:
    with read_only(project / ".medallion"):
        for command in (["run"], ["test"]):
            proc = medallion(*command, cwd=project)
            assert proc.returncode == 1, command
            text = clear(proc)
            assert "cannot write the state folder (run log, checkpoints, writer lock): " in text
            assert ".medallion is not writable for this user" in text
            assert "set `state:` in medallion.yml" in text
        status = medallion("status", "--json", cwd=project)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["run"]["status"] == "success"


def test_a_damaged_delta_log_names_the_commit_and_the_way_back(project: Path) -> None:
    log = project / "lakehouse" / "silver" / "s" / "_delta_log"
    assert medallion("run", cwd=project).returncode == 0  # silver.s: v0 and v1
    last = log / "00000000000000000001.json"
    last.write_text(last.read_text()[:40])  # a commit cut short
    proc = medallion("run", cwd=project)
    assert proc.returncode == 1
    text = clear(proc)
    assert (
        "lakehouse/silver/s/_delta_log/00000000000000000001.json:1: the Delta log of table "
        "silver.s is damaged: this commit cannot be read"
    ) in text
    assert "move 00000000000000000001.json out of lakehouse/silver/s/_delta_log" in text
    listed = medallion("tables", cwd=project)
    assert "unreadable" in listed.stdout and "silver.s" in listed.stderr
    clear(medallion("query", "select * from silver.s", cwd=project))

    # the way back it gives: the table returns to v0, the next run redoes what v1 held
    last.rename(project / "cut.json")
    assert medallion("run", cwd=project).returncode == 0
    query = medallion("query", "select id from silver.s order by id", "-f", "json", cwd=project)
    assert json.loads(query.stdout) == [{"id": 1}, {"id": 3}, {"id": 4}]
