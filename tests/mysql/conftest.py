"""MariaDB fixtures: a real server (medallion.devservers.mysqlserver), no mocks.

- `mysql` (session): one started MySqlServer shared by the session's tests (never stop or kill
  it; a test that crashes a server takes its own from `make_mysql`).
- `my_db` (function): a fresh database on `mysql`; yields its DSN and drops it afterwards.
- `make_mysql` (function): a started private MySqlServer in tmp_path, cleaned up after the test.

When the MariaDB binaries are missing the tests fail (they do not skip): CI must run them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medallion.devservers.mysqlserver import MySqlServer, MySqlServerError


def start_or_fail(server: MySqlServer) -> MySqlServer:
    try:
        return server.start()
    except MySqlServerError as exc:
        server.cleanup()
        pytest.fail(f"the MySQL tests need a MariaDB server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def mysql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySqlServer]:
    server = start_or_fail(MySqlServer(tmp_path_factory.mktemp("mysql")))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def my_db(mysql: MySqlServer, request: pytest.FixtureRequest) -> Iterator[str]:
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:8]}"
    mysql.create_database(name)
    yield mysql.dsn(name)
    mysql.drop_database(name)


@pytest.fixture
def make_mysql(tmp_path: Path) -> Iterator[Callable[[], MySqlServer]]:
    servers: list[MySqlServer] = []

    def make() -> MySqlServer:
        server = MySqlServer(tmp_path / f"my{len(servers)}")
        servers.append(server)
        return start_or_fail(server)

    yield make
    for server in servers:
        server.cleanup()
