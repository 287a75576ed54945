"""CSV output of rows with nested values: CSV has no lists or structs, so they are JSON text."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path


def medallion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quarantined_rows_and_nested_query_results_as_csv(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text("id,amount\n1,10\n2,-5\n")
    (tmp_path / "models" / "silver").mkdir(parents=True)
    (tmp_path / "models" / "silver" / "clean.sql").write_text(
        textwrap.dedent(
            """\
            /* ---
            expectations:
              positive: {expect: amount > 0, action: quarantine}
            --- */
            select id, amount from bronze.sales
            """
        )
    )
    (tmp_path / "medallion.yml").write_text("name: p\nsources:\n  sales: {path: data/sales.csv}\n")
    assert medallion("run", cwd=tmp_path).returncode == 0

    shown = medallion("quarantine", "show", "clean", "-f", "csv", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert [(r["id"], r["amount"]) for r in rows] == [("2", "-5")]
    assert json.loads(rows[0]["_failed_expectations"]) == ["positive"]

    query = medallion(
        "query", "select [1, 2] as l, {'a': 'x'} as s, 3 as n", "--format", "csv", cwd=tmp_path
    )
    assert query.returncode == 0, query.stderr
    (row,) = csv.DictReader(io.StringIO(query.stdout))
    assert (json.loads(row["l"]), json.loads(row["s"]), row["n"]) == ([1, 2], {"a": "x"}, "3")
