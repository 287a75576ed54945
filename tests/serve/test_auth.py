"""The endpoint's login methods besides SCRAM-SHA-256: md5 for users who opted in (old drivers),
and trust for configured users, only from loopback.

libpq answers whatever method the server asks for, so psycopg logs in by md5 when the server
asks md5; which method the server asks a user for is read from a raw socket (the code of the
first Authentication message: 5 md5, 10 SASL, 0 ok)."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from tests.conftest import medallion
from tests.serve.conftest import PASSWORD, Endpoint, start
from tests.serve.test_psql import PSQL

from medallion.project import Project

OLD = "old driver pw"


def add_user(endpoint: Endpoint, *args: str, password: str) -> str:
    """`medallion users ARGS --password-stdin`, as an operator runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "medallion", "users", *args, "--password-stdin"],
        input=password + "\n",
        cwd=endpoint.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def auth_request(port: int, user: str, source: str | None = None) -> int:
    """The code of the server's first Authentication message to a plain startup as `user`
    (from address `source` when given)."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0) if source else None
    ) as sock:
        params = b"".join(k + b"\0" + v + b"\0" for k, v in ((b"user", user.encode()),))
        params += b"database\0shop\0\0"
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        head = sock.recv(5, socket.MSG_WAITALL)
        assert head[:1] == b"R", head
        (code,) = struct.unpack("!i", sock.recv(4, socket.MSG_WAITALL))
        return code


@pytest.fixture(scope="module")
def md5_users(endpoint: Endpoint) -> Endpoint:
    add_user(endpoint, "add", "oldie", "--role", "contributor", "--md5", password=OLD)
    add_user(endpoint, "add", "modern", "--role", "contributor", password=OLD)
    return endpoint


def test_a_user_with_md5_is_asked_for_md5_and_logs_in_with_psycopg(md5_users: Endpoint) -> None:
    assert auth_request(md5_users.port, "oldie") == 5
    for sslmode in ("disable", "require"):
        dsn = md5_users.dsn(user="oldie", password=OLD, sslmode=sslmode)
        with psycopg.connect(dsn, connect_timeout=10) as con:
            assert con.execute("select count(*) from silver.orders").fetchone() == (3,)


def test_a_user_without_md5_is_asked_for_scram(md5_users: Endpoint) -> None:
    assert auth_request(md5_users.port, "modern") == 10
    assert auth_request(md5_users.port, "nobody-here") == 10  # unknown names: SCRAM too
    with psycopg.connect(md5_users.dsn(user="modern", password=OLD), connect_timeout=10) as con:
        assert con.execute("select 1").fetchone() == (1,)


def test_a_wrong_md5_password_is_28p01(md5_users: Endpoint) -> None:
    dsn = md5_users.dsn(user="oldie", password="not it", sslmode="disable")
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(dsn, connect_timeout=10)
    assert 'password authentication failed for user "oldie"' in str(err.value)
    raw = socket.create_connection(("127.0.0.1", md5_users.port), timeout=10)
    with raw:  # the SQLSTATE itself, read off the wire
        params = b"user\0oldie\0database\0shop\0\0"
        raw.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        kind, length, code = struct.unpack("!cii", raw.recv(9, socket.MSG_WAITALL))
        salt = raw.recv(length - 8, socket.MSG_WAITALL)
        assert (kind, code, len(salt)) == (b"R", 5, 4)
        answer = b"md5" + b"0" * 32 + b"\0"
        raw.sendall(b"p" + struct.pack("!i", 4 + len(answer)) + answer)
        kind, length = struct.unpack("!ci", raw.recv(5, socket.MSG_WAITALL))
        fields = raw.recv(length - 4, socket.MSG_WAITALL)
        assert kind == b"E"
        assert b"C28P01\0" in fields
    logins = [
        r for r in md5_users.project.audit(user="oldie").to_pylist() if r["action"] == "login"
    ]
    methods = {(r["response_status"], json.loads(r["request"])["method"]) for r in logins}
    assert ("failed", "md5") in methods and ("ok", "md5") in methods


def test_md5_needs_a_password(md5_users: Endpoint) -> None:
    args = ("users", "add", "nopass", "--role", "viewer", "--md5")
    out = medallion(*args, cwd=md5_users.root)
    assert out.returncode == 2 and "--md5 needs a password" in out.stderr
    out = medallion("users", "passwd", "oldie", "--clear", "--md5", cwd=md5_users.root)
    assert out.returncode == 2 and "--md5 needs a password" in out.stderr


def test_users_list_shows_md5_and_passwd_without_md5_clears_it(md5_users: Endpoint) -> None:
    listed = json.loads(medallion("users", "list", "--json", cwd=md5_users.root, check=True).stdout)
    md5 = {u["name"]: u["md5"] for u in listed}
    assert md5["oldie"] is True
    assert md5["modern"] is False
    text = medallion("users", "list", cwd=md5_users.root, check=True).stdout
    assert "password+md5" in next(line for line in text.splitlines() if line.startswith("oldie"))
    assert "old driver pw" not in text and "md5" + "0" not in text  # no secret is printed
    add_user(md5_users, "passwd", "modern", "--md5", password=OLD)
    assert auth_request(md5_users.port, "modern") == 5
    add_user(md5_users, "passwd", "modern", password=OLD)
    assert auth_request(md5_users.port, "modern") == 10
    listed = json.loads(medallion("users", "list", "--json", cwd=md5_users.root, check=True).stdout)
    assert {u["name"]: u["md5"] for u in listed}["modern"] is False


def test_the_stored_md5_form_is_postgres_own(md5_users: Endpoint) -> None:
    # PostgreSQL: rolpassword = 'md5' || md5(password || rolname)
    import hashlib

    oldie = md5_users.project.identities.require("oldie")
    assert oldie.md5 == "md5" + hashlib.md5(b"old driver pwoldie").hexdigest()
    assert "old driver pw" not in repr(oldie)


# -- trust ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trusting(endpoint: Endpoint) -> Iterator[Endpoint]:
    """The same project with `serve: trust: [nopw]` in medallion.yml, served anew."""
    config = endpoint.root / "medallion.yml"
    config.write_text(config.read_text() + "serve:\n  trust: [nopw, ghost]\n")
    project = Project.load(endpoint.root)
    server = start(project)
    yield Endpoint(server, project, endpoint.root)
    server.stop()


def psql_without_password(endpoint: Endpoint, user: str) -> subprocess.CompletedProcess[str]:
    dsn = f"host=127.0.0.1 port={endpoint.port} dbname=shop user={user}"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSWORD", None)
    return subprocess.run(
        [
            PSQL,
            "-X",
            "--no-psqlrc",
            "-w",
            dsn,
            "-At",
            "-c",
            "select count(*) from gold.sales_by_day",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_trusted_user_logs_in_from_loopback_without_a_password(trusting: Endpoint) -> None:
    out = psql_without_password(trusting, "nopw")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    logins = [r for r in trusting.project.audit(user="nopw").to_pylist() if r["action"] == "login"]
    ok = [r for r in logins if r["response_status"] == "ok"]
    assert ok and {json.loads(r["request"])["method"] for r in ok} == {"trust"}


def test_an_untrusted_user_still_needs_a_password(trusting: Endpoint) -> None:
    out = psql_without_password(trusting, "alice")
    assert out.returncode == 2
    assert "password" in out.stderr
    with psycopg.connect(trusting.dsn(user="alice", password=PASSWORD), connect_timeout=10):
        pass


def test_trust_is_only_for_127_0_0_1(trusting: Endpoint) -> None:
    assert auth_request(trusting.port, "nopw") == 0
    assert auth_request(trusting.port, "ghost") == 10  # trusted, but no such user
    # another address (127.0.0.2 reaches the server but is not 127.0.0.1): asked for a password
    assert auth_request(trusting.port, "nopw", source="127.0.0.2") == 10
    secret = b"x" * 32
    assert trusting.project.login_exchange("nopw", secret, "10.1.2.3").mechanism == "SCRAM-SHA-256"
    assert trusting.project.login_exchange("nopw", secret, "::1").mechanism == "trust"


def test_trust_without_configuration_asks_everyone(endpoint: Endpoint) -> None:
    # the module's first endpoint was loaded before serve.trust was written
    assert endpoint.project.login_exchange("nopw", b"x" * 32, "127.0.0.1").mechanism != "trust"
