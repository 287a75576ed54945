"""PostgreSQL sources when things go wrong, against real servers: wrong passwords, missing
tables, a server that restarts during a run, one that stays down, one killed mid-extract.

Whatever happens, a failed run commits nothing, the watermark stays put, the password never
appears in what medallion records, and the next good run loads each row exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medallion.devservers.pgserver import PgServer
from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.postgres

Helper = Callable[..., Any]  # a helper of conftest.py (or below), passed as a fixture

PASSWORD = "Sup3rSecretPw"


@pytest.fixture
def fill(sql: Helper) -> Helper:
    def fill(dsn: str, first: int, last: int, width: int = 1) -> None:
        """Rows first..last of `events`, updated_at = 2024-01-01 + id seconds; payload is
        `width` times a 32-character md5."""
        sql(
            dsn,
            "CREATE TABLE IF NOT EXISTS events (id integer PRIMARY KEY, payload text, "
            "amount numeric(12,2), updated_at timestamp)",
            f"INSERT INTO events SELECT g, repeat(md5(g::text), {width}), (g % 1000) / 4.0, "
            f"timestamp '2024-01-01' + g * interval '1 second' "
            f"FROM generate_series({first}, {last}) g",
        )

    return fill


def make(root: Path, dsn: str, table: str = "public.events", **extra: object) -> Project:
    options = {"retries": 0, "retry_backoff": 0.1, **extra}
    lines = "".join(f"    {k}: {v}\n" for k, v in options.items())
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(
        f"name: p\nsources:\n  events:\n    type: postgres\n    dsn: {dsn}\n"
        f"    table: {table}\n    cursor: updated_at\n{lines}",
        encoding="utf-8",
    )
    return Project.load(root)


def bronze_version(project: Project) -> int | None:
    path = project.catalog.path("bronze.events")
    return tables.open_table(path).version() if tables.is_delta_table(path) else None


def watermark(project: Project) -> str:
    return tables.history(project.catalog.path("bronze.events"))[0]["medallion.watermark"]


def counts(project: Project) -> tuple[int, int, int, int]:
    """(rows, distinct ids, min id, max id) of bronze.events."""
    row = project.query(
        "select count(*), count(distinct id), min(id), max(id) from bronze.events"
    ).to_pylist()[0]
    return tuple(row.values())  # type: ignore[return-value]


def private_server(make_pg: Callable[..., PgServer]) -> tuple[PgServer, str]:
    server = make_pg()
    server.create_database("src")
    return server, server.dsn("src")


def after(seconds: float, action: Callable[[], Any]) -> threading.Thread:
    def later() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    return thread


def test_wrong_password_fails_at_once_without_the_password(
    tmp_path: Path, pg_db: str, fill: Helper
) -> None:
    fill(pg_db, 1, 3)
    dsn = pg_db.replace(":secret@", f":{PASSWORD}@")
    project = make(tmp_path / "p", dsn, retries=5, retry_backoff=2)
    started = time.monotonic()
    result = project.run()
    assert time.monotonic() - started < 5
    assert result.status == "failed"
    error = result.step("bronze.events").error or ""
    assert "authentication failed" in error
    assert PASSWORD not in error
    assert PASSWORD not in (result.error or "")
    assert bronze_version(project) is None
    runs = project.runs(1)
    assert runs[0]["status"] == "failed"
    recorded = repr(runs) + repr(project.steps(result.run_id))
    assert "authentication failed" in recorded
    assert PASSWORD not in recorded
    for path in project.state_dir.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_missing_table_fails_at_once_naming_it(tmp_path: Path, pg_db: str, fill: Helper) -> None:
    fill(pg_db, 1, 3)
    project = make(tmp_path / "p", pg_db, table="public.no_such_table", retries=5, retry_backoff=2)
    started = time.monotonic()
    result = project.run()
    assert time.monotonic() - started < 5
    assert result.status == "failed"
    error = result.step("bronze.events").error or ""
    assert "no_such_table" in error
    assert "does not exist" in error
    assert ":secret@" not in error
    assert bronze_version(project) is None
    state = b"".join(p.read_bytes() for p in project.state_dir.rglob("*") if p.is_file())
    assert b":secret@" not in state


def test_server_restarting_during_the_run_is_retried(
    tmp_path: Path, make_pg: Callable[..., PgServer], fill: Helper, sql: Helper
) -> None:
    server, dsn = private_server(make_pg)
    fill(dsn, 1, 100)
    project = make(tmp_path / "p", dsn, retries=3, retry_backoff=0.5)
    assert project.run().ok
    sql(dsn, "UPDATE events SET payload = 'changed', updated_at = '2024-02-01' WHERE id = 7")
    fill(dsn, 101, 150)
    server.kill()
    restarter = after(1.0, server.restart)
    result = project.run()
    restarter.join()
    assert result.ok, result.error
    assert result.step("bronze.events").rows_written == 51
    assert counts(project) == (151, 150, 1, 150)
    assert project.query("select count(*) from bronze.events where id = 7").to_pylist() == [
        {"count_star()": 2}
    ]
    assert watermark(project) == "2024-02-01T00:00:00"


def test_server_down_for_good_commits_nothing_then_catches_up(
    tmp_path: Path, make_pg: Callable[..., PgServer], fill: Helper
) -> None:
    server, dsn = private_server(make_pg)
    fill(dsn, 1, 100)
    project = make(tmp_path / "p", dsn, retries=2, retry_backoff=0.2)
    assert project.run().ok
    fill(dsn, 101, 130)
    version, mark = bronze_version(project), watermark(project)
    assert mark == "2024-01-01T00:01:40"
    server.kill()
    started = time.monotonic()
    failed = project.run()
    assert failed.status == "failed"
    assert time.monotonic() - started >= 0.6  # waited 0.2 + 0.4 s between its three attempts
    error = failed.step("bronze.events").error or ""
    assert "after 2 retries" in error
    assert server.password not in error.replace("medallion:***", "")
    assert bronze_version(project) == version
    assert watermark(project) == mark
    server.restart()
    again = project.run()
    assert again.ok, again.error
    assert again.step("bronze.events").rows_written == 30
    assert counts(project) == (130, 130, 1, 130)
    assert watermark(project) == "2024-01-01T00:02:10"


def test_server_killed_mid_extract(
    tmp_path: Path, make_pg: Callable[..., PgServer], monkeypatch: pytest.MonkeyPatch, fill: Helper
) -> None:
    server, dsn = private_server(make_pg)
    fill(dsn, 1, 300_000, width=10)  # ~110 MB of CSV
    project = make(tmp_path / "p", dsn, batch_size=1000)  # read in 1 MB blocks
    # The server dies (every process at once) when the first batch reaches the bronze writer
    # (DuckDB, adding the audit columns, has read 128k rows by then): the COPY is mid-stream,
    # most of its rows not sent yet. (Watching pg_stat_activity from a thread instead raced the
    # extract: on a busy machine it could finish first.)
    import medallion.faults

    killed: list[bool] = []

    def kill_server_once(name: str) -> None:
        if name == "mid-write:bronze.events" and not killed:
            killed.append(True)
            server.kill()

    monkeypatch.setattr(medallion.faults, "fault_point", kill_server_once)
    failed = project.run()
    assert killed
    assert failed.status == "failed"
    # the pump's error (the connection's), not a CSV parse error of the cut stream
    assert "server closed the connection" in (failed.step("bronze.events").error or "")
    assert bronze_version(project) is None
    monkeypatch.undo()
    server.restart()
    first = project.run()
    assert first.ok, first.error
    assert first.step("bronze.events").rows_written == 300_000
    fill(dsn, 300_001, 300_010)
    second = project.run()
    assert second.step("bronze.events").rows_written == 10
    assert counts(project) == (300_010, 300_010, 1, 300_010)
    # 2024-01-01 + 300010 s = 2024-01-04 11:20:10
    assert watermark(project) == "2024-01-04T11:20:10"


def test_server_killed_mid_extract_is_retried(
    tmp_path: Path, make_pg: Callable[..., PgServer], monkeypatch: pytest.MonkeyPatch, fill: Helper
) -> None:
    """The connection lost mid-stream is a transient failure like a refused one: with retries
    left, the run waits for the restarted server and lands every row once."""
    server, dsn = private_server(make_pg)
    fill(dsn, 1, 300_000, width=10)
    project = make(tmp_path / "p", dsn, batch_size=1000, retries=4, retry_backoff=0.5)
    import medallion.faults

    killed: list[bool] = []

    def kill_server_once(name: str) -> None:
        if name == "mid-write:bronze.events" and not killed:
            killed.append(True)
            server.kill()
            after(0.5, server.restart)

    monkeypatch.setattr(medallion.faults, "fault_point", kill_server_once)
    result = project.run()
    assert killed
    assert result.ok, result.error
    assert result.step("bronze.events").rows_written == 300_000
    assert counts(project) == (300_000, 300_000, 1, 300_000)
    assert bronze_version(project) == 0


def test_process_killed_mid_write_then_rerun(tmp_path: Path, pg_db: str, fill: Helper) -> None:
    fill(pg_db, 1, 2000)
    project = make(tmp_path / "p", pg_db, batch_size=1000)
    assert project.run().ok
    fill(pg_db, 2001, 5000)
    env = {**os.environ, "MEDALLION_FAULT": "mid-write:bronze.events"}
    killed = subprocess.run(
        [sys.executable, "-m", "medallion", "-p", str(project.root), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    assert bronze_version(project) == 0
    assert watermark(project) == "2024-01-01T00:33:20"
    again = Project.load(project.root).run()
    assert again.ok, again.error
    assert again.step("bronze.events").rows_written == 3000
    assert counts(project) == (5000, 5000, 1, 5000)
    assert watermark(project) == "2024-01-01T01:23:20"
