"""A small governed project: customers with PII on silver, sales by state on gold, a table
nobody but the read-everything roles may read, users of each role in the state database."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import write_project

from medallion.project import Project

CONFIG = """
name: governed
sources:
  customers: {path: data/customers.csv, columns: {id: INTEGER}}
  orders: {path: data/orders.csv, columns: {id: INTEGER, customer_id: INTEGER, amount: INTEGER}}
access:
  grants:
    analysts: [gold.*, silver.dim_customers]
    stakeholders: [gold.sales_by_state]
  row_filters:
    gold.sales_by_state: "is_member('all_regions') or state in ('CA', 'NY')"
    silver.dim_customers: "state <> 'TX' or current_user() = 'tex'"
  masks:
    silver.dim_customers.email: email
    silver.dim_customers.phone: "partial(0, 'XXX-XXX-', 4)"
    silver.dim_customers.name: hash
  unmask: [compliance]
"""
FILES = {
    "data/customers.csv": (
        "id,name,email,phone,state\n"
        "1,Ann,ann@example.com,555-123-4567,CA\n"
        "2,Bob,bob@example.com,555-222-3333,NY\n"
        "3,Cid,cid@example.com,555-999-0000,TX\n"
        "4,Dee,,12,WA\n"
    ),
    "data/orders.csv": ("id,customer_id,amount\n1,1,10\n2,1,20\n3,2,5\n4,3,100\n5,4,7\n"),
}
MODELS = {
    "silver/dim_customers.sql": """\
        /* ---
        expectations:
          has_email: {expect: email is not null, action: quarantine}
        --- */
        select id, name, email, phone, state from bronze.customers
        """,
    "gold/sales_by_state.sql": """\
        select c.state, sum(o.amount) as total, count(*) as orders
        from bronze.orders o join silver.dim_customers c on c.id = o.customer_id
        group by c.state
        """,
    "gold/margin.sql": """\
        select state, total * 0.3 as margin from gold.sales_by_state
        """,
}

USERS = [
    # name, role, groups
    ("ada", "admin", []),
    ("mia", "member", []),
    ("val", "viewer", ["analysts"]),
    ("sam", "viewer", ["stakeholders"]),
    ("rex", "viewer", ["stakeholders", "all_regions"]),
    ("cora", "viewer", ["analysts", "compliance"]),
    ("tex", "viewer", ["analysts"]),
    ("nobody", "viewer", []),
]


def build(root: Path, config: str = CONFIG) -> Project:
    write_project(root, config, MODELS, FILES)
    project = Project.load(root)
    result = project.run(trigger="test")
    assert result.ok, result.error
    for name, role, groups in USERS:
        project.add_user(name, role, groups, password=f"{name}-password")
    return project


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Built once per module: tests only read it (and append to its audit)."""
    return build(tmp_path_factory.mktemp("governed") / "p")
