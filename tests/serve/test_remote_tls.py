"""`medallion serve --host 0.0.0.0`: a client on another host must use TLS, as the HTTP side
refuses plain HTTP off loopback. Loopback here means 127.0.0.0/8 and ::1 (nothing sent there
crosses a network); the "other host" is this machine's own non-loopback address, which the
kernel routes like a remote client's."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from tests.serve.conftest import PASSWORD
from tests.serve.test_live_policy import start_serve, stop_serve
from tests.serve.test_psql import PSQL

from medallion.project import Project


def outside_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (`hostname -I`), None if none."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    for address in out.stdout.split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address) and not address.startswith("127."):
            return address
    return None


def psql(host: str, port: int, sslmode: str) -> subprocess.CompletedProcess[str]:
    dsn = f"host={host} port={port} dbname=shop user=alice password='{PASSWORD}' sslmode={sslmode}"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSWORD", None)
    return subprocess.run(
        [PSQL, "-X", "-At", dsn, "-c", "select count(*) from silver.orders"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_session_from_another_host_without_tls_is_refused(shop: Project) -> None:
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    proc, banner = start_serve(shop.root, "--host", "0.0.0.0", "--sql-port", "0")
    try:
        port = int(re.search(r"on 0\.0\.0\.0:(\d+)", banner[0]).group(1))  # type: ignore[union-attr]
        assert "host=0.0.0.0" not in "".join(banner)  # not an address a client can use

        plain = psql(address, port, "disable")
        assert plain.returncode == 2
        assert f"connection from {address} without TLS refused" in plain.stderr
        assert "sslmode=require" in plain.stderr

        encrypted = psql(address, port, "require")
        assert encrypted.returncode == 0, encrypted.stderr
        assert encrypted.stdout.strip() == "3"

        # on loopback nothing crosses a network: plain sessions still work (local tools)
        local = psql("127.0.0.1", port, "disable")
        assert local.returncode == 0, local.stderr
    finally:
        err = stop_serve(proc)
    assert "Traceback" not in err, err
    # the refusal is in the access audit, as a failed login from that address
    refused = [
        r
        for r in Project.load(shop.root).audit("alice").to_pylist()
        if r["action"] == "login" and r["response_error"] == "no TLS from another host"
    ]
    assert len(refused) == 1
    assert refused[0]["source_address"].startswith(address + ":")
    assert refused[0]["response_status"] == "failed"
