"""A rebuild of an scd2 model makes one version per key from what its inputs hold now, so the
closed versions (its history) are only in the table. A rebuild that would drop some fails before
writing unless the run is confirmed (`--yes`); `plan` says how many beforehand.

The source is `on_rewrite: replace`, as `init --from` makes a reference export: bronze holds only
the latest file, each rewrite of it closes a version of the changed key.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
from tests.conftest import medallion, table_versions, write_project

from medallion.project import Project

CONFIG = """
name: h
sources:
  clients:
    path: data/clients.csv
    columns: {client_id: VARCHAR, city: VARCHAR, since: DATE}
    on_rewrite: replace
"""
HISTORY = {
    "silver/clients_history.sql": """\
        /* ---
        kind: scd2
        unique_key: client_id
        --- */
        select client_id, city from bronze.clients
        """
}
CLIENTS = "client_id,city,since\nC1,Lyon,2024-01-01\nC2,Paris,2024-01-01\nC3,Nice,2024-01-01\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return medallion(*args, cwd=cwd, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "250"})


def said(proc: subprocess.CompletedProcess[str]) -> str:
    """What the command printed, as one line (the message wraps at the terminal's width)."""
    return " ".join((proc.stdout + proc.stderr).split())


def rows(root: Path, sql: str) -> list[dict[str, object]]:
    return Project.load(root).query(sql).to_pylist()


def three_drops(root: Path) -> None:
    """The first build, then the export dropped again three times, C1 moving each time: three
    closed versions of C1."""
    assert cli("run", cwd=root).returncode == 0
    for city in ("Dijon", "Metz", "Brest"):
        (root / "data/clients.csv").write_text(CLIENTS.replace("Lyon", city), encoding="utf-8")
        done = cli("run", cwd=root)
        assert done.returncode == 0, done.stderr


def test_a_full_refresh_that_would_drop_scd2_history_needs_yes(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", CONFIG, HISTORY, {"data/clients.csv": CLIENTS})
    three_drops(root)
    count = "select count(*) as n, count(*) filter (where not is_current) as closed"
    assert rows(root, f"{count} from silver.clients_history") == [{"n": 6, "closed": 3}]
    before = table_versions(Project.load(root))["silver.clients_history"]

    plan = cli("plan", "--full-refresh", cwd=root)
    assert plan.returncode == 0, plan.stderr
    assert "would drop 3 closed versions of 1 key" in plan.stdout
    assert "history its inputs no longer hold" in plan.stdout

    for _ in range(2):  # refused again: nothing it did changed what the next try sees
        refused = cli("run", "--full-refresh", cwd=root)
        assert refused.returncode == 1
        assert (
            "not rebuilt (full refresh): it would drop 3 closed versions of 1 key, history its "
            "inputs no longer hold (a rebuild keeps one version per key); nothing was written"
        ) in said(refused)
        assert "run it again with --yes" in said(refused)
        assert table_versions(Project.load(root))["silver.clients_history"] == before
        assert rows(root, f"{count} from silver.clients_history") == [{"n": 6, "closed": 3}]

    confirmed = cli("run", "--full-refresh", "--yes", cwd=root)
    assert confirmed.returncode == 0, confirmed.stderr
    assert rows(
        root, "select client_id, city, is_current from silver.clients_history order by 1"
    ) == [
        {"client_id": "C1", "city": "Brest", "is_current": True},
        {"client_id": "C2", "city": "Paris", "is_current": True},
        {"client_id": "C3", "city": "Nice", "is_current": True},
    ]


def test_a_full_refresh_of_scd2_without_closed_versions_is_not_asked(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", CONFIG, HISTORY, {"data/clients.csv": CLIENTS})
    assert cli("run", cwd=root).returncode == 0
    assert "would drop" not in cli("plan", "--full-refresh", cwd=root).stdout
    for _ in range(2):
        done = cli("run", "--full-refresh", cwd=root)
        assert done.returncode == 0, done.stderr
        assert rows(root, "select count(*) as n from silver.clients_history") == [{"n": 3}]


def test_a_declared_valid_from_counts_only_the_versions_the_rebuild_does_not_make_again(
    tmp_path: Path,
) -> None:
    """valid_from: since. C1 and C2 each move once; then the export is rolled back for C1 (its
    first row again), so a rebuild makes C1's closed version again and drops only C2's."""
    model = {
        "silver/clients_history.sql": """\
            /* ---
            kind: scd2
            unique_key: client_id
            valid_from: since
            --- */
            select client_id, city, since from bronze.clients
            """
    }
    root = write_project(tmp_path / "p", CONFIG, model, {"data/clients.csv": CLIENTS})
    assert cli("run", cwd=root).returncode == 0
    moved = CLIENTS.replace("Lyon,2024-01-01", "Dijon,2024-02-01").replace(
        "Paris,2024-01-01", "Rouen,2024-02-01"
    )
    (root / "data/clients.csv").write_text(moved, encoding="utf-8")
    assert cli("run", cwd=root).returncode == 0
    rolled_back = moved.replace("Dijon,2024-02-01", "Lyon,2024-01-01")
    (root / "data/clients.csv").write_text(rolled_back, encoding="utf-8")
    assert cli("run", "--select", "bronze.clients", cwd=root).returncode == 0
    before = table_versions(Project.load(root))["silver.clients_history"]

    plan = cli("plan", "--full-refresh", "silver.clients_history", cwd=root)
    assert "would drop up to 2 closed versions of 2 keys" in plan.stdout

    refused = cli("run", "--full-refresh", "silver.clients_history", cwd=root)
    assert refused.returncode == 1
    assert "it would drop 1 closed version of 1 key" in " ".join(
        (refused.stdout + refused.stderr).split()
    )
    assert table_versions(Project.load(root))["silver.clients_history"] == before

    assert cli("run", "--full-refresh", "silver.clients_history", "-y", cwd=root).returncode == 0
    assert rows(
        root,
        "select client_id, city, cast(valid_from as date) as vf from silver.clients_history"
        " order by 1",
    ) == [
        {"client_id": "C1", "city": "Lyon", "vf": date(2024, 1, 1)},
        {"client_id": "C2", "city": "Rouen", "vf": date(2024, 2, 1)},
        {"client_id": "C3", "city": "Nice", "vf": date(2024, 1, 1)},
    ]


def test_a_reset_scd2_model_is_asked_about_on_a_terminal_naming_the_history_dropped(
    tmp_path: Path,
) -> None:
    from tests.cli.test_confirm_rebuild import on_terminal

    root = write_project(tmp_path / "p", CONFIG, HISTORY, {"data/clients.csv": CLIENTS})
    three_drops(root)
    before = table_versions(Project.load(root))["silver.clients_history"]
    assert cli("reset", "silver.clients_history", "--yes", cwd=root).returncode == 0

    status, printed = on_terminal(root, "n")
    assert status == 1, printed
    assert (
        "silver.clients_history: rebuild, full refresh: would drop 3 closed versions of 1 key"
        in " ".join(printed.split())
    )
    assert table_versions(Project.load(root))["silver.clients_history"] == before

    status, printed = on_terminal(root, "y")
    assert status == 0, printed
    assert rows(root, "select count(*) as n from silver.clients_history") == [{"n": 3}]


def test_a_terminal_yes_covers_only_the_tables_it_named(tmp_path: Path) -> None:
    """The question names silver.summary (its model changed). silver.clients_history becomes a
    rebuild only during the run: bronze.clients' Delta log was cleaned up past its last build,
    so what is new cannot be told and it would be recomputed from its inputs. The "y" did not
    cover it: its step fails naming the history it would drop, writing nothing."""
    from deltalake import DeltaTable
    from tests.cli.test_confirm_rebuild import on_terminal

    summary = "select count(*) as n from bronze.clients\n"
    models = {**HISTORY, "silver/summary.sql": summary}
    root = write_project(tmp_path / "p", CONFIG, models, {"data/clients.csv": CLIENTS})
    three_drops(root)
    # two more exports reach bronze only; then its log is cleaned up (another tool's checkpoint
    # and log retention): the commits since the history's last build are gone
    for city in ("Rouen", "Caen"):
        (root / "data/clients.csv").write_text(CLIENTS.replace("Paris", city), encoding="utf-8")
        assert cli("run", "--select", "bronze.clients", cwd=root).returncode == 0
    bronze = DeltaTable(str(root / "lakehouse/bronze/clients"))
    bronze.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    bronze.create_checkpoint()
    bronze.cleanup_metadata()
    (root / "models/silver/summary.sql").write_text(summary.replace("count(*)", "count(city)"))
    before = table_versions(Project.load(root))["silver.clients_history"]

    status, printed = on_terminal(root, "y")
    said_ = " ".join(printed.split())
    assert "silver.summary: rebuild, model changed" in said_
    assert "silver.clients_history: rebuild" not in said_
    assert status == 1, printed
    assert (
        "not rebuilt (the Delta log no longer tells what is new): it would drop 3 closed "
        "versions of 1 key"
    ) in said_, printed
    assert table_versions(Project.load(root))["silver.clients_history"] == before
    count = "select count(*) as n, count(*) filter (where not is_current) as closed"
    assert rows(root, f"{count} from silver.clients_history") == [{"n": 6, "closed": 3}]
    assert rows(root, "select n from silver.summary") == [{"n": 3}]

    confirmed = cli("run", "--yes", cwd=root)  # all of it confirmed: rebuilt
    assert confirmed.returncode == 0, confirmed.stderr
    assert rows(root, f"{count} from silver.clients_history") == [{"n": 3, "closed": 0}]


def test_the_guard_and_the_rebuild_compute_the_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unconfirmed full refresh with a declared valid_from: the guard needs the rebuild's
    (key, valid_from) and the rebuild writes the same rows, computed once for both (a model
    computed twice costs twice, and a model that is not deterministic could be judged on other
    rows than those written). Counted by a sequence the model draws a number from per row."""
    from medallion.workspace import Workspace

    new_engine = Workspace.new_engine

    def with_a_sequence(self: Workspace) -> object:
        engine = new_engine(self)
        engine.native().execute("create sequence tick")
        return engine

    monkeypatch.setattr(Workspace, "new_engine", with_a_sequence)
    model = {
        "silver/clients_history.sql": """\
            /* ---
            kind: scd2
            unique_key: client_id
            valid_from: since
            track: [city]
            --- */
            select client_id, city, since, nextval('tick') as tick from bronze.clients
            """
    }
    root = write_project(tmp_path / "p", CONFIG, model, {"data/clients.csv": CLIENTS})
    assert Project.load(root).run(trigger="test").ok
    moved = CLIENTS.replace("Lyon,2024-01-01", "Dijon,2024-02-01")
    (root / "data/clients.csv").write_text(moved, encoding="utf-8")
    assert Project.load(root).run(trigger="test").ok
    # the export rolled back: a rebuild makes C1's closed version again, dropping nothing
    (root / "data/clients.csv").write_text(CLIENTS, encoding="utf-8")
    assert Project.load(root).run(["bronze.clients"], trigger="test").ok

    done = Project.load(root).run(["silver.clients_history"], full_refresh=True, trigger="test")
    assert done.ok, [s.error for s in done.steps]
    # the run's engine drew 1, 2, 3: the rows written are those of the first computation
    assert rows(root, "select tick from silver.clients_history order by tick") == [
        {"tick": 1},
        {"tick": 2},
        {"tick": 3},
    ]
