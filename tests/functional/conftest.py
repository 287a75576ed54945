"""The retail template, built once for the session or fresh for a test that modifies it."""

from __future__ import annotations

from pathlib import Path

import pytest

from medallion.project import Project


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
