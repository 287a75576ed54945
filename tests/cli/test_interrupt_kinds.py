"""Ctrl-C at several points of a real `medallion run`, for every way a step writes: the step
and the run end `interrupted`, exit 130, no later step runs, nothing stored says "Traceback",
and the next run writes every row exactly once.

Why: a Ctrl-C that lands while DuckDB reads rows from a Python stream (a `merge` model's rows
staged to drop duplicate keys) is turned by DuckDB into its own error ("reading the Arrow source
failed"), whose text is the KeyboardInterrupt's traceback. That error used to fail the step
(as "fix the SQL"), and the run went on into the next step, which failed on the DuckDB
connection left with an open result."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from tests.cli.test_interrupt import interrupt, paused_run, status
from tests.conftest import medallion

CONFIG = "name: p\nsources:\n  sales:\n    path: data/sales_*.csv\n"
MODELS = {
    "silver/m.sql": """\
        /* ---
        kind: merge
        unique_key: id
        order_by: [_source_file]
        --- */
        select id, amount, _source_file from bronze.sales
        """,
    "silver/t.sql": "select id, amount from bronze.sales where amount > 0\n",
    "gold/g.sql": "select count(*) as n, sum(amount) as total from silver.m\n",
}
ROWS = 3000


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "medallion.yml").write_text(CONFIG)
    (tmp_path / "data").mkdir()
    for part in range(3):
        ids = range(part * ROWS + 1, (part + 1) * ROWS + 1)
        rows = "".join(f"{i},{i % 5}\n" for i in ids)
        (tmp_path / "data" / f"sales_{part}.csv").write_text("id,amount\n" + rows)
    for rel, text in MODELS.items():
        path = tmp_path / "models" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize(
    ("point", "step"),
    [
        ("mid-write:bronze.sales", ("ingest", "bronze.sales")),
        ("mid-write:silver.m", ("model", "silver.m")),
        ("mid-write:silver.t", ("model", "silver.t")),
        ("after-commit:silver.m", ("model", "silver.m")),
    ],
)
def test_ctrl_c_at_any_point_ends_the_run_interrupted_and_the_rerun_is_exactly_once(
    project: Path, point: str, step: tuple[str, str]
) -> None:
    code, out, err = interrupt(paused_run(project, point))
    assert code == 130, out + err
    assert "Traceback" not in out + err
    assert "nanobind" not in err
    assert f"{step[0]} {step[1]}" in out  # "stopped in step n of 4, model silver.m: ..."

    state = status(project)
    assert state["run"]["status"] == "interrupted"
    assert state["run"]["error"] == f"interrupted (Ctrl-C) during {step[0]} {step[1]}"
    steps = [(f"{s['layer']}.{s['table_name']}", s["status"]) for s in state["steps"]]
    # the step it was in is the last one recorded: no later step ran, none failed
    assert steps[-1] == (step[1], "interrupted")
    assert all(s == "success" for _, s in steps[:-1]), steps
    assert all("Traceback" not in (s["error"] or "") for s in state["steps"])

    again = medallion("run", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = json.loads(
        medallion(
            "query",
            "select count(*) as n, count(distinct id) as ids, sum(amount) as total from silver.m",
            "-f",
            "json",
            cwd=project,
        ).stdout
    )
    n = 3 * ROWS
    assert rows == [{"n": n, "ids": n, "total": sum(i % 5 for i in range(1, n + 1))}]
    count = "select count(*) as n from bronze.sales"
    bronze = json.loads(medallion("query", count, "-f", "json", cwd=project).stdout)
    assert bronze == [{"n": n}]
