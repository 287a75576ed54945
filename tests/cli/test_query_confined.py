"""`medallion query` reads any file this user may read (DuckDB's read_csv, read_parquet, glob);
a project that says `query: {outside_files: false}` confines its queries to its tables."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import medallion

CONFIG = """\
name: p
sources:
  sales:
    path: data/sales*.csv
"""
MODEL = "select id, amount from bronze.sales\n"
VIEW = "/* ---\nkind: view\n--- */\nselect id from silver.s where amount > 10\n"


def rows(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("confined")
    (base / "secret.csv").write_text("who,password\nroot,hunter2\n")  # outside the project
    project = base / "p"
    (project / "data").mkdir(parents=True)
    (project / "data" / "sales1.csv").write_text("id,amount\n1,10\n2,20\n")
    (project / "models" / "silver").mkdir(parents=True)
    (project / "models" / "silver" / "s.sql").write_text(MODEL)
    (project / "models" / "silver" / "big.sql").write_text(VIEW)
    (project / "medallion.yml").write_text(CONFIG)
    assert medallion("run", cwd=project).returncode == 0
    return project


def test_by_default_a_query_reads_any_file(root: Path) -> None:
    secret = str(root.parent / "secret.csv")
    got = rows(medallion("query", f"select * from read_csv('{secret}')", "-f", "json", cwd=root))
    assert got == [{"who": "root", "password": "hunter2"}]


def test_a_confined_project_refuses_outside_files_and_reads_its_tables(root: Path) -> None:
    (root / "medallion.yml").write_text(CONFIG + "query:\n  outside_files: false\n")
    try:
        secret = root.parent / "secret.csv"
        for sql in (
            f"select * from read_csv('{secret}')",
            "select * from read_csv('data/sales1.csv')",  # inside the project, not a table
            f"select * from glob('{root.parent}/*')",
            "select count(*) from silver.s, read_text('/etc/hostname')",
        ):
            proc = medallion("query", sql, cwd=root)
            assert proc.returncode == 1, sql
            assert proc.stderr.startswith(
                "error: queries of this project read its tables only "
                "(query.outside_files: false), not "
            ), proc.stderr
            assert "hunter2" not in proc.stdout
        # every table, a view model, the tables' past versions: still read
        assert rows(
            medallion("query", "select sum(amount) as t from silver.s", "-f", "json", cwd=root)
        ) == [{"t": 30}]
        assert rows(medallion("query", "select * from silver.big", "-f", "json", cwd=root)) == [
            {"id": 2}
        ]
        past = medallion(
            "query",
            "select count(*) as n from bronze.sales",
            "--as-of",
            "0",
            "-f",
            "json",
            cwd=root,
        )
        assert rows(past) == [{"n": 2}]
    finally:
        (root / "medallion.yml").write_text(CONFIG)


def test_the_setting_is_checked_like_every_key(root: Path) -> None:
    (root / "medallion.yml").write_text(CONFIG + "query:\n  outside_file: false\n")
    try:
        proc = medallion("query", "select 1", cwd=root)
        assert proc.returncode == 1
        assert "unknown key 'outside_file' in query — did you mean 'outside_files'?" in proc.stderr
    finally:
        (root / "medallion.yml").write_text(CONFIG)
