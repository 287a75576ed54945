"""A DSN's password never reaches a message, the log file, the run log or the API, whatever
way the user wrote it: a quoted key=value password with a space, and a URL whose password
holds an '@' the user did not write as %40 (the driver would take its tail for the host name
and print it). Nothing listens on the DSNs' port: the failures are real driver failures."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import medallion

CONFIG = """\
name: x1
sources:
  a: {path: data/a.csv}
publish:
  w:
    type: postgres
    dsn: ${WAREHOUSE_DSN}
    tables: [bronze.a]
    retries: 1
    retry_backoff: 0
"""


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        (
            "host=127.0.0.1 port={port} dbname=wh user=u password='Quoted SecretXYZ'",
            "password=***",
        ),
        ("postgresql://u:Pa@ssXYZ@127.0.0.1:{port}/wh", "unescaped '@'"),
        ("postgresql://u:Pa#ssXYZ@127.0.0.1:{port}/wh", "unescaped '@', '/', '?' or '#'"),
        ("postgresql://u:Pa?ssXYZ@127.0.0.1:{port}/wh", "unescaped '@', '/', '?' or '#'"),
        ("postgresql://u:Pa/ssXYZ@127.0.0.1:{port}/wh", "unescaped '@', '/', '?' or '#'"),
        ("postgresql://:SecretXYZ@127.0.0.1:{port}/wh", "postgresql://:***@"),
        ('host=127.0.0.1 port={port} user=u password="dq SecretXYZ"', "password=***"),
    ],
)
def test_a_dsn_password_is_never_shown(tmp_path: Path, dsn: str, said: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n")
    (tmp_path / "medallion.yml").write_text(CONFIG)
    env = {**os.environ, "WAREHOUSE_DSN": dsn.format(port=_dead_port())}

    run = medallion("run", "--log-file", "run.log", cwd=tmp_path, env=env)
    publish = medallion("publish", cwd=tmp_path, env=env)

    assert run.returncode != 0 and publish.returncode != 0
    assert said in run.stdout + run.stderr
    for text in (
        run.stdout + run.stderr,
        publish.stdout + publish.stderr,
        (tmp_path / "run.log").read_text(),
    ):
        assert "XYZ" not in text and "Secret" not in text
    with sqlite3.connect(tmp_path / ".medallion" / "state.db") as con:
        errors = [r[0] or "" for r in con.execute("select error from run_steps")]
    assert errors and not any("XYZ" in e for e in errors)


def test_an_unknown_host_is_not_retried(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n")
    (tmp_path / "medallion.yml").write_text(CONFIG.replace("retries: 1", "retries: 5"))
    env = {**os.environ, "WAREHOUSE_DSN": "host=no-such-host.invalid dbname=wh user=u password=pw"}

    proc = medallion("run", cwd=tmp_path, env=env)

    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "check the host name in the DSN" in out
    assert "retr" not in out.split("check the host name")[0].lower()
