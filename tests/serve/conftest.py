"""A real project (Delta tables built by `medallion run`) served by a real endpoint on a free
port of 127.0.0.1, for the client tests (psql, psycopg, pgJDBC, psqlODBC).

The users are the project's own, in its state database (`medallion users add`), and the
project has an `access:` policy: alice and bob are contributors (they read every table in
clear), val is a viewer in `analysts` (granted gold.* only, a masked column), ada an admin
(the system tables too), nopw a viewer without a password."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import write_project

from medallion.project import Project
from medallion.serve.pgwire.backend import ProjectBackend
from medallion.serve.pgwire.server import Server, self_signed, tls_context

PASSWORD = "s3cret pass"

CONFIG = """
name: shop
sources:
  orders:
    path: data/orders.csv
  numbers:
    path: data/numbers.csv
access:
  grants:
    analysts: [gold.*]
  masks:
    gold.sales_by_customer.customer: "partial(1, '***', 0)"
"""

NUMBERS = "n\n" + "".join(f"{i}\n" for i in range(1000))

ORDERS = (
    "order_id,customer,amount,ordered_at,paid\n"
    "1,alice,10.50,2024-01-01 10:00:00,true\n"
    "2,bob,20.25,2024-01-02 11:30:00,false\n"
    "3,alice,5.00,2024-01-03 09:15:00,true\n"
)

MODELS = {
    "silver/orders.sql": """
        select order_id::int as order_id, customer, amount::decimal(10, 2) as amount,
               ordered_at::timestamp as ordered_at, paid::boolean as paid,
               ordered_at::date as order_date, [order_id, order_id * 2] as pair
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

#: name, role, groups, password: the endpoint's users
USERS = [
    ("alice", "contributor", [], PASSWORD),
    ("bob", "contributor", [], "other pass"),
    ("ada", "admin", [], PASSWORD),
    ("nopw", "viewer", ["analysts"], None),
]


@dataclass
class Endpoint:
    server: Server
    project: Project
    root: Path

    @property
    def port(self) -> int:
        return self.server.port

    def dsn(
        self, user: str = "alice", password: str = PASSWORD, db: str = "shop", **kw: str
    ) -> str:
        extra = "".join(f" {k}={v}" for k, v in kw.items())
        return (
            f"host=127.0.0.1 port={self.port} dbname={db} user={user} password='{password}'{extra}"
        )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_project(
        tmp_path_factory.mktemp("serve") / "shop",
        CONFIG,
        MODELS,
        {"data/orders.csv": ORDERS, "data/numbers.csv": NUMBERS},
    )
    project = Project.load(root)
    assert project.run().ok
    for name, role, groups, password in USERS:
        project.add_user(name, role, groups, password)
    # val is added as an operator adds a user: the CLI, the password on standard input
    add = ["users", "add", "val", "--role", "viewer", "--group", "analysts", "--password-stdin"]
    subprocess.run(
        [sys.executable, "-m", "medallion", *add],
        input=PASSWORD + "\n",
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return project


def start(project: Project, **kwargs: object) -> Server:
    """A started endpoint over `project` on a free port, as `medallion serve` starts it."""
    cert, key = self_signed(project.state_dir / "serve")
    server = Server(
        ProjectBackend(project),
        host="127.0.0.1",
        port=0,
        ssl_context=tls_context(cert, key),
        punch_list=project.state_dir / "serve" / "catalog-punchlist.log",
        **kwargs,  # type: ignore[arg-type]
    )
    server.start()
    return server


@pytest.fixture(scope="module")
def endpoint(shop: Project) -> Iterator[Endpoint]:
    server = start(shop)
    yield Endpoint(server, shop, shop.root)
    server.stop()
