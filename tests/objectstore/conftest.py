"""Emulated object stores for the tests: Azurite (Microsoft's Azure Storage emulator, from npm)
and moto's S3 server (from PyPI), each started once per session on 127.0.0.1 on a free port and
stopped at the end. A missing emulator fails the tests with how to install it (never a skip).

`store` is parametrized over both: a test using it runs on Azure (az:// and abfss:// URLs) and
on S3. `on_store(project_dir, store)` moves a project's lakehouse and landing folders onto it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medallion.devservers._store import StoreServer, StoreServerError
from medallion.devservers.azurite import AzuriteServer
from medallion.devservers.s3server import S3Server


def _serve(server: StoreServer) -> Iterator[StoreServer]:
    try:
        server.start()
    except StoreServerError as exc:
        server.cleanup()
        pytest.fail(f"the object-store tests need {server.product}: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    yield from _serve(AzuriteServer(tmp_path_factory.mktemp("azurite")))


@pytest.fixture(scope="session")
def s3server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    yield from _serve(S3Server(tmp_path_factory.mktemp("s3")))


@dataclass
class Store:
    """A fresh container/bucket on an emulator, for one test."""

    server: StoreServer
    bucket: str

    @property
    def scheme(self) -> str:
        return self.server.scheme

    def url(self, path: str = "") -> str:
        base = f"{self.scheme}://{self.bucket}"
        return f"{base}/{path}" if path else base

    @property
    def secret_var(self) -> str:
        return "TEST_STORE_SECRET"

    @property
    def secret(self) -> str:
        opts = self.server.storage_options()
        return opts.get("account_key") or opts["secret_access_key"]

    def options_yaml(self, indent: str = "  ") -> str:
        """storage_options: with the secret as ${TEST_STORE_SECRET}."""
        lines = []
        for key, value in self.server.storage_options().items():
            if value == self.secret:
                value = "${" + self.secret_var + "}"
            lines.append(f"{indent}{key}: {value}")
        return "\n".join(lines)

    def env(self, secret: str | None = None) -> dict[str, str]:
        """The environment a `medallion` child process runs with: this code first on the path,
        the store's secret in TEST_STORE_SECRET."""
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2] / "src")
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        env[self.secret_var] = self.secret if secret is None else secret
        return env

    @property
    def fs(self):
        return self.server.arrow_fs()

    def upload(self, local: Path, prefix: str) -> list[str]:
        """Copy the files under `local` to `<bucket>/<prefix>/...` (those not there yet)."""
        import pyarrow.fs as pafs

        fs = self.fs
        done = []
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            key = f"{self.bucket}/{prefix}/{path.relative_to(local).as_posix()}"
            if fs.get_file_info(key).type == pafs.FileType.NotFound:
                pafs.copy_files(str(path), key, destination_filesystem=fs)
                done.append(key)
        return done

    def exists(self, key: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(f"{self.bucket}/{key}").type != pafs.FileType.NotFound

    def keys(self, prefix: str = "") -> list[str]:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(
            pafs.FileSelector(
                f"{self.bucket}/{prefix}".rstrip("/"), recursive=True, allow_not_found=True
            )
        )
        return sorted(i.path for i in infos if i.type == pafs.FileType.File)


def _new_bucket(server: StoreServer) -> Store:
    name = f"t{uuid.uuid4().hex[:12]}"
    server.create_bucket(name)
    return Store(server, name)


@pytest.fixture(params=["azurite", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    server = request.getfixturevalue("azurite" if request.param == "azurite" else "s3server")
    return _new_bucket(server)


@pytest.fixture
def az_store(azurite: StoreServer) -> Store:
    return _new_bucket(azurite)


@pytest.fixture
def s3_store(s3server: StoreServer) -> Store:
    return _new_bucket(s3server)


def on_store(
    project: Path, store: Store, *, lakehouse: str = "lake", landing: str | None = "landing"
) -> None:
    """Point the project's `storage:` at `<store>/<lakehouse>` (with storage_options) and, with
    `landing`, its file sources' `path: data/...` at `<store>/<landing>/...` (uploading data/)."""
    config = project / "medallion.yml"
    text = config.read_text(encoding="utf-8")
    text, n = re.subn(
        r"^storage:.*$",
        f"storage: {store.url(lakehouse)}\nstorage_options:\n{store.options_yaml()}",
        text,
        count=1,
        flags=re.M,
    )
    assert n == 1
    if landing is not None:
        text = re.sub(r"(\bpath: )data/", rf"\g<1>{store.url(landing)}/", text)
        store.upload(project / "data", landing)
    config.write_text(text, encoding="utf-8")
