"""Azurite, Microsoft's Azure Storage emulator (blob service), as a throwaway server for tests
and demos of a lakehouse on ADLS Gen2 / OneLake / Blob storage.

Installed from the npm registry into the project's `.azurite/` folder (`make azurite`, which the
test set-up runs): `npm install --prefix .azurite azurite`. Started in memory on 127.0.0.1 with
telemetry off (it would call out to the internet otherwise). Azurite serves the blob endpoint
only, no dfs: deltalake and pyarrow reach it through the blob API with an endpoint override,
which `storage_options()` gives (so an abfss:// URL maps to it too).

    with AzuriteServer(tmp_path / "az") as az:
        az.create_bucket("lake")          # a container
        options = az.storage_options()    # account name, key, endpoint
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

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

    def command(self) -> list[str]:
        binary = find_azurite()
        if binary is None or shutil.which("node") is None:
            raise StoreServerError(_INSTALL_HINT)
        return [
            binary,
            "--blobHost",
            self.host,
            "--blobPort",
            str(self.port),
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
