"""Azurite, Microsoft's Azure Storage emulator (blob service), as a throwaway server for tests
and demos of a lakehouse on ADLS Gen2 / OneLake / Blob storage.

Installed from the npm registry into the project's `.azurite/` folder (`make azurite`, which the
test set-up runs): `npm install --prefix .azurite azurite`. Started in memory on 127.0.0.1 with
telemetry off (it would call out to the internet otherwise). Azurite serves the blob endpoint
only, no dfs: deltalake and pyarrow reach it through the blob API with an endpoint override,
which `storage_options()` gives (so an abfss:// URL maps to it too).

One gap of Azurite is bridged here: it ignores List Blobs' `startFrom` parameter, which the Rust
object_store (delta-rs's and obstore's) sends to list a Delta log from a version on, so delta-rs
sees old commits again and refuses to write a table's third version ("Invalid table version").
The server therefore listens behind a small front on `port` that answers such a listing as Azure
does (only names >= startFrom); every other request passes through untouched. (Rewriting the
request instead would break its SharedKey signature, which covers the query.)

    with AzuriteServer(tmp_path / "az") as az:
        az.create_bucket("lake")          # a container
        options = az.storage_options()    # account name, key, endpoint
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from medallion.devservers._server import free_port
from medallion.devservers._store import StoreServer, StoreServerError

#: Azurite's well-known development account and key (public: documented by Microsoft)
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: the version the test set-up installs (Makefile `azurite`)
VERSION = "3.37.0"

_INSTALL_HINT = (
    "Azurite (Microsoft's Azure Storage emulator) is not installed: run `make azurite` "
    f"(npm install --prefix .azurite azurite@{VERSION}; needs Node.js 20 and npm, on Debian "
    "`apt-get install nodejs npm`), or put azurite-blob on PATH"
)


def find_azurite() -> str | None:
    """azurite-blob: $MEDALLION_AZURITE, the checkout's `.azurite/`, or PATH."""
    given = os.environ.get("MEDALLION_AZURITE")
    if given:
        return given
    checkout = Path(__file__).resolve().parents[3] / ".azurite" / "node_modules" / ".bin"
    local = checkout / "azurite-blob"
    if local.exists():
        return str(local)
    return shutil.which("azurite-blob")


class AzuriteServer(StoreServer):
    product = "Azurite"
    main_process = "azurite-blob"
    scheme = "az"

    def __init__(self, root: Path | str, port: int | None = None) -> None:
        super().__init__(root, port)
        self._inner_port = free_port(self.host)
        self._front: subprocess.Popen[bytes] | None = None

    @property
    def server_port(self) -> int:
        return self._inner_port

    def _start(self, *, keep_port: bool) -> Self:
        super()._start(keep_port=keep_port)
        if self._front is None or self._front.poll() is not None:
            # a process of its own: a client in this process (deltalake holds the GIL while it
            # waits for the store) must not wait for a thread of this process
            code = (
                "from medallion.devservers.azurite import _ListFront; "
                f"_ListFront({self.host!r}, {self.port}, {self._inner_port}).serve()"
            )
            # this very medallion package, wherever it was imported from
            package_root = str(Path(__file__).resolve().parents[2])
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
            with open(self.log_path, "ab") as log:
                self._front = subprocess.Popen(
                    [sys.executable, "-c", code],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

            def listening() -> bool:
                with socket.socket() as sock:
                    return sock.connect_ex((self.host, self.port)) == 0

            if not self._wait_until(listening, 0.05):
                self.stop()
                raise StoreServerError(f"Azurite's front did not listen on {self.endpoint}")
        return self

    def stop(self) -> None:
        super().stop()
        if self._front is not None:
            self._front.terminate()
            try:
                self._front.wait(10)
            except subprocess.TimeoutExpired:
                self._front.kill()
                self._front.wait(10)
            self._front = None

    def kill(self) -> None:
        """SIGKILL Azurite (the store goes away; its front then refuses connections)."""
        super().kill()

    def command(self) -> list[str]:
        binary = find_azurite()
        if binary is None or shutil.which("node") is None:
            raise StoreServerError(_INSTALL_HINT)
        return [
            binary,
            "--blobHost",
            self.host,
            "--blobPort",
            str(self._inner_port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",  # the Rust and C++ SDKs may speak a newer API version
            "--loose",
            "--silent",
        ]

    @property
    def account_endpoint(self) -> str:
        return f"{self.endpoint}/{ACCOUNT}"

    def storage_options(self) -> dict[str, str]:
        return {
            "account_name": ACCOUNT,
            "account_key": KEY,
            "endpoint": self.account_endpoint,
        }

    def arrow_fs(self) -> Any:
        import pyarrow.fs as pafs

        authority = f"{self.host}:{self.port}"
        return pafs.AzureFileSystem(
            ACCOUNT,
            account_key=KEY,
            blob_storage_authority=authority,
            blob_storage_scheme="http",
            dfs_storage_authority=authority,
            dfs_storage_scheme="http",
        )

    def sas_token(self, *, expiry: str, permissions: str = "racwdl") -> str:
        """A container-less account SAS (blob service; signed with the account key) valid until
        `expiry` (ISO 8601 'YYYY-MM-DDTHH:MM:SSZ'): how tests make a valid or an expired one."""
        import base64
        import hashlib
        import hmac
        from urllib.parse import quote

        version = "2021-08-06"
        fields = [ACCOUNT, permissions, "b", "sco", "", expiry, "", "https,http", version, ""]
        to_sign = "\n".join(fields) + "\n"
        sig = base64.b64encode(
            hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        return (
            f"sv={version}&ss=b&srt=sco&sp={permissions}&se={quote(expiry)}"
            f"&spr=https,http&sig={quote(sig, safe='')}"
        )


_REQUEST_LINE = re.compile(rb"^GET (\S+) HTTP/1\.[01]$")
_BLOB = re.compile(rb"<Blob>.*?</Blob>", re.S)
_NAME = re.compile(rb"<Name>(.*?)</Name>", re.S)


class _ListFront:
    """A TCP front of Azurite on `port` (see the module's docstring)."""

    def __init__(self, host: str, port: int, inner: int) -> None:
        self.inner = (host, inner)
        self._listener = socket.create_server((host, port))
        self._closed = False

    def serve(self) -> None:
        """Forward until the process is terminated."""
        self._accept()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.inner)
            except OSError:  # Azurite is down: so is the store
                client.close()
                continue
            state: dict[str, bytes | None] = {"start": None}
            threading.Thread(
                target=self._requests, args=(client, upstream, state), daemon=True
            ).start()
            threading.Thread(
                target=self._responses, args=(upstream, client, state), daemon=True
            ).start()

    @staticmethod
    def _requests(src: socket.socket, dst: socket.socket, state: dict[str, bytes | None]) -> None:
        try:
            while data := src.recv(65536):
                first = data.partition(b"\r\n")[0]
                line = _REQUEST_LINE.match(first)  # (a chunk of a body is no request)
                query = urlsplit(line.group(1).decode("latin-1")).query if line else ""
                start = parse_qs(query).get("startFrom")
                if start:
                    state["start"] = start[0].encode()  # its response is answered whole
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    @staticmethod
    def _responses(src: socket.socket, dst: socket.socket, state: dict[str, bytes | None]) -> None:
        try:
            buffered = b""
            while data := src.recv(65536):
                start = state["start"]
                if start is None:
                    dst.sendall(data)
                    continue
                buffered += data
                if _complete(buffered):
                    state["start"] = None
                    dst.sendall(_from(buffered, start))
                    buffered = b""
        except OSError:
            pass
        finally:
            for s in (dst, src):
                with contextlib.suppress(OSError):
                    s.close()


def _complete(response: bytes) -> bool:
    """Whether `response` holds a whole HTTP response (chunked, or with a Content-Length)."""
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        return body.endswith(b"0\r\n\r\n") and (body == b"0\r\n\r\n" or b"\r\n0\r\n" in body[-9:])
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is None or len(body) >= int(length.group(1))


def _from(response: bytes, start: bytes) -> bytes:
    """A List Blobs response with only the blobs named `start` or after."""
    head, _, body = response.partition(b"\r\n\r\n")
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        out = b""
        while body:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, body = out + body[:size], body[size + 2 :]
        body = out
    first = html.unescape(start.decode())

    def keep(m: re.Match[bytes]) -> bytes:
        name = _NAME.search(m.group(0))
        return m.group(0) if name is None or html.unescape(name.group(1).decode()) >= first else b""

    body = _BLOB.sub(keep, body)
    head = re.sub(rb"(?im)^(?:transfer-encoding|content-length):[^\r\n]*(?:\r\n)?", b"", head)
    return head.rstrip(b"\r\n") + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
