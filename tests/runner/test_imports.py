"""A run does not make pyarrow import pandas.

pyarrow imports pandas (0.25 s) wherever it is installed when it meets a Python value it must
type-check (`pa.scalar(3)`, `pa.array([...])`, `Schema.empty_table()`) or loads
`pyarrow.dataset` (Arrow's `group_by`). The run itself needs none of that. The child records
every attempt to import pandas, so this holds whether or not pandas is installed here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from medallion.project import Project

CHILD = """
import sys

class Recorder:
    attempts = []
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pandas":
            self.attempts.append(name)
        return None

sys.meta_path.insert(0, Recorder())
from medallion.project import Project
result = Project.load(sys.argv[1]).run(sys.argv[2:] or None)
assert result.ok, result.error
print(Recorder.attempts)
"""

CONFIG = """
name: imports
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: INTEGER, email: VARCHAR}
"""
MODEL = """/* ---
kind: merge
unique_key: id
expectations:
  positive: {expect: amount > 0, action: drop}
  valid_email: {expect: "email like '%@%'", action: quarantine}
--- */
select id, amount, email from bronze.orders
"""


def attempts(project: Project, *select: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(project.root), *select],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_a_first_run_and_a_later_file_do_not_import_pandas(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {"silver/orders.sql": MODEL},
        {"data/orders1.csv": "id,amount,email\n1,10,a@x.com\n2,-5,b@x.com\n3,7,bad\n"},
    )
    # ingestion, a merge model's first build (its keys checked for repeats), expectations that
    # drop and quarantine rows, the quarantine table
    assert attempts(project) == "[]"
    assert project.query("select id from silver.orders").to_pylist() == [{"id": 1}]
    assert project.quarantined_rows("orders").num_rows == 1
    # a new file read with the types the bronze table already has
    (project.root / "data/orders2.csv").write_text("id,amount,email\n4,1,d@x.com\n")
    assert attempts(project, "bronze.orders") == "[]"
    assert project.query("select count(*) as n from bronze.orders").to_pylist() == [{"n": 4}]
    # an incremental merge: the keys the new rows touch (from two files) recomputed and merged
    (project.root / "data/orders3.csv").write_text("id,amount,email\n1,11,a@x.com\n5,2,e@x.com\n")
    assert attempts(project) == "[]"
    assert project.query("select id, amount from silver.orders order by id").to_pylist() == [
        {"id": 1, "amount": 11},
        {"id": 4, "amount": 1},
        {"id": 5, "amount": 2},
    ]


def test_an_incremental_by_time_run_does_not_import_pandas(
    make_project: Callable[..., Project],
) -> None:
    config = """
name: imports
sources:
  sales:
    path: data/sales*.csv
    columns: {day: DATE, amount: INTEGER}
"""
    daily = """/* ---
kind: incremental_by_time
time_column: day
grain: day
--- */
select day, sum(amount) as total from bronze.sales group by day
"""
    project = make_project(
        config, {"gold/daily.sql": daily}, {"data/sales1.csv": "day,amount\n2026-01-01,5\n"}
    )
    assert attempts(project) == "[]"
    # the periods the new rows touch are recomputed
    (project.root / "data/sales2.csv").write_text("day,amount\n2026-01-01,1\n2026-01-02,7\n")
    assert attempts(project) == "[]"
    assert project.query(
        "select day::varchar as day, total from gold.daily order by 1"
    ).to_pylist() == [
        {"day": "2026-01-01", "total": 6},
        {"day": "2026-01-02", "total": 7},
    ]


def test_rows_that_do_not_parse_and_a_freshness_check_do_not_import_pandas(
    make_project: Callable[..., Project],
) -> None:
    config = """
name: imports
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: INTEGER}
    max_rejected: 100%  # one line in three: more than the default 10%
    checks:
      - freshness: {column: _ingested_at, max_age: 1 day}
"""
    project = make_project(
        config, {}, {"data/orders1.csv": "id,amount\n1,10\nnot a number,5\n2,20\n"}
    )
    # the row that does not parse goes to the source's quarantine table; the check reads a
    # timestamp with a time zone
    assert attempts(project) == "[]"
    assert project.quarantined_rows("orders").num_rows == 1
    assert project.query("select count(*) as n from bronze.orders").to_pylist() == [{"n": 2}]
