"""One lakehouse on a store, two project folders (two machines): the second rebuilds its state
from the Delta logs and continues without a duplicate, and their runs are serialized by the
lock object on the store (held with a lease; a crashed holder's lock is taken over)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import medallion, write_project
from tests.objectstore.conftest import Store, on_store

from medallion.project import Project
from medallion.storage.storelock import LOCK_KEY

pytestmark = pytest.mark.objectstore

CONFIG = """
name: shared
storage: ./lakehouse
sources:
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, amount: INTEGER}
"""
MODELS = {
    "silver/s.sql": "/* ---\nkind: merge\nunique_key: id\n--- */\n"
    "select id, amount from bronze.sales\n",
    "gold/g.sql": "select count(*) as n, sum(amount) as total from silver.s\n",
}


def make(root: Path, store: Store) -> Path:
    write_project(root, CONFIG, MODELS, {"data/sales1.csv": "id,amount\n1,10\n2,20\n"})
    on_store(root, store)
    return root


def rows(project: Path, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in Project.load(project).query(sql).to_pylist()]


def test_a_second_folder_rebuilds_its_state_from_the_delta_log(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.secret_var, store.secret)
    first = make(tmp_path / "first", store)
    medallion("run", cwd=first, env=store.env(), check=True)
    # another machine: the same medallion.yml and models, no state database
    second = Path(
        shutil.copytree(first, tmp_path / "second", ignore=shutil.ignore_patterns(".medallion"))
    )
    assert not (second / ".medallion").exists()
    (second / "data" / "sales2.csv").write_text("id,amount\n3,30\n2,25\n", encoding="utf-8")
    store.upload(second / "data", "landing")
    for _ in range(2):  # twice: the second run finds nothing new
        medallion("run", cwd=second, env=store.env(), check=True)
    assert sorted(rows(second, "select id, amount from bronze.sales")) == [
        (1, 10),
        (2, 20),
        (2, 25),
        (3, 30),
    ]
    assert rows(second, "select n, total from gold.g") == [(3, 65)]
    # and back on the first machine: its cache catches up with the log, nothing re-read
    out = medallion("run", cwd=first, env=store.env(), check=True).stdout
    assert "0 rows written" in out
    assert rows(first, "select count(*) from bronze.sales") == [(4,)]


def _lock_holder(store: Store) -> dict:
    with store.fs.open_input_stream(f"{store.bucket}/lake/{LOCK_KEY}") as f:
        return json.loads(f.read())


def test_two_folders_runs_are_serialized_and_a_dead_holder_is_taken_over(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.secret_var, store.secret)
    first = make(tmp_path / "first", store)
    second = Path(shutil.copytree(first, tmp_path / "second"))
    env = {**store.env(), "MEDALLION_FAULT": "mid-write:silver.s@pause"}
    holder = subprocess.Popen(
        [sys.executable, "-m", "medallion", "run"],
        cwd=first,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stderr is not None
        seen = []
        while not seen or "paused at mid-write:silver.s" not in seen[-1]:
            seen.append(holder.stderr.readline())
            assert seen[-1], "".join(seen)  # the run ended without reaching the point
        lock = _lock_holder(store)
        assert (lock["pid"], lock["host"]) == (holder.pid, socket.gethostname())
        refused = medallion("run", cwd=second, env=store.env())
        assert refused.returncode == 75, refused.stdout + refused.stderr
        said = refused.stdout + refused.stderr
        assert f"pid {holder.pid} on {socket.gethostname()}" in said
        assert "another medallion writer is running on the lakehouse" in said
        os.kill(holder.pid, signal.SIGKILL)  # a crash: the lock object stays behind
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
    # the holder's process is gone (same host): the next writer takes over at once
    medallion("run", cwd=second, env=store.env(), check=True)
    assert rows(second, "select n, total from gold.g") == [(2, 30)]
    # released at the end of the run: left expired (a delete could remove a newer holder's)
    assert float(_lock_holder(store)["expires_at"]) == 0


def test_a_lock_of_another_machine_is_respected_until_its_lease_expires(
    az_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = az_store
    monkeypatch.setenv(store.secret_var, store.secret)
    project = make(tmp_path / "p", store)
    key = f"{store.bucket}/lake/{LOCK_KEY}"

    def plant(expires_in: float) -> None:
        body = {
            "host": "build-agent-7",
            "pid": 4242,
            "command": "medallion run",
            "started_at": "2026-01-01T00:00:00+00:00",
            "expires_at": time.time() + expires_in,
            "token": "theirs",
        }
        with store.fs.open_output_stream(key) as f:
            f.write(json.dumps(body).encode())

    plant(300)
    refused = medallion("run", cwd=project, env=store.env())
    assert refused.returncode == 75
    assert "pid 4242 on build-agent-7 (medallion run)" in refused.stdout + refused.stderr
    plant(-1)  # its lease ran out: that machine crashed or lost the network
    medallion("run", cwd=project, env=store.env(), check=True)
    assert rows(project, "select n from gold.g") == [(2,)]


def test_a_holder_whose_lock_was_taken_over_is_told_so(
    s3_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder paused past its lease (another machine took over) learns it at release."""
    from medallion.errors import LockError
    from medallion.storage.location import locate
    from medallion.storage.storelock import StoreLock

    store = s3_store
    root = locate(store.url("lake"), tmp_path, store.server.storage_options(), {})
    lock = StoreLock(root, "medallion run", lease=1.5).acquire()
    assert _lock_holder(store)["token"] == lock.token
    # another writer replaces the object (as after an expired lease)
    with store.fs.open_output_stream(f"{store.bucket}/lake/{LOCK_KEY}") as f:
        f.write(json.dumps({"host": "other", "pid": 7, "token": "theirs"}).encode())
    time.sleep(1.5)  # a renewal (every lease / 3) finds the object changed
    with pytest.raises(LockError, match=r"lost the writer lock .* to pid 7 on other"):
        lock.release()
    assert _lock_holder(store)["token"] == "theirs"  # theirs is left alone


def test_a_holder_that_could_not_renew_stops_before_its_next_commit(
    s3_store: Store, tmp_path: Path
) -> None:
    """Past two thirds of its lease without a renewal (paused, cut off from the store) a holder
    may have been taken over: a commit to the lakehouse is refused before it is made. Released,
    the lock object is left expired, only if still ours, and the next writer takes it at once."""
    from medallion.errors import LockError
    from medallion.storage.location import locate
    from medallion.storage.storelock import StoreLock, ensure_held_for

    store = s3_store
    root = locate(store.url("lake"), tmp_path, store.server.storage_options(), {})
    lock = StoreLock(root, "medallion run", lease=30).acquire()
    table = locate(store.url("lake/silver/t"), tmp_path, store.server.storage_options(), {})
    ensure_held_for(table)  # held: nothing said
    lock.renewed -= 25  # no renewal for 25 s of a 30 s lease
    with pytest.raises(LockError, match="stopped before its next commit"):
        ensure_held_for(table)
    lock.lost = None
    lock.renewed = time.monotonic()
    lock.release()
    assert float(_lock_holder(store)["expires_at"]) == 0
    second = StoreLock(root, "medallion run", lease=30).acquire(wait=0)
    try:
        assert second.took_over is not None and second.took_over["token"] == lock.token
    finally:
        second.release()


def test_a_source_path_naming_one_object(
    s3_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`path: s3://bucket/landing/sales.csv` (no glob) finds that object: a store lists the keys
    under a prefix as a folder, so the object's own key lists nothing."""
    monkeypatch.setenv(s3_store.secret_var, s3_store.secret)
    root = write_project(
        tmp_path / "one",
        CONFIG.replace("data/sales*.csv", "data/sales.csv"),
        MODELS,
        {"data/sales.csv": "id,amount\n1,10\n2,20\n"},
    )
    on_store(root, s3_store)
    medallion("run", cwd=root, check=True)
    assert rows(root, "select n, total from gold.g") == [(2, 30)]
