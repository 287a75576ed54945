"""`LiveProject`: the project a server answers from follows its files. medallion.yml (where
`access:` is) is looked at before every request, whatever its modification time says; model
files at most every MODELS_EVERY seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import write_project

from medallion.errors import ProjectUnavailableError
from medallion.project import Project
from medallion.serve import live as live_module
from medallion.serve.live import LiveProject

CONFIG = "name: shop\nsources:\n  orders:\n    path: data/orders.csv\n"


def project(tmp_path: Path) -> Project:
    root = write_project(
        tmp_path / "shop",
        CONFIG,
        {"silver/orders.sql": "select * from bronze.orders"},
        {"data/orders.csv": "id\n1\n"},
    )
    return Project.load(root)


def test_an_edit_that_puts_back_an_older_time_is_still_seen(tmp_path: Path) -> None:
    p = project(tmp_path)
    live = LiveProject(p)
    assert live.current() is p
    yml = p.root / "medallion.yml"
    before = yml.stat()
    # as `cp -p` or an archive restore would: new content, the old modification time
    yml.write_text(CONFIG + "access:\n  grants:\n    analysts: [silver.orders]\n")
    os.utime(yml, ns=(before.st_atime_ns, before.st_mtime_ns))
    now = live.current()
    assert now is not p
    assert now.config.access.grants == {"analysts": ["silver.orders"]}
    assert live.generation == 1
    assert live.current() is now  # nothing changed since: the same project, not loaded again


def test_a_broken_edit_fails_closed_and_a_fix_serves_again(tmp_path: Path) -> None:
    p = project(tmp_path)
    live = LiveProject(p)
    yml = p.root / "medallion.yml"
    yml.write_text(CONFIG + "access:\n  grants: [oops\n")
    for _ in range(2):  # every request, not only the first after the edit
        with pytest.raises(ProjectUnavailableError, match=r"medallion\.yml:\d+") as e:
            live.current()
        assert "refuses every request" in e.value.message
    yml.write_text(CONFIG)
    assert live.current().config.name == "shop"


def test_a_new_model_is_known_after_the_next_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "MODELS_EVERY", 0.0)
    p = project(tmp_path)
    live = LiveProject(p)
    assert set(live.current().workspace.models) == {"silver.orders"}
    (p.root / "models" / "silver" / "ids.sql").write_text("select id from silver.orders\n")
    assert set(live.current().workspace.models) == {"silver.orders", "silver.ids"}


def test_medallion_yml_moved_away_fails_closed_not_a_parent_project(tmp_path: Path) -> None:
    """A checkout or a save by rename can leave the folder without medallion.yml for a
    moment: the server refuses, it never answers from a parent folder's project."""
    (tmp_path / "medallion.yml").write_text("name: outer\n")  # a project above this one
    p = project(tmp_path)
    live = LiveProject(p)
    yml = p.root / "medallion.yml"
    yml.rename(p.root / "medallion.yml.bak")
    with pytest.raises(ProjectUnavailableError, match=r"medallion\.yml not found"):
        live.current()
    (p.root / "medallion.yml.bak").rename(yml)
    os.utime(yml)
    assert live.current().config.name == "shop"


def test_an_unreadable_medallion_yml_fails_closed(tmp_path: Path) -> None:
    """An edit that stops the file being read (here: a folder where the file was; for another
    user, permissions) is refused like a broken one, never served from the old policy."""
    p = project(tmp_path)
    live = LiveProject(p)
    yml = p.root / "medallion.yml"
    yml.rename(p.root / "kept.yml")
    yml.mkdir()
    for _ in range(2):
        with pytest.raises(ProjectUnavailableError, match=r"no longer load.*medallion\.yml"):
            live.current()
