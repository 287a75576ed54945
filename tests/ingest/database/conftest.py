"""Helpers the database-source tests share (PostgreSQL, MariaDB, SQLite), one fixture each: the
fixture is the helper function.

(Test modules cannot import a conftest under --import-mode=importlib, so a helper is reached by
naming it as a test's argument.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest

from medallion.connectors.mysql import parse_dsn
from medallion.project import Project


@pytest.fixture
def sql() -> Callable[..., None]:
    def sql(dsn: str, *statements: str) -> None:
        """Run `statements`, autocommitted, on the database at `dsn` (postgresql:// or mysql://)."""
        if urlsplit(dsn).scheme == "mysql":
            conn = pymysql.connect(**parse_dsn(dsn), autocommit=True)
            try:
                with conn.cursor() as cur:
                    for statement in statements:
                        cur.execute(statement)
            finally:
                conn.close()
            return
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.encode())

    return sql


@pytest.fixture
def rows() -> Callable[[Project, str], list[tuple[Any, ...]]]:
    def rows(project: Project, query: str) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in project.query(query).to_pylist()]

    return rows


@pytest.fixture
def run_ok() -> Callable[..., Any]:
    def run_ok(project: Project, **kwargs: Any) -> Any:
        result = project.run(**kwargs)
        assert result.ok, (result.error, [(s.node, s.error) for s in result.steps])
        return result

    return run_ok
