"""Helpers the file-source tests share, one fixture each: the fixture is the helper function.

(Test modules cannot import a conftest under --import-mode=importlib, so a helper is reached by
naming it as a test's argument.) The projects have one source `s`, stored as bronze.s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from medallion.project import Project
from medallion.state.records import RunResult


@pytest.fixture
def source_config() -> Callable[..., str]:
    def source_config(path: str, **options: str) -> str:
        """medallion.yml with one source `s` reading `path`; options are raw YAML values.

        The files of these tests are a few lines, one bad line among them is 25% or more: they
        accept any share of rejected rows (`max_rejected: 100%`) unless they say otherwise;
        test_reject_threshold.py tests the limit itself."""
        options.setdefault("max_rejected", "100%")
        lines = ["name: t", "sources:", "  s:", f"    path: {path}"]
        lines += [f"    {key}: {value}" for key, value in options.items()]
        return "\n".join(lines) + "\n"

    return source_config


@pytest.fixture
def run_ok() -> Callable[..., RunResult]:
    def run_ok(project: Project, **kwargs: Any) -> RunResult:
        result = project.run(**kwargs)
        assert result.status == "success", [s.error for s in result.steps]
        return result

    return run_ok


@pytest.fixture
def rows() -> Callable[..., list[tuple[Any, ...]]]:
    def rows(project: Project, columns: str, order: str = "id") -> list[tuple[Any, ...]]:
        table = project.query(f"select {columns} from bronze.s order by {order}")
        return [tuple(r.values()) for r in table.to_pylist()]

    return rows


@pytest.fixture
def quarantine() -> Callable[[Project], list[tuple[Any, ...]]]:
    def quarantine(project: Project) -> list[tuple[Any, ...]]:
        """(_source_file, _line, _raw, _error) of bronze.s__quarantine, by file and line."""
        table = project.query(
            "select _source_file, _line, _raw, _error from bronze.s__quarantine "
            "order by _source_file, _line"
        )
        return [tuple(r.values()) for r in table.to_pylist()]

    return quarantine


@pytest.fixture
def schema_of() -> Callable[[Project], dict[str, pa.DataType]]:
    def schema_of(project: Project) -> dict[str, pa.DataType]:
        table = project.query(
            "select * exclude (_source_file, _ingested_at, _run_id) from bronze.s"
        )
        return {f.name: f.type for f in table.schema}

    return schema_of


Counters = tuple[int | None, int | None, int | None, int | None]


@pytest.fixture
def counters() -> Callable[[RunResult], Counters]:
    def counters(result: RunResult) -> Counters:
        """(rows read, rows written, rows quarantined, Delta version) of the step bronze.s."""
        step = result.step("bronze.s")
        return (step.rows_read, step.rows_written, step.rows_quarantined, step.delta_version)

    return counters
