"""engine/attach.py is the one place a table becomes readable: a read policy installed there
refuses every read path — a query, a time-travel query, quarantine rows, checks and their sample
rows, a Python model's inputs (ctx.table, ctx.sql), verify's reconciliations — and nothing else
in the package attaches tables behind its back."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from medallion.engine.attach import DenyAll
from medallion.errors import AccessDeniedError
from medallion.project import Project

SRC = Path(__file__).resolve().parents[2] / "src" / "medallion"

CONFIG = """
name: governed
sources:
  # one row in four does not parse: more than the default max_rejected (10%)
  sales: {path: data/sales.csv, columns: {id: INTEGER, amount: INTEGER}, max_rejected: 100%}
  payments: {path: data/payments.csv}
"""
FILES = {
    "data/sales.csv": "id,region,amount\n1,north,10\n2,south,20\n3,north,30\nx,south,40\n",
    "data/payments.csv": "id,paid\n1,10\n2,20\n3,30\n",
}
MODELS = {
    "silver/clean.sql": """\
        /* ---
        expectations:
          positive: {expect: amount > 10, action: quarantine}
        checks:
          - not_null: id
          - reconciliation:
              expression: sum(amount)
              equals: {table: bronze.sales, expression: sum(amount), where: amount > 10}
        --- */
        select id, region, amount from bronze.sales
        """,
    "gold/by_region.py": '''\
        """---
        depends_on: [silver.clean]
        """


        def model(ctx):
            return ctx.sql("select region, sum(amount) as total from silver.clean group by 1")
        ''',
}


class Only:
    """A policy allowing exactly `tables`."""

    def __init__(self, *tables: str) -> None:
        self.tables = set(tables)

    def check(self, table: str) -> None:
        if table not in self.tables:
            raise AccessDeniedError(f"reading {table} is not allowed")


@pytest.fixture
def built(make_project: Callable[..., Project]) -> Project:
    project = make_project(CONFIG, MODELS, FILES)
    result = project.run(trigger="test")
    assert result.ok, result.error
    assert project.quarantined_rows("silver.clean").num_rows == 1  # amount 10 set aside
    return project


def denied(project: Project) -> Project:
    return Project.load(project.root, policy=DenyAll())


def test_every_read_path_is_refused_by_a_deny_all_policy(built: Project) -> None:
    project = denied(built)
    with pytest.raises(AccessDeniedError, match=r"reading silver\.clean is not allowed"):
        project.query("select * from silver.clean")
    with pytest.raises(AccessDeniedError, match=r"reading silver\.clean is not allowed"):
        project.query("select * from silver.clean", as_of=0)
    when = project.table_history("silver.clean")[1][0]["timestamp"]
    with pytest.raises(AccessDeniedError, match="not allowed"):
        project.query("select * from silver.clean", as_of=when)
    with pytest.raises(AccessDeniedError, match=r"silver\.clean__quarantine is not allowed"):
        project.quarantined_rows("silver.clean")
    with pytest.raises(AccessDeniedError, match="not allowed"):
        project.verify()
    # checks (and the sample rows they show) run as a test run: its steps are refused
    tested = project.test(trigger="test")
    assert not tested.ok
    assert all("is not allowed" in (s.error or "") for s in tested.steps), tested.steps
    # a model step reads its inputs through the same place, a Python model's too
    run = project.run(["gold.by_region"], full_refresh=True, trigger="test")
    step = run.step("gold.by_region")
    assert step.status == "failed"
    assert "reading silver.clean is not allowed" in (step.error or "")
    # nothing was read: the refused run wrote nothing
    assert built.query("select count(*) n from gold.by_region")["n"][0].as_py() == 2


def test_a_python_model_reads_only_what_the_policy_allows(built: Project) -> None:
    allowed = Project.load(built.root, policy=Only("silver.clean", "gold.by_region"))
    # its declared input is allowed: it runs (ctx.sql reads through attach)
    assert allowed.run(["gold.by_region"], full_refresh=True, trigger="test").ok
    # ctx.con would read around the policy: refused where access is controlled
    (built.root / "models/gold/raw.py").write_text(
        '"""---\ndepends_on: [silver.clean]\n"""\n\n\ndef model(ctx):\n'
        "    return ctx.con.sql(\"select * from read_csv('data/sales.csv')\")\n"
    )
    allowed = Project.load(built.root, policy=Only("silver.clean", "gold.raw"))
    step = allowed.run(["gold.raw"], trigger="test").step("gold.raw")
    assert step.status == "failed"
    assert "ctx.con reads around the project's read policy" in (step.error or "")


def test_a_policy_refuses_one_table_and_allows_the_others(built: Project) -> None:
    project = Project.load(built.root, policy=Only("bronze.sales", "silver.clean"))
    assert project.query("select count(*) n from silver.clean")["n"][0].as_py() == 2
    with pytest.raises(AccessDeniedError, match=r"reading bronze\.payments is not allowed"):
        project.query("select * from silver.clean join bronze.payments using (id)")


def test_only_attach_makes_tables_readable() -> None:
    """The engine's attach_* methods are called from engine/attach.py alone."""
    calls = re.compile(r"\.attach_(table|view|empty)\(")
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).as_posix() not in ("engine/attach.py",)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if calls.search(line)
    ]
    assert found == []
