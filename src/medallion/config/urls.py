"""Object-store URLs in medallion.yml (`storage:`, a source's `path:`): which are supported, what
they name, and the `storage_options:` keys that go with them.

This is syntax only (no network, no credentials): `medallion.storage.location` turns a parsed
URL and its options into clients. A value that looks like a URL but is not a supported one is
an error here, never a local path: `az:/lake` must not quietly become a folder named `az:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

#: what the error for an unsupported URL lists
SUPPORTED = (
    "abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH (ADLS Gen2), "
    "abfss://WORKSPACE@onelake.dfs.fabric.microsoft.com/PATH (OneLake), az://CONTAINER/PATH, "
    "s3://BUCKET/PATH, gs://BUCKET/PATH"
)

#: scheme as written -> the store it names
_SCHEMES: dict[str, Literal["az", "s3", "gs"]] = {
    "abfss": "az",
    "abfs": "az",
    "az": "az",
    "azure": "az",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gs",
    "gcs": "gs",
}

#: `scheme:` then at least one slash; a single letter is a Windows drive (`C:/data`), not a URL
_URLISH = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):(?P<rest>/.*|$)", re.S)
_FULL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)$"
)
#: containers and buckets: lower-case letters, digits, '-' (S3 and GCS also '.'), 3-63 chars
_BUCKET = {
    "az": re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$"),
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    "gs": re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"),
}
#: ADLS Gen2 / Blob and OneLake hosts of abfss:// URLs
_AZURE_HOST = re.compile(
    r"^(?P<account>[a-z0-9-]+)\.(?:dfs|blob)\.(?P<suffix>core\.windows\.net|fabric\.microsoft\.com)$"
)


@dataclass(frozen=True)
class StoreUrl:
    """A parsed object-store URL: the store (`az`, `s3`, `gs`), the container or bucket, the
    key prefix inside it (no leading or trailing '/'), and for abfss:// URLs the account and
    whether it is OneLake (Fabric's endpoint)."""

    scheme: Literal["az", "s3", "gs"]
    bucket: str
    path: str
    account: str | None = None
    fabric: bool = False

    def __str__(self) -> str:
        """The canonical form (`az://container/path`): the account travels in the options."""
        return f"{self.scheme}://{self.bucket}" + (f"/{self.path}" if self.path else "")


def is_url(text: str) -> bool:
    """Whether `text` is meant as a URL (`scheme:/...`), supported or not."""
    return bool(_URLISH.match(text.strip()))


def parse_url(text: str) -> StoreUrl:
    """The store URL `text`, or ValueError saying what is wrong and what is supported."""
    text = text.strip()
    m = _FULL.match(text)
    urlish = _URLISH.match(text)
    scheme = (m or urlish).group("scheme").lower() if (m or urlish) else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"{text!r}: the URL scheme {scheme + '://'!r} is not supported; use {SUPPORTED}"
        )
    if m is None:
        raise ValueError(f"{text!r} is not a well-formed URL: write {scheme}://... ({SUPPORTED})")
    store = _SCHEMES[scheme]
    authority, path = m.group("authority"), m.group("path").strip("/")
    if "//" in path:
        raise ValueError(f"{text!r}: the path has an empty segment ('//')")
    account = None
    fabric = False
    if scheme in ("abfss", "abfs"):
        container, at, host = authority.partition("@")
        host_m = _AZURE_HOST.match(host.lower())
        if not at or host_m is None:
            raise ValueError(
                f"{text!r}: an abfss URL names its container and account as "
                "CONTAINER@ACCOUNT.dfs.core.windows.net (OneLake: "
                "WORKSPACE@onelake.dfs.fabric.microsoft.com)"
            )
        account = host_m.group("account")
        fabric = host_m.group("suffix") == "fabric.microsoft.com"
        bucket = container
    else:
        if "@" in authority or ":" in authority:
            raise ValueError(
                f"{text!r}: credentials or a port do not belong in the URL; "
                "put them in storage_options (or the environment)"
            )
        bucket = authority
    if not bucket:
        what = "container" if store == "az" else "bucket"
        raise ValueError(f"{text!r} names no {what}: write {scheme}://{what.upper()}/PATH")
    # OneLake workspaces are names or GUIDs with upper-case letters; every other store's
    # containers and buckets are lower-case
    if not fabric and not _BUCKET[store].match(bucket):
        what = "container" if store == "az" else "bucket"
        raise ValueError(
            f"{text!r}: {bucket!r} is not a valid {what} name (3-63 lower-case letters, "
            "digits and '-')"
        )
    return StoreUrl(store, bucket, path, account, fabric)


# -- storage_options ---------------------------------------------------------------------------

#: short names users write -> the object_store keys deltalake (and obstore) take
ALIASES: dict[str, str] = {
    # Azure (ADLS Gen2, Blob, OneLake)
    "account_name": "azure_storage_account_name",
    "account_key": "azure_storage_account_key",
    "access_key": "azure_storage_account_key",
    "sas_token": "azure_storage_sas_key",
    "sas_key": "azure_storage_sas_key",
    "client_id": "azure_client_id",
    "client_secret": "azure_client_secret",
    "tenant_id": "azure_tenant_id",
    "use_emulator": "azure_storage_use_emulator",
    "use_fabric_endpoint": "azure_use_fabric_endpoint",
    "bearer_token": "azure_storage_token",
    "use_azure_cli": "azure_use_azure_cli",
    "azure_storage_endpoint": "azure_endpoint",
    # S3 and S3-compatible stores
    "access_key_id": "aws_access_key_id",
    "secret_access_key": "aws_secret_access_key",
    "session_token": "aws_session_token",
    "region": "aws_region",
    "profile": "aws_profile",
    "endpoint_url": "aws_endpoint",
    "aws_endpoint_url": "aws_endpoint",
    "conditional_put": "aws_conditional_put",
    "virtual_hosted_style_request": "aws_virtual_hosted_style_request",
    # GCS
    "service_account": "google_service_account",
    "service_account_key": "google_service_account_key",
    "application_credentials": "google_application_credentials",
}

#: keys accepted as written (object_store's own names, and client options for every store)
KNOWN: frozenset[str] = frozenset(
    {
        *ALIASES.values(),
        "azure_endpoint",
        "azure_storage_client_id",
        "azure_storage_client_secret",
        "azure_storage_tenant_id",
        "azure_msi_endpoint",
        "azure_federated_token_file",
        "azure_skip_signature",
        "aws_allow_unsafe_rename",
        "aws_s3_locking_provider",
        "aws_skip_signature",
        "aws_default_region",
        "google_bucket",
        "endpoint",
        "allow_http",
        "allow_invalid_certificates",
        "timeout",
        "connect_timeout",
        "proxy_url",
    }
)

#: keys whose values are secrets: never printed, logged or stored
SECRET_KEYS: frozenset[str] = frozenset(
    {
        "azure_storage_account_key",
        "azure_storage_sas_key",
        "azure_client_secret",
        "azure_storage_client_secret",
        "azure_storage_token",
        "aws_secret_access_key",
        "aws_session_token",
        "google_service_account_key",
        "proxy_url",  # may carry user:password@
    }
)


def canonical_options(options: dict[str, object]) -> dict[str, str]:
    """`storage_options:` with object_store's key names and text values; ValueError naming an
    unknown key (with the nearest known one)."""
    out: dict[str, str] = {}
    for key, value in options.items():
        name = ALIASES.get(key.lower(), key.lower())
        if name not in KNOWN:
            import difflib

            near = difflib.get_close_matches(key.lower(), [*ALIASES, *KNOWN], n=1)
            tip = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"storage_options: unknown key {key!r}{tip}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[name] = str(value)
    return out
