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
