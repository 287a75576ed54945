"""The access: block of medallion.yml: shapes checked at load, names checked against the
project, each error naming the file and line; and validate's lineage warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import medallion, write_project
from tests.governance.conftest import CONFIG, build

BASE = """
name: cfg
sources:
  customers: {path: data/customers.csv}
access:
"""
FILES = {"data/customers.csv": "id,email,state\n1,a@b.c,CA\n"}
MODELS = {"silver/dim.sql": "select id, email, state from bronze.customers\n"}


@pytest.mark.parametrize(
    ("block", "line", "says"),
    [
        ("  grants:\n    analysts: [gold]\n", 6, "must be `layer.table` or `layer.*`"),
        ("  row_filters:\n    silver.dim: \"state in ('CA'\"\n", 6, "does not parse"),
        ('  row_filters:\n    silver.dim: "(select 1)"\n', 6, "without a subquery"),
        ("  masks:\n    silver.dim: email\n", 6, "must be `layer.table.column`"),
        ('  masks:\n    silver.dim.email: "partial(1, 2)"\n', 6, "partial(keep_first"),
        ("  unmasked: [x]\n", 5, "unmasked"),
    ],
)
def test_shape_errors_name_the_line(tmp_path: Path, block: str, line: int, says: str) -> None:
    root = write_project(tmp_path / "p", BASE + block, MODELS, FILES)
    proc = medallion("validate", cwd=root)
    assert proc.returncode != 0
    assert f"medallion.yml:{line}" in proc.stderr, proc.stderr
    assert says in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("block", "line", "says"),
    [
        ("  grants:\n    analysts: [silver.dim, gold.nope]\n", 6, "no table 'gold.nope'"),
        ("  grants:\n    analysts: [platinum.*]\n", 6, "no layer 'platinum'"),
        ('  row_filters:\n    silver.nope: "true"\n', 6, "no table 'silver.nope'"),
        ("  row_filters:\n    silver.dim: \"region = 'x'\"\n", 6, "column 'region'"),
        ("  masks:\n    silver.dim.phone: hash\n", 6, "has no column 'phone'"),
        ("  masks:\n    silver.dimm.email: hash\n", 6, "did you mean 'silver.dim'"),
    ],
)
def test_unknown_names_name_the_line(tmp_path: Path, block: str, line: int, says: str) -> None:
    root = write_project(tmp_path / "p", BASE + block, MODELS, FILES)
    medallion("run", cwd=root, check=True)
    proc = medallion("validate", cwd=root)
    assert proc.returncode != 0, proc.stdout
    assert f"medallion.yml:{line}" in proc.stderr, proc.stderr
    assert says in proc.stderr, proc.stderr
    # and a user's query is refused with the same message, not run without the policy
    medallion("users", "add", "v", "--role", "viewer", "--group", "analysts", cwd=root, check=True)
    proc = medallion("query", "--as", "v", "select 1", cwd=root)
    assert proc.returncode != 0 and says in proc.stderr


def test_validate_warns_when_a_masked_column_flows_unmasked(tmp_path: Path) -> None:
    config = CONFIG.replace("stakeholders: [gold.sales_by_state]", "stakeholders: [gold.*]")
    root = tmp_path / "p"
    build(root, config)
    (root / "models/gold/contacts.sql").write_text(
        "select c.state, max(c.email) as contact, count(distinct c.email) as emails\n"
        "from silver.dim_customers c group by 1\n"
    )
    proc = medallion("validate", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert (
        "warning: gold.contacts.contact shows silver.dim_customers.email unmasked to "
        "analysts, stakeholders" in proc.stderr
    ), proc.stderr
    assert "gold.contacts.emails" not in proc.stderr  # a count shows no address
