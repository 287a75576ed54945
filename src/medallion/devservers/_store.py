"""What the two object-store emulators share: a server process started on 127.0.0.1 that takes
HTTP once it listens, stopped with SIGTERM (see azurite.py and s3server.py)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Self

from medallion.devservers._server import ChildServer, LocalServerError


class StoreServerError(LocalServerError):
    """The emulator could not be found, started or stopped; the message says why and how to
    install it."""


class StoreServer(ChildServer):
    """A throwaway object-store emulator on 127.0.0.1: `command()` starts it; `endpoint` is
    its URL, `storage_options()` what medallion.yml needs to reach it, `create_bucket(name)`
    makes a container or bucket (medallion never creates one itself)."""

    error = StoreServerError
    #: what a URL of this store starts with (`az`, `s3`)
    scheme: ClassVar[str]

    def __init__(self, root: Path | str, port: int | None = None) -> None:
        super().__init__(root, port=port, timeout=60.0)
        self.log_path = self.root / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def storage_options(self) -> dict[str, str]:
        raise NotImplementedError

    def arrow_fs(self) -> Any:
        raise NotImplementedError

    @property
    def server_port(self) -> int:
        """The port the server process itself listens on (`port` unless a front is before it)."""
        return self.port

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def create_bucket(self, name: str) -> str:
        """Make the container or bucket `name`; returns `scheme://name`."""
        self.arrow_fs().create_dir(name)
        return f"{self.scheme}://{name}"

    def _start(self, *, keep_port: bool) -> Self:
        command = self.command()
        self.root.mkdir(parents=True, exist_ok=True)
        offset = self._log_size()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,  # whatever the server writes stays in its own folder
                start_new_session=True,
            )

        def listening() -> bool:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                return sock.connect_ex((self.host, self.server_port)) == 0

        if self._wait_until(listening, 0.1):
            return self
        tail = self._log_tail(20, offset) or ""
        self.stop()
        raise StoreServerError(
            f"{self.product} did not listen on {self.endpoint} in {self.timeout:.0f} s:\n{tail}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self.port}, running={self.running})"
