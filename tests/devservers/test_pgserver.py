"""PgServer against a real PostgreSQL: connecting, authentication, a crash and restart, isolated
databases, clear errors, the command line. No mocks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from medallion.devservers.pgserver import PgServer, PgServerError, find_pg_bin


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def startup_sqlstate(host: str, port: int, user: str, password: str) -> str:
    """Log in over the v3 wire protocol with SCRAM-SHA-256: "ok", or the SQLSTATE of the
    server's ErrorResponse. (libpq, hence psycopg, reports errors during connection as text
    only, without the SQLSTATE.)"""
    with socket.create_connection((host, port), timeout=10) as sock:

        def send(tag: bytes, payload: bytes) -> None:
            sock.sendall(tag + struct.pack("!i", len(payload) + 4) + payload)

        startup = b"user\0" + user.encode() + b"\0database\0postgres\0\0"
        send(b"", struct.pack("!i", 3 << 16) + startup)  # StartupMessage, protocol 3.0
        client_first_bare = "n=,r=" + base64.b64encode(os.urandom(18)).decode()
        while True:
            header = _recv_exact(sock, 5)
            body = _recv_exact(sock, struct.unpack("!i", header[1:])[0] - 4)
            if header[:1] == b"E":  # ErrorResponse: (field type, C string)*, then \0
                fields = {item[:1]: item[1:].decode() for item in body.split(b"\0") if item}
                return fields[b"C"]
            assert header[:1] == b"R", header
            request = struct.unpack("!i", body[:4])[0]
            if request == 0:  # AuthenticationOk
                return "ok"
            if request == 10:  # AuthenticationSASL: the mechanisms offered
                assert b"SCRAM-SHA-256\0" in body[4:]
                first = ("n,," + client_first_bare).encode()
                send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
            elif request == 11:  # AuthenticationSASLContinue: r=nonce,s=salt,i=iterations
                server_first = body[4:].decode()
                attrs = dict(item.split("=", 1) for item in server_first.split(","))
                salted = hashlib.pbkdf2_hmac(
                    "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
                )
                client_key = hmac.digest(salted, b"Client Key", "sha256")
                final_bare = f"c=biws,r={attrs['r']}"
                auth_message = f"{client_first_bare},{server_first},{final_bare}".encode()
                signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
                proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
                send(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
            elif request != 12:  # 12: AuthenticationSASLFinal, then AuthenticationOk
                raise AssertionError(f"unexpected authentication request {request}")


def assert_refused(server: PgServer) -> None:
    """Nothing listens on the server's port any more."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=5).close()
    with pytest.raises(psycopg.OperationalError, match=r"(?i)connection refused"):
        psycopg.connect(server.dsn(), connect_timeout=5)


@pytest.mark.postgres
def test_binaries_are_found() -> None:
    bin_dir = find_pg_bin()
    assert bin_dir is not None, "PostgreSQL server binaries not found: install postgresql"
    assert all((bin_dir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


@pytest.mark.postgres
def test_connect_with_the_dsn(pg: PgServer, pg_db: str) -> None:
    database = urlsplit(pg_db).path.lstrip("/")
    assert pg_db == f"postgresql://medallion:secret@127.0.0.1:{pg.port}/{database}"
    with psycopg.connect(pg_db) as conn:
        row = conn.execute(
            "select current_user, current_database(), inet_server_addr()::text,"
            " current_setting('listen_addresses'), current_setting('fsync'),"
            " current_setting('TimeZone'), current_setting('server_version_num')::int,"
            " (select count(*) from information_schema.tables where table_schema = 'public')"
        ).fetchone()
        hba = conn.execute(
            "select type, auth_method from pg_hba_file_rules where database = '{all}' order by 1"
        ).fetchall()
    assert row is not None
    user, current_db, server_addr, listen, fsync, tz, version, user_tables = row
    assert (user, current_db, server_addr, listen) == (
        "medallion",
        database,
        "127.0.0.1/32",
        pg.host,
    )
    assert (fsync, tz, user_tables) == ("off", "UTC", 0)
    assert version >= 120000
    assert hba == [("host", "scram-sha-256"), ("local", "trust")]


@pytest.mark.postgres
def test_wrong_password_is_an_authentication_failure(pg: PgServer) -> None:
    wrong = f"postgresql://medallion:wrong@127.0.0.1:{pg.port}/postgres"
    assert wrong == pg.dsn().replace(":secret@", ":wrong@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)
    assert startup_sqlstate(pg.host, pg.port, pg.user, "wrong") == "28P01"  # invalid_password
    assert startup_sqlstate(pg.host, pg.port, pg.user, pg.password) == "ok"


@pytest.mark.postgres
def test_kill_refuses_connections_and_restart_recovers(make_pg: Callable[..., PgServer]) -> None:
    server = make_pg()
    with psycopg.connect(server.dsn()) as conn:
        conn.execute("create table t (id int primary key, note text)")
        conn.execute("insert into t values (1, 'before the crash')")
    open_conn = psycopg.connect(server.dsn())
    port, pid = server.port, server.pid

    server.kill()
    assert not server.running
    assert_refused(server)
    with pytest.raises(psycopg.OperationalError):
        open_conn.execute("select 1")
    open_conn.close()

    server.restart()  # crash recovery on the same port and data directory
    assert server.running and server.port == port and server.pid != pid
    assert "not properly shut down; automatic recovery in progress" in server.log_path.read_text()
    with psycopg.connect(server.dsn()) as conn:
        assert conn.execute("select id, note from t").fetchall() == [(1, "before the crash")]

    server.stop()  # clean stop, then a clean restart
    assert not server.running
    assert_refused(server)
    server.restart()
    with psycopg.connect(server.dsn()) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (1,)


@pytest.mark.postgres
def test_two_databases_are_isolated(pg: PgServer, pg_db: str) -> None:
    other = f"other_{uuid.uuid4().hex[:8]}"
    pg.create_database(other)
    try:
        with psycopg.connect(pg_db) as conn:
            conn.execute("create table orders (id int)")
            conn.execute("insert into orders values (1), (2)")
        with psycopg.connect(pg.dsn(other)) as conn:
            with pytest.raises(psycopg.errors.UndefinedTable):
                conn.execute("select * from orders")
            conn.rollback()
            conn.execute("create table orders (id int)")
            conn.execute("insert into orders values (3)")
        with psycopg.connect(pg_db) as conn:
            assert conn.execute("select id from orders order by id").fetchall() == [(1,), (2,)]
        with psycopg.connect(pg.dsn(other)) as conn:
            assert conn.execute("select id from orders").fetchall() == [(3,)]
    finally:
        pg.drop_database(other)


def test_missing_binaries_fail_with_an_install_hint(tmp_path: Path) -> None:
    server = PgServer(tmp_path / "pg", bin_dir=tmp_path / "no-postgres-here")
    with pytest.raises(PgServerError) as info:
        server.start()
    message = str(info.value)
    assert message.startswith(
        "PostgreSQL server binaries not found: install postgresql (apt-get install postgresql"
    )
    assert "lacks initdb, pg_ctl, postgres" in message


@pytest.mark.postgres
def test_a_failed_start_reports_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as blocker:  # the port is taken: postgres cannot listen on it
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = PgServer(tmp_path / "pg", port=port)
        try:
            with pytest.raises(PgServerError) as info:
                server.start()
            assert not server.running
        finally:
            server.cleanup()
    message = str(info.value)
    assert message.startswith("PostgreSQL failed to start")
    assert f"--- last lines of {server.log_path} ---" in message
    assert "Address already in use" in message


@pytest.mark.postgres
def test_a_long_root_gets_a_short_socket_path() -> None:
    # Not tmp_path: run as root, the server's OS user cannot enter pytest's private directory and
    # the cluster would move to /tmp anyway; here it stays under the long root.
    base = Path(tempfile.mkdtemp(prefix="pgserver-test-"))
    base.chmod(0o755)
    try:
        deep = base / ("d" * 120)
        with PgServer(deep) as server:
            assert server.data_dir == deep / "data"
            assert not server.socket_dir.is_relative_to(deep)
            assert len(str(server.socket_dir / f".s.PGSQL.{server.port}")) < 100
            socket_dsn = f"host={server.socket_dir} port={server.port} dbname=postgres"
            with psycopg.connect(f"{socket_dsn} user=medallion") as conn:  # trusted unix socket
                assert conn.execute("select 1").fetchone() == (1,)
        assert not server.socket_dir.exists()  # the short socket directory was temporary
        assert (deep / "data" / "PG_VERSION").exists()  # the cluster under root is kept
    finally:
        shutil.rmtree(base)


@pytest.mark.postgres
def test_the_server_runs_unprivileged(tmp_path: Path) -> None:
    """As root the server runs as the `postgres` OS user (PostgreSQL refuses root); when that
    user cannot enter the given directory, the cluster lives under /tmp until cleanup()."""
    expected_uid = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    with PgServer(tmp_path / "pg") as server:
        assert server.pid is not None
        assert os.stat(f"/proc/{server.pid}").st_uid == expected_uid
        assert server.data_dir.stat().st_uid == expected_uid
        data_dir = server.data_dir
    assert not server.running
    assert data_dir.exists() == data_dir.is_relative_to(tmp_path)


@pytest.mark.postgres
def test_command_line_prints_a_dsn_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion.devservers.pgserver", str(tmp_path / "pg")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        dsn = proc.stdout.readline().strip()
        if not dsn.startswith("postgresql://medallion:secret@127.0.0.1:"):
            proc.kill()
            pytest.fail(f"no DSN printed: {dsn!r} {proc.communicate()[1]}")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = urlsplit(dsn).port
    assert port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
