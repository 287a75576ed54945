"""PostgreSQL fixtures: a real server (medallion.devservers.pgserver), no mocks.

- `pg` (session): one started PgServer shared by the session's tests. Do not stop or kill it; a
  test that needs to crash a server takes its own from `make_pg`.
- `pg_db` (function): a fresh, empty database on `pg` for the test; yields its DSN
  (postgresql://medallion:secret@127.0.0.1:PORT/NAME) and drops it afterwards.
- `make_pg` (function): make_pg(**PgServer keyword arguments) -> a started private PgServer in
  tmp_path, cleaned up after the test (for kill/restart tests).

When the PostgreSQL server binaries are missing the tests fail (they do not skip): CI must run
them. The message says what to install.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from medallion.devservers.pgserver import PgServer, PgServerError


def start_or_fail(server: PgServer) -> PgServer:
    """server.start(), or fail the test with PgServer's message (install hint, log tail)."""
    try:
        return server.start()
    except PgServerError as exc:
        server.cleanup()
        pytest.fail(f"the PostgreSQL tests need a PostgreSQL server: {exc}", pytrace=False)


def unique_db_name(test_name: str) -> str:
    """t_<test name, sanitised>_<8 hex>: unique, readable, within PostgreSQL's 63 bytes."""
    stem = re.sub(r"[^a-z0-9_]+", "_", test_name.lower()).strip("_")[:40]
    return f"t_{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session (shared: never stop or kill it)."""
    server = start_or_fail(PgServer(tmp_path_factory.mktemp("pg")))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_db(pg: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new database on `pg`, made for this test and dropped after it."""
    name = unique_db_name(request.node.name)
    pg.create_database(name)
    yield pg.dsn(name)
    pg.drop_database(name)


@pytest.fixture
def make_pg(tmp_path: Path) -> Iterator[Callable[..., PgServer]]:
    """make_pg(**kwargs) -> a started PgServer of the test's own (stopped and removed after)."""
    servers: list[PgServer] = []

    def make(**kwargs: Any) -> PgServer:
        server = PgServer(tmp_path / f"pg{len(servers)}", **kwargs)
        servers.append(server)
        return start_or_fail(server)

    yield make
    for server in servers:
        server.cleanup()
