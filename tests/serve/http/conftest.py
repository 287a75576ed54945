"""A real project (Delta tables built by a real run) behind the HTTP API, through Starlette's
TestClient (the app in this process, real HTTP semantics) or `medallion serve --http-port`.

`access:` grants `analysts` gold.* and silver.orders, `monitoring` the run log; it filters
silver.orders to paid rows for viewers outside `all_rows` and masks
gold.sales_by_customer.customer. Users (the state database's, as `medallion users add` makes
them): ada admin, mia member, carl contributor, val viewer in analysts, vic viewer in no group,
moe viewer in monitoring. Pipelines: nightly (a schedule), after_nightly (after it)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import write_project

from medallion.project import Project
from medallion.serve.http import create_app

PASSWORD = "s3cret pass"

CONFIG = """
name: shop
sources:
  orders:
    path: data/orders.csv
access:
  grants:
    analysts: [gold.*, silver.orders]
    monitoring: [system.runs, system.run_steps]
  row_filters:
    silver.orders: "is_member('all_rows') or paid"
  masks:
    gold.sales_by_customer.customer: "partial(1, '***', 0)"
pipelines:
  nightly:
    schedule: "0 2 * * *"
    select: [silver.orders+]
  after_nightly:
    after: nightly
    select: [gold.sales_by_day]
"""

ORDERS = (
    "order_id,customer,amount,ordered_at,paid\n"
    "1,alice,10.50,2024-01-01 10:00:00,true\n"
    "2,bob,20.25,2024-01-02 11:30:00,false\n"
    "3,alice,5.00,2024-01-03 09:15:00,true\n"
    "4,carol,7.75,2024-01-03 12:00:00,true\n"
)

MODELS = {
    "silver/orders.sql": """
        /* ---
        description: One row per order, typed.
        columns:
          amount: The order's total in euros.
          customer: Who ordered.
        --- */
        select order_id::int as order_id, customer, amount::decimal(10, 2) as amount,
               ordered_at::timestamp as ordered_at, paid::boolean as paid,
               ordered_at::date as order_date
        from bronze.orders
    """,
    "gold/sales_by_customer.sql": """
        select customer, sum(amount) as total, count(*)::bigint as orders
        from silver.orders group by customer
    """,
    "gold/sales_by_day.sql": """
        select order_date, sum(amount) as total from silver.orders group by order_date
    """,
}

CHECKS = "silver.orders:\n  - unique: order_id\n  - not_null: customer\n"

#: name, role, groups
USERS = [
    ("ada", "admin", []),
    ("mia", "member", []),
    ("carl", "contributor", []),
    ("val", "viewer", ["analysts"]),
    ("vic", "viewer", []),
    ("moe", "viewer", ["monitoring"]),
]
ROLES = {name: role for name, role, _ in USERS}


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_project(
        tmp_path_factory.mktemp("http") / "shop",
        CONFIG,
        MODELS,
        {"data/orders.csv": ORDERS, "checks.yml": CHECKS},
    )
    project = Project.load(root)
    assert project.run().ok
    for name, role, groups in USERS:
        project.add_user(name, role, groups, PASSWORD)
    return project


@pytest.fixture(scope="module")
def client(shop: Project) -> Iterator[TestClient]:
    with TestClient(create_app(shop), base_url="http://127.0.0.1:8080") as c:
        yield c


def audit_rows(project: Project, user: str | None = None) -> list[dict]:
    """The access audit's rows (the batched events written first), oldest first."""
    project.audit_log.flush()
    return project.audit(user).to_pylist()
