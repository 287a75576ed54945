"""`medallion serve` as a user runs it: it prints where it listens and the certificate's
fingerprint, answers clients (a user it does not know gets 28P01, over a TLS connection that
verifies the printed certificate), and Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

from tests.serve.test_psql import PSQL

from medallion.project import Project


def test_serve_prints_where_it_listens_and_stops_on_ctrl_c(shop: Project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "serve", "--sql-port", "0"],
        cwd=shop.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(4)]
        m = re.search(r"project shop on 127\.0\.0\.1:(\d+)", head[0])
        assert m, head
        port = m.group(1)
        cert = Path(head[1].split(": ", 1)[1].strip())
        if not cert.is_absolute():
            cert = shop.root / cert
        printed = head[2].split(": ", 1)[1].strip()
        assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", printed)
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
        import hashlib

        assert printed.replace(":", "").lower() == hashlib.sha256(der).hexdigest()
        assert f"port={port} dbname=shop" in head[3]

        # the certificate verifies (verify-full: it names 127.0.0.1); nobody is a user yet
        out = subprocess.run(
            [
                PSQL,
                "-X",
                f"host=127.0.0.1 port={port} dbname=shop user=nobody password=x "
                f"sslmode=verify-full sslrootcert={cert}",
                "-c",
                "select 1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2
        assert 'password authentication failed for user "nobody"' in out.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert "Traceback" not in err


def test_serve_refuses_a_port_in_use(shop: Project) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "medallion", "serve", "--sql-port", str(port)],
            cwd=shop.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "--sql-port" in out.stderr
    assert "Traceback" not in out.stderr
