"""Users, groups and tokens in the state database, through the CLI: passwords kept only as
SCRAM verifiers (a login through the façade checks one), tokens stored hashed, the highest role
across a user's groups, every change audited."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

from medallion.governance.scram import ScramServer, client_exchange
from medallion.project import Project

CONFIG = """
name: ids
sources:
  customers: {path: data/customers.csv}
access:
  grants:
    analysts: [bronze.customers]
"""
FILES = {"data/customers.csv": "id,state\n1,CA\n"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "p", CONFIG, files=FILES)
    medallion("run", cwd=root, check=True)
    return root


def _login(project: Project, name: str, password: str) -> bool:
    user = project.authenticate(name)
    assert user is not None and user.verifier is not None
    server = ScramServer(user.verifier)
    first, client = client_exchange(password)
    try:
        final = server.server_final(client.final(server.server_first(first)))
    except Exception:
        return False
    return client.verify(final)


def test_users_passwords_are_scram_verifiers_only(root: Path) -> None:
    proc = subprocess_add(root, "val", "viewer", ["analysts"], password="s3cret pass")
    assert "added val (viewer; groups: analysts)" in proc.stdout
    stored = (
        sqlite3.connect(root / ".medallion/state.db")
        .execute("select verifier from users where name = 'val'")
        .fetchone()[0]
    )
    assert stored.startswith("SCRAM-SHA-256$4096:") and "s3cret" not in stored
    project = Project.load(root)
    assert _login(project, "val", "s3cret pass")
    assert not _login(project, "val", "wrong")
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "medallion", "users", "passwd", "val", "--password-stdin"],
        cwd=root,
        input="n3w pass word\n",
        text=True,
        check=True,
        capture_output=True,
    )
    assert _login(project, "val", "n3w pass word") and not _login(project, "val", "s3cret pass")
    assert project.authenticate("ghost") is None


def subprocess_add(root: Path, name: str, role: str, groups: list[str], password: str):
    import subprocess
    import sys

    args = [sys.executable, "-m", "medallion", "users", "add", name, "--role", role]
    for g in groups:
        args += ["--group", g]
    args.append("--password-stdin")
    proc = subprocess.run(args, cwd=root, input=password + "\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_highest_role_across_groups_wins(root: Path) -> None:
    subprocess_add(root, "ann", "viewer", ["ops"], password="ann password")
    project = Project.load(root)
    assert project.authenticate("ann").role == "viewer"  # type: ignore[union-attr]
    medallion("users", "group-role", "ops", "member", cwd=root, check=True)
    assert project.authenticate("ann").role == "member"  # type: ignore[union-attr]
    # a member reads every table; as a viewer without grants she read none
    proc = medallion("query", "--as", "ann", "select count(*) from bronze.customers", cwd=root)
    assert proc.returncode == 0, proc.stderr
    medallion("users", "groups", "ann", "--remove", "ops", cwd=root, check=True)
    proc = medallion("query", "--as", "ann", "select count(*) from bronze.customers", cwd=root)
    assert proc.returncode == 77


def test_bad_role_and_duplicate_user_are_clear(root: Path) -> None:
    proc = medallion("users", "add", "x", "--role", "owner", cwd=root)
    assert proc.returncode == 2 and "owner" in proc.stderr
    medallion("users", "add", "x", "--role", "viewer", cwd=root, check=True)
    proc = medallion("users", "add", "x", "--role", "viewer", cwd=root)
    assert proc.returncode != 0 and "exists already" in proc.stderr
    proc = medallion("query", "--as", "nope", "select 1", cwd=root)
    assert proc.returncode != 0 and "no user 'nope'" in proc.stderr


def test_tokens_are_stored_hashed_shown_once_and_revocable(root: Path) -> None:
    medallion(
        "users", "add", "bot", "--role", "viewer", "--group", "analysts", cwd=root, check=True
    )
    proc = medallion("tokens", "create", "bot", cwd=root, check=True)
    secret = proc.stdout.strip()
    token_id = proc.stderr.split()[1]
    assert secret.startswith("mdl_") and len(secret) > 40
    db = (root / ".medallion/state.db").read_bytes()
    assert secret.encode() not in db
    digest = (
        sqlite3.connect(root / ".medallion/state.db")
        .execute("select secret_hash from api_tokens")
        .fetchone()[0]
    )
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    project = Project.load(root)
    user = project.verify_token(secret)
    assert user is not None and user.name == "bot" and user.groups == ("analysts",)
    assert project.verify_token(secret + "x") is None
    listed = json.loads(medallion("tokens", "list", "--json", cwd=root, check=True).stdout)
    assert [t["token_id"] for t in listed] == [token_id] and listed[0]["last_used_at"]
    medallion("tokens", "revoke", token_id, cwd=root, check=True)
    assert project.verify_token(secret) is None


def test_changes_and_logins_are_audited(root: Path) -> None:
    medallion("users", "add", "eve", "--role", "viewer", cwd=root, check=True)
    medallion("users", "groups", "eve", "--add", "analysts", cwd=root, check=True)
    medallion("users", "remove", "eve", cwd=root, check=True)
    project = Project.load(root)
    project.audit_login("eve", False, "10.0.0.7", "psql", error="password authentication failed")
    project.audit_log.flush()
    proc = medallion("audit", "--json", cwd=root, check=True)
    events = [(e["action"], e["response_status"]) for e in json.loads(proc.stdout)]
    assert events == [
        ("user_add", "ok"),
        ("user_groups", "ok"),
        ("user_remove", "ok"),
        ("login", "failed"),
    ]
    login = json.loads(proc.stdout)[-1]
    assert login["source_address"] == "10.0.0.7" and login["client"] == "psql"
    only = json.loads(medallion("audit", "--user", "eve", "--json", cwd=root, check=True).stdout)
    assert [e["action"] for e in only] == ["login"]
    later = medallion("audit", "--since", "2999-01-01", "--json", cwd=root, check=True)
    assert json.loads(later.stdout) == []


def test_a_quiet_process_writes_its_audit_within_seconds(root: Path) -> None:
    """A server that logs one event and then idles: the event reaches the Delta table without
    a flush, where another process (medallion audit) reads it."""
    import time

    from medallion.governance import audit as audit_module

    project = Project.load(root)
    project.audit_login("ann", True, "127.0.0.1", "psql")
    deadline = time.monotonic() + audit_module.BATCH_SECONDS + 10
    while time.monotonic() < deadline:
        proc = medallion("audit", "--json", cwd=root, check=True)
        if [e["action"] for e in json.loads(proc.stdout)] == ["login"]:
            return
        time.sleep(0.5)
    raise AssertionError("the login was not written")
