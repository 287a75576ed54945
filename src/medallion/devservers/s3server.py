"""An S3-compatible server for tests and demos of a lakehouse on S3: moto's server mode (from
PyPI, the `dev` extra), started in memory on 127.0.0.1. It supports what medallion needs of S3:
listing, ranged reads, and conditional writes (If-None-Match / If-Match), which delta-rs commits
and the writer lock rely on.

    with S3Server(tmp_path / "s3") as s3:
        s3.create_bucket("lake")
        options = s3.storage_options()    # access keys, region, endpoint
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from medallion.devservers._store import StoreServer, StoreServerError

ACCESS_KEY = "testing"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


class S3Server(StoreServer):
    product = "moto's S3 server"
    main_process = "moto_server"
    scheme = "s3"

    def command(self) -> list[str]:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise StoreServerError(
                "moto's server mode is not installed: pip install -e '.[dev]' "
                "(it brings moto[server])"
            )
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def storage_options(self) -> dict[str, str]:
        return {
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "region": REGION,
            "endpoint": self.endpoint,
        }

    def arrow_fs(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
            endpoint_override=f"{self.host}:{self.port}",
            scheme="http",
            allow_bucket_creation=True,
        )
