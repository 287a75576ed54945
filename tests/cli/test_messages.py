"""What the commands say when something is wrong: values as SQL writes them, statements a
read-only query refuses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def medallion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


SALES = """\
    name: p
    sources:
      sales:
        path: data/sales.csv
        columns: {amount: 'DECIMAL(12,2)', sold_on: DATE}
"""


def test_failed_expectation_samples_show_values_as_sql_writes_them(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "medallion.yml": SALES,
            "data/sales.csv": "id,amount,sold_on,note\n1,6586.39,2024-01-01,it's\n2,-1.50,,\n",
            "models/silver/clean.sql": """\
                /* ---
                expectations:
                  small: {expect: amount < 100, action: fail}
                --- */
                select id, amount, sold_on, note from bronze.sales
                """,
        },
    )
    proc = medallion("run", cwd=tmp_path)
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    # before: amount=Decimal('6586.39'), sold_on=datetime.date(2024, 1, 1), note="it's"
    assert "[small] id=1, amount=6586.39, sold_on=2024-01-01, note='it''s'" in output
    assert "Decimal(" not in output and "datetime." not in output


def test_accepted_values_names_the_values_as_sql_writes_them(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "medallion.yml": """\
                name: p
                sources:
                  sales:
                    path: data/sales.csv
                    columns: {amount: 'DECIMAL(12,2)'}
                    checks:
                      - accepted_values: {column: amount, values: [1.00, 2.00]}
            """,
            "data/sales.csv": "id,amount\n1,6586.39\n2,1.00\n",
        },
    )
    proc = medallion("run", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert "1 rows with values not accepted: 6586.39" in output, output
    assert "Decimal(" not in output


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("delete from bronze.sales", "DELETE"),
        ("insert into bronze.sales values (1, 2)", "INSERT"),
        ("update bronze.sales set amount = 0", "UPDATE"),
        ("create table x as select 1", "CREATE"),
        ("drop table bronze.sales", "DROP"),
        ("copy bronze.sales to 'out.csv'", "COPY"),
        ("attach 'other.db'", "ATTACH"),
        ("with x as (select 1) insert into t select * from x", "INSERT"),
        ("select 1; drop table bronze.sales", "DROP"),
        ("install httpfs", "INSTALL"),
        ("set threads = 1", "SET"),
    ],
)
def test_query_says_write_statements_are_read_only(sql: str, kind: str, queried: Path) -> None:
    proc = medallion("query", sql, cwd=queried)
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: medallion query is read-only"), proc.stderr
    assert kind in first
    assert "syntax error" not in proc.stderr.lower()
    assert not (queried / "out.csv").exists()


def test_query_still_reports_real_syntax_errors(queried: Path) -> None:
    proc = medallion("query", "select * fro bronze.sales", cwd=queried)
    assert proc.returncode == 1
    assert "syntax error" in proc.stderr
    assert "read-only" not in proc.stderr


@pytest.fixture(scope="module")
def queried(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write(
        tmp_path_factory.mktemp("q"),
        {"medallion.yml": SALES, "data/sales.csv": "id,amount,sold_on\n1,2.50,2024-01-01\n"},
    )
    assert medallion("run", cwd=root).returncode == 0
    return root
