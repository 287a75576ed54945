"""Shared fixtures: small projects written into tmp_path, table versions, and the database
servers the PostgreSQL and MariaDB tests run against.

Everything runs for real: DuckDB, Delta tables on disk, the SQLite state database, real
PostgreSQL and MariaDB servers (medallion.devservers). No mocks.

Servers (a test using them is marked `postgres` or `mysql`; the marks select, they never skip):

- `pg` (session): one started PgServer shared by the session's tests. Do not stop or kill it; a
  test that needs to crash a server takes its own from `make_pg`.
- `pg_db` (function): a fresh, empty database on `pg` for the test; yields its DSN
  (postgresql://medallion:secret@127.0.0.1:PORT/NAME) and drops it afterwards.
- `make_pg` (function): make_pg(**PgServer keyword arguments) -> a started private PgServer in
  tmp_path, cleaned up after the test (for kill/restart tests).
- `mysql`, `my_db`, `make_mysql`: the same for MariaDB (MySqlServer).
- `spark` (session): a local Spark session (pyspark from the `spark` extra, Java 17), for tests
  marked `spark` that run `medallion compile --dialect spark` output.

When the server binaries are missing the tests fail (they do not skip): CI must run them. The
message says what to install.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from medallion.devservers.mysqlserver import MySqlServer, MySqlServerError
from medallion.devservers.pgserver import PgServer, PgServerError
from medallion.project import Project


def medallion(
    *args: str,
    cwd: Path,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`medallion ARGS` in a child process, as a user runs it in `cwd`, output captured; with
    `check`, a non-zero exit fails the test showing what it printed."""
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def killed_run(root: Path, point: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`medallion run` in `root` killed (SIGKILL, exit -9) at fault point `point`."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "medallion", "run"],
        cwd=root,
        env={**os.environ, "MEDALLION_FAULT": point},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_project(
    root: Path,
    config: str,
    models: dict[str, str] | None = None,
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """Write medallion.yml (dedented), model files (`layer/name.sql` -> text, dedented) and data
    files (relative path -> text or bytes, written as given) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(textwrap.dedent(config).lstrip(), encoding="utf-8")
    for rel, text in (models or {}).items():
        path = root / "models" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """make_project(config, models=..., files=..., name="p") -> a loaded Project in tmp_path."""

    def make(
        config: str,
        models: dict[str, str] | None = None,
        files: dict[str, str | bytes] | None = None,
        name: str = "p",
    ) -> Project:
        root = write_project(tmp_path / name, config, models, files)
        return Project.load(root)

    return make


def table_versions(project: Project) -> dict[str, int]:
    """Current Delta version of every table in storage (to assert a failure changed nothing)."""
    from medallion.storage import tables

    return {
        fqn: tables.open_table(project.catalog.path(fqn)).version()
        for fqn in project.catalog.tables()
    }


@pytest.fixture
def versions() -> Callable[[Project], dict[str, int]]:
    """versions(project) -> {table: Delta version}: compare before/after a failing command."""
    return table_versions


# -- database servers ----------------------------------------------------------------------------

Server = TypeVar("Server", PgServer, MySqlServer)

PG_NEED = "the PostgreSQL tests need a PostgreSQL server"
MYSQL_NEED = "the MySQL tests need a MariaDB server"


def start_or_fail(server: Server, need: str) -> Server:
    """server.start(), or fail the test with `need` and the server's message (install hint, log
    tail)."""
    try:
        return server.start()
    except (PgServerError, MySqlServerError) as exc:
        server.cleanup()
        pytest.fail(f"{need}: {exc}", pytrace=False)


def unique_db_name(test_name: str) -> str:
    """t_<test name, sanitised>_<8 hex>: unique, readable, within PostgreSQL's 63 bytes."""
    stem = re.sub(r"[^a-z0-9_]+", "_", test_name.lower()).strip("_")[:40]
    return f"t_{stem}_{uuid.uuid4().hex[:8]}"


def serve(server: Server, need: str) -> Iterator[Server]:
    """The started `server` for a fixture to yield, cleaned up afterwards."""
    started = start_or_fail(server, need)
    try:
        yield started
    finally:
        started.cleanup()


def fresh_database(server: PgServer | MySqlServer, test_name: str) -> Iterator[str]:
    """The DSN of a new database on `server` named after the test, dropped afterwards."""
    name = unique_db_name(test_name)
    server.create_database(name)
    yield server.dsn(name)
    server.drop_database(name)


def private_servers(
    new: Callable[..., Server], where: Path, need: str
) -> Iterator[Callable[..., Server]]:
    """make(**kwargs) -> a started server of the test's own, `new(<where><n>, **kwargs)` (the
    n-th made: where0, where1...); every one made is stopped and removed afterwards."""
    servers: list[Server] = []

    def make(**kwargs: Any) -> Server:
        server = new(Path(f"{where}{len(servers)}"), **kwargs)
        servers.append(server)
        return start_or_fail(server, need)

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session (shared: never stop or kill it)."""
    yield from serve(PgServer(tmp_path_factory.mktemp("pg")), PG_NEED)


@pytest.fixture
def pg_db(pg: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new database on `pg`, made for this test and dropped after it."""
    yield from fresh_database(pg, request.node.name)


@pytest.fixture
def make_pg(tmp_path: Path) -> Iterator[Callable[..., PgServer]]:
    """make_pg(**kwargs) -> a started PgServer of the test's own (stopped and removed after)."""
    yield from private_servers(PgServer, tmp_path / "pg", PG_NEED)


@pytest.fixture(scope="session")
def mysql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySqlServer]:
    """A MariaDB server for the whole session (shared: never stop or kill it)."""
    yield from serve(MySqlServer(tmp_path_factory.mktemp("mysql")), MYSQL_NEED)


@pytest.fixture
def my_db(mysql: MySqlServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new database on `mysql`, made for this test and dropped after it."""
    yield from fresh_database(mysql, request.node.name)


@pytest.fixture
def make_mysql(tmp_path: Path) -> Iterator[Callable[..., MySqlServer]]:
    """make_mysql() -> a started MySqlServer of the test's own (stopped and removed after)."""
    yield from private_servers(MySqlServer, tmp_path / "my", MYSQL_NEED)


# -- a local Spark ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Spark session (pyspark, the `spark` extra; Java 17), in UTC as medallion's
    DuckDB, with code generation off: the queries are small, and compiling them cost more than
    running them (the templates' Spark queries took twice as long)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.fail("the Spark tests need pyspark: pip install -c constraints.txt -e '.[spark]'")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("medallion-compile-test")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        # the JVM serves every Spark test of the session; medallion's own default is 4g
        .config("spark.driver.memory", "2g")
        # Spark sizes its sort and hash pages from the heap (64 MB here): every sort, join and
        # aggregate of a query holds at least one, as one array G1 must place in a contiguous
        # run of free regions. Over the suite that fragmented the shared 2g heap until a
        # 300-row query failed with OutOfMemoryError (CI); small pages are ordinary objects.
        .config("spark.buffer.pageSize", "1m")
        .config("spark.driver.extraJavaOptions", "-XX:G1HeapRegionSize=4m")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    )
    try:
        session = builder.getOrCreate()
    except Exception as e:  # no Java: pyspark says so in its own words
        pytest.fail(
            f"a local Spark session did not start ({e}): the Spark tests need Java 17 "
            "(apt-get install openjdk-17-jre-headless; .ci/run installs it)"
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Spark standalone cluster on 127.0.0.1 for the session: one master and one worker (1
    core, 1 GB for executors) started from the pyspark wheel (medallion.devservers.sparkcluster).
    `.master_url` is what a SparkSession's master is set to; `.status()` is the master's JSON and
    `.executors(ui_url, app_id)` an application's executors from its REST API. Shared: never
    stop it. Drive it from a child process: this one may hold the local `spark` session, which
    SparkSession.builder.getOrCreate() returns whatever the master. Missing Java or pyspark
    fails the test with what to install."""
    from medallion.devservers.sparkcluster import SparkCluster, SparkClusterError

    cluster = SparkCluster(tmp_path_factory.mktemp("spark-cluster"))
    try:
        cluster.start()
    except SparkClusterError as exc:
        cluster.cleanup()
        pytest.fail(
            f"the Spark cluster tests need a Spark standalone cluster: {exc}", pytrace=False
        )
    try:
        yield cluster
    finally:
        cluster.cleanup()
