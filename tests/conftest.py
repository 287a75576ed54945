"""Shared fixtures: small projects written into tmp_path, the retail template, table versions.

Everything runs for real: DuckDB, Delta tables on disk, the SQLite state database. No mocks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from medallion.project import Project


def write_project(
    root: Path,
    config: str,
    models: dict[str, str] | None = None,
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """Write medallion.yml (dedented), model files (`layer/name.sql` -> text, dedented) and data
    files (relative path -> text or bytes, written as given) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(textwrap.dedent(config).lstrip(), encoding="utf-8")
    for rel, text in (models or {}).items():
        path = root / "models" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """make_project(config, models=..., files=..., name="p") -> a loaded Project in tmp_path."""

    def make(
        config: str,
        models: dict[str, str] | None = None,
        files: dict[str, str | bytes] | None = None,
        name: str = "p",
    ) -> Project:
        root = write_project(tmp_path / name, config, models, files)
        return Project.load(root)

    return make


def table_versions(project: Project) -> dict[str, int]:
    """Current Delta version of every table in storage (to assert a failure changed nothing)."""
    from medallion.storage import tables

    return {
        fqn: tables.open_table(project.catalog.path(fqn)).version()
        for fqn in project.catalog.tables()
    }


@pytest.fixture
def versions() -> Callable[[Project], dict[str, int]]:
    """versions(project) -> {table: Delta version}: compare before/after a failing command."""
    return table_versions


@pytest.fixture(scope="session")
def retail_built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The retail template at 3,000 order lines, run once (shared, read-only for tests)."""
    from medallion.templates import get_template

    root = tmp_path_factory.mktemp("retail")
    template = get_template("retail")
    template.scaffold(root)
    template.generate(root, rows=3000)
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, result.error
    return project


@pytest.fixture
def retail_project(tmp_path: Path) -> Project:
    """A fresh, not yet run retail project with 600 order lines (for tests that modify it)."""
    from medallion.templates import get_template

    root = tmp_path / "retail"
    template = get_template("retail")
    template.scaffold(root)
    template.generate(root, rows=600)
    return Project.load(root)
