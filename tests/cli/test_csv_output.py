"""CSV output of rows with nested values: CSV has no lists or structs, so they are JSON text."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

from tests.conftest import medallion


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


def test_every_type_is_written_and_intervals_read_as_duckdb_writes_them(tmp_path: Path) -> None:
    (tmp_path / "medallion.yml").write_text("name: p\n")
    sql = (
        "select interval 3 day as a, interval '1 hour 30 minutes' as b, "
        "[interval 1 month] as l, 'ab'::blob as bl, 1.5::decimal(38, 2) as d"
    )
    shown = medallion("query", sql, "--format", "csv", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr  # was: exit 70, ArrowNotImplementedError
    (row,) = csv.DictReader(io.StringIO(shown.stdout))
    assert (row["a"], row["b"], json.loads(row["l"]), row["d"]) == (
        "3 days",
        "01:30:00",
        ["1 month"],
        "1.50",
    )
    as_json = medallion("query", sql, "--format", "json", cwd=tmp_path)
    assert json.loads(as_json.stdout)[0]["a"] == "3 days"  # was [0, 3, 0]
    target = tmp_path / "out.parquet"
    assert medallion("query", sql, "-o", str(target), cwd=tmp_path).returncode == 0
    import pyarrow.parquet as pq

    assert pq.read_table(target).column("b").to_pylist() == ["01:30:00"]


def test_a_query_failing_half_way_leaves_no_partial_file(tmp_path: Path) -> None:
    """The error comes on a row past the first batches (DuckDB streams 128k-row batches): a
    file written straight to its name would hold the rows before it."""
    (tmp_path / "medallion.yml").write_text("name: p\n")
    sql = (
        "select i, case when i > 300000 then error('row ' || i || ' is bad') end as x "
        "from range(400000) t(i)"
    )
    for suffix in ("csv", "json", "parquet"):
        target = tmp_path / f"out.{suffix}"
        proc = medallion("query", sql, "-o", str(target), cwd=tmp_path)
        assert proc.returncode == 1
        assert "error: Invalid Input Error: row 300001 is bad" in proc.stderr
        assert "may write to it" not in proc.stderr  # not a folder problem
        assert not target.exists(), suffix
        assert sorted(p.name for p in tmp_path.iterdir()) == [".medallion", "medallion.yml"]
    # a file of that name keeps what it held
    target = tmp_path / "kept.csv"
    target.write_text("before\n")
    assert medallion("query", sql, "-o", str(target), cwd=tmp_path).returncode == 1
    assert target.read_text() == "before\n"
    assert medallion("query", "select 1 as a", "-o", str(target), cwd=tmp_path).returncode == 0
    assert target.read_text().splitlines() == ['"a"', "1"]
