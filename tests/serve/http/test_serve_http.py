"""`medallion serve --http-port 0` as a user runs it: a real process serving the SQL endpoint
and the HTTP API side by side; /api/v1/tables over real HTTP with urllib (Basic auth), a 401
with its challenge, an xlsx download, and Ctrl-C stops both."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

from openpyxl import load_workbook
from tests.serve.http.conftest import PASSWORD

from medallion.project import Project


def get(url: str, user: str | None = "carl", password: str = PASSWORD) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_serve_http_port_answers_over_real_http_and_stops_on_ctrl_c(shop: Project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "serve", "--sql-port", "0", "--http-port", "0"],
        cwd=shop.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(5)]
        assert "SQL endpoint" in head[0]
        m = re.search(r"medallion HTTP API: http://127\.0\.0\.1:(\d+)/api/v1", head[4])
        assert m, head
        base = f"http://127.0.0.1:{m.group(1)}/api/v1"

        status, _, body = get(f"{base}/tables")
        assert status == 200
        listed = {f"{t['layer']}.{t['name']}" for t in json.loads(body)}
        assert "gold.sales_by_day" in listed and "bronze.orders" in listed

        status, _, body = get(f"{base}/tables", user="val")
        assert {t["layer"] for t in json.loads(body)} == {"silver", "gold"}

        status, headers, _ = get(f"{base}/tables", user=None)
        assert status == 401
        assert headers["www-authenticate"].startswith("Basic")

        status, headers, body = get(f"{base}/tables/gold/sales_by_day/rows?format=xlsx&order=1")
        assert status == 200
        rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))
        assert rows[0] == ("order_date", "total")
        assert len(rows) == 4
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped" in err


def test_serve_http_with_a_given_certificate_is_https(shop: Project) -> None:
    import ssl

    from medallion.serve.pgwire.server import self_signed

    cert, key = self_signed(shop.state_dir / "serve")  # as an operator's own, given by flags
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "medallion", "serve", "--sql-port", "0", "--http-port", "0",
            "--tls-cert", str(cert), "--tls-key", str(key),
        ],
        cwd=shop.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(5)]
        m = re.search(r"medallion HTTP API: https://127\.0\.0\.1:(\d+)/api/v1", head[4])
        assert m, head
        context = ssl.create_default_context(cafile=str(cert))
        request = urllib.request.Request(f"https://127.0.0.1:{m.group(1)}/api/v1/tables")
        token = base64.b64encode(f"carl:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            assert response.status == 200
            assert json.loads(response.read())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def test_serve_http_port_in_medallion_yml_starts_the_api(tmp_path) -> None:
    from tests.conftest import write_project

    root = write_project(tmp_path / "tiny", "name: tiny\nserve:\n  http_port: 0\n")
    Project.load(root).add_user("ada", "admin", [], PASSWORD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "serve", "--sql-port", "0"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(5)]
        m = re.search(r"medallion HTTP API: http://127\.0\.0\.1:(\d+)/api/v1", head[4])
        assert m, head
        status, _, body = get(f"http://127.0.0.1:{m.group(1)}/api/v1/tables", user="ada")
        assert (status, json.loads(body)) == (200, [])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
