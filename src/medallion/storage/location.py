"""Where a lakehouse or a landing folder lives: a local folder (a `Path`) or a place on an object
store (a `Location`: ADLS Gen2 / OneLake / Blob, S3 and S3-compatible stores, GCS).

A `Location` behaves like the few `Path` operations table code uses (`/`, `name`, `parent`,
`exists`, `is_dir`, `iterdir`, `read_text`), so a table's code does not care where it is. Each
location holds its `Store`: the container or bucket and the credentials, resolved once from the
environment and `storage_options:`. Three clients reach a store, each for what it does best:

- deltalake (delta-rs's Rust object store) reads and commits Delta tables (`delta_options`);
- pyarrow's filesystems read Parquet data files into DuckDB as Arrow datasets (`arrow_fs`):
  DuckDB's own httpfs/azure extensions cannot be downloaded here, and DuckDB's Arrow scan pushes
  projections and filters down into pyarrow's reader, which fetches only the column chunks and
  row groups it needs with ranged reads (see docs/benchmarks.md, "object storage");
- obstore (Python bindings of the same Rust object_store crate delta-rs uses, so the same
  option keys) lists landing folders with ETags, reads byte ranges, and makes the conditional
  writes (create-if-absent, replace-if-ETag-matches) the writer lock needs (`object_store`).

Secrets (account keys, SAS tokens, client secrets, AWS secret keys) are registered with
`medallion.errors.register_secret` when a store is made: every MedallionError's text has them
replaced by `***`, so no message, log line or run-log row can carry one.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from medallion.config.urls import SECRET_KEYS, StoreUrl, canonical_options, is_url, parse_url
from medallion.errors import ConfigError, StorageError, register_secret

#: environment variables -> option keys, per store (storage_options: win over them)
ENV_OPTIONS: dict[str, dict[str, str]] = {
    "az": {
        "AZURE_STORAGE_ACCOUNT_NAME": "azure_storage_account_name",
        "AZURE_STORAGE_ACCOUNT_KEY": "azure_storage_account_key",
        "AZURE_STORAGE_SAS_TOKEN": "azure_storage_sas_key",
        "AZURE_CLIENT_ID": "azure_client_id",
        "AZURE_CLIENT_SECRET": "azure_client_secret",
        "AZURE_TENANT_ID": "azure_tenant_id",
    },
    "s3": {
        "AWS_ACCESS_KEY_ID": "aws_access_key_id",
        "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
        "AWS_SESSION_TOKEN": "aws_session_token",
        "AWS_DEFAULT_REGION": "aws_region",
        "AWS_REGION": "aws_region",
        "AWS_PROFILE": "aws_profile",
        "AWS_ENDPOINT_URL": "aws_endpoint",
    },
    "gs": {"GOOGLE_APPLICATION_CREDENTIALS": "google_application_credentials"},
}
#: options of the HTTP client, common to every store (obstore takes them apart)
CLIENT_OPTIONS = frozenset(
    {"allow_http", "allow_invalid_certificates", "timeout", "connect_timeout", "proxy_url"}
)
#: Azurite's well-known development account (public, documented by Microsoft)
EMULATOR_ACCOUNT = "devstoreaccount1"


@dataclass(frozen=True)
class Store:
    """One container or bucket and how to reach it: `options` are object_store's keys (what
    deltalake and obstore take), already merged from the environment and storage_options."""

    scheme: str
    bucket: str
    options: tuple[tuple[str, str], ...]
    fabric: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def opts(self) -> dict[str, str]:
        return dict(self.options)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.bucket}"

    @property
    def endpoint(self) -> str | None:
        o = self.opts
        if self.scheme == "az":
            if o.get("azure_endpoint"):
                return o["azure_endpoint"]
            if o.get("azure_storage_use_emulator", "").lower() == "true":
                base = os.environ.get("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:10000")
                return f"{base.rstrip('/')}/{EMULATOR_ACCOUNT}"
            return None
        if self.scheme == "s3":
            return o.get("aws_endpoint")
        return None

    def delta_options(self) -> dict[str, str]:
        """What deltalake's `storage_options` gets."""
        o = self.opts
        endpoint = self.endpoint
        if endpoint and endpoint.startswith("http://"):
            o.setdefault("allow_http", "true")
        if self.scheme == "s3" and not (
            o.get("aws_s3_locking_provider") or o.get("aws_allow_unsafe_rename")
        ):
            # two writers committing the same version must not both succeed: delta-rs commits
            # with a put-if-absent (If-None-Match), which S3 and S3-compatible stores support
            o.setdefault("aws_conditional_put", "etag")
        if self.scheme == "az" and endpoint and "azure_storage_account_name" not in o:
            o["azure_storage_account_name"] = EMULATOR_ACCOUNT
        if self.scheme == "az" and self.fabric and not endpoint:
            o.setdefault("azure_use_fabric_endpoint", "true")
        return o

    # -- clients ---------------------------------------------------------------------------

    def _client(self, kind: str, make: Any) -> Any:
        with _LOCK:
            if kind not in self._clients:
                self._clients[kind] = make()
            return self._clients[kind]

    @property
    def arrow_fs(self) -> Any:
        """A pyarrow filesystem on the store (paths are `bucket/key`)."""
        return self._client("arrow", self._make_arrow_fs)

    def _make_arrow_fs(self) -> Any:
        import pyarrow.fs as pafs

        o = self.delta_options()
        endpoint = self.endpoint
        if self.scheme == "az":
            kwargs: dict[str, Any] = {}
            if endpoint:
                split = urlsplit(endpoint)
                kwargs.update(
                    blob_storage_authority=split.netloc,
                    blob_storage_scheme=split.scheme,
                    dfs_storage_authority=split.netloc,
                    dfs_storage_scheme=split.scheme,
                )
            elif self.fabric:
                kwargs.update(
                    blob_storage_authority="onelake.blob.fabric.microsoft.com",
                    dfs_storage_authority="onelake.dfs.fabric.microsoft.com",
                )
            if o.get("azure_storage_sas_key"):
                # pyarrow appends the token to its URLs as written: it must start with '?'
                kwargs["sas_token"] = "?" + o.pop("azure_storage_sas_key").lstrip("?")
            for key, arg in (
                ("azure_storage_account_key", "account_key"),
                ("azure_client_id", "client_id"),
                ("azure_client_secret", "client_secret"),
                ("azure_tenant_id", "tenant_id"),
            ):
                if o.get(key):
                    kwargs[arg] = o[key]
            return pafs.AzureFileSystem(o.get("azure_storage_account_name", ""), **kwargs)
        if self.scheme == "s3":
            kwargs = {"allow_bucket_creation": False, "allow_bucket_deletion": False}
            for key, arg in (
                ("aws_access_key_id", "access_key"),
                ("aws_secret_access_key", "secret_key"),
                ("aws_session_token", "session_token"),
                ("aws_region", "region"),
            ):
                if o.get(key):
                    kwargs[arg] = o[key]
            if endpoint:
                split = urlsplit(endpoint)
                kwargs.update(endpoint_override=split.netloc, scheme=split.scheme or "https")
                kwargs.setdefault("region", "us-east-1")
            return pafs.S3FileSystem(**kwargs)
        return pafs.GcsFileSystem()

    @property
    def object_store(self) -> Any:
        """An obstore store on the bucket (paths are keys inside it)."""
        return self._client("obstore", self._make_object_store)

    def _make_object_store(self) -> Any:
        try:
            from obstore.store import from_url
        except ImportError:
            raise StorageError(
                "a lakehouse or landing folder on object storage needs the obstore package",
                hint="pip install 'medallion[cloud]'",
            ) from None
        o = self.delta_options()
        prefix = {"az": "azure_", "s3": "aws_", "gs": "google_"}[self.scheme]
        config = {k: v for k, v in o.items() if k.startswith(prefix)}
        # delta-rs's own settings, not object_store's
        for k in ("aws_conditional_put", "aws_s3_locking_provider", "aws_allow_unsafe_rename"):
            config.pop(k, None)
        if self.scheme == "s3":
            config.pop("aws_profile", None)
        client = {k: v for k, v in o.items() if k in CLIENT_OPTIONS}
        return from_url(self.url, config=config, client_options=client or None)


_LOCK = threading.Lock()


class Location:
    """A folder or file on an object store, with the `Path` operations table code uses."""

    def __init__(self, store: Store, key: str) -> None:
        self.store = store
        self.key = key.strip("/")

    # -- naming ----------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"{self.store.url}/{self.key}" if self.key else self.store.url

    def __repr__(self) -> str:
        return f"Location({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and (other.store, other.key) == (self.store, self.key)

    def __hash__(self) -> int:
        return hash((self.store, self.key))

    def __lt__(self, other: Location) -> bool:
        return str(self) < str(other)

    def __truediv__(self, part: str | os.PathLike[str]) -> Location:
        part = str(part).strip("/")
        return Location(self.store, f"{self.key}/{part}" if self.key else part)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        return Location(self.store, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    @property
    def arrow_path(self) -> str:
        """The path pyarrow's filesystem takes: `bucket/key`."""
        return f"{self.store.bucket}/{self.key}" if self.key else self.store.bucket

    def resolve(self) -> Location:
        return self

    # -- the file system -------------------------------------------------------------------

    def _info(self) -> Any:
        import pyarrow.fs as pafs

        try:
            return self.store.arrow_fs.get_file_info(self.arrow_path)
        except OSError as e:
            raise store_error(e, self) from None
        except Exception as e:  # pyarrow raises ArrowInvalid etc. for bad credentials
            if isinstance(e, pafs.FileNotFoundError):
                return None
            raise store_error(e, self) from None

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        info = self._info()
        return info is not None and info.type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        import pyarrow.fs as pafs

        info = self._info()
        return info is not None and info.type == pafs.FileType.Directory

    def is_file(self) -> bool:
        import pyarrow.fs as pafs

        info = self._info()
        return info is not None and info.type == pafs.FileType.File

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Object stores have no folders: a key's prefix exists once an object is under it."""

    def iterdir(self) -> Iterator[Location]:
        import pyarrow.fs as pafs

        try:
            infos = self.store.arrow_fs.get_file_info(
                pafs.FileSelector(self.arrow_path, allow_not_found=True)
            )
        except Exception as e:
            raise store_error(e, self) from None
        for info in infos:
            yield self / info.path.rsplit("/", 1)[-1]

    def glob(self, pattern: str) -> Iterator[Location]:
        """Children whose name matches `pattern` (one level: `*.json`)."""
        return (c for c in self.iterdir() if fnmatch.fnmatchcase(c.name, pattern))

    def read_bytes(self) -> bytes:
        try:
            with self.store.arrow_fs.open_input_stream(self.arrow_path) as f:
                return f.read()
        except Exception as e:
            raise store_error(e, self) from None

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)


#: a local folder or a place on an object store
Where = Path | Location


def is_remote(where: object) -> bool:
    return isinstance(where, Location)


def delta_uri(where: Where) -> str:
    """What deltalake opens: the folder, or the store URL."""
    return str(where)


def delta_options(where: Where) -> dict[str, str] | None:
    """deltalake's `storage_options` for a table at `where` (None: a local folder)."""
    return where.store.delta_options() if isinstance(where, Location) else None


def make_store(url: StoreUrl, options: Mapping[str, Any], env: Mapping[str, str]) -> Store:
    """The store of `url` with credentials from `env` and then `options` (which win)."""
    merged: dict[str, str] = {}
    for var, key in ENV_OPTIONS[url.scheme].items():
        if env.get(var):
            merged[key] = env[var]
    given = canonical_options(dict(options))
    generic = given.pop("endpoint", None)
    if generic:
        given.setdefault(
            {"az": "azure_endpoint", "s3": "aws_endpoint"}.get(url.scheme, "endpoint"), generic
        )
    merged.update(given)
    named = url.scheme == "az" and url.account and "azure_storage_account_name" not in given
    if named and (not url.fabric or not merged.get("azure_endpoint")):
        merged["azure_storage_account_name"] = url.account
    if url.scheme == "az" and url.fabric and "azure_storage_account_name" not in merged:
        merged["azure_storage_account_name"] = "onelake"
    for key, value in merged.items():
        if key in SECRET_KEYS:
            register_secret(value)
    account_key = merged.get("azure_storage_account_key")
    if account_key is not None and not _is_base64(account_key):
        # (pyarrow's Azure client aborts the process on a key that is not base64)
        raise ValueError(
            "the Azure account key (storage_options account_key or AZURE_STORAGE_ACCOUNT_KEY) "
            "is not an account key: it must be base64 text, as the portal shows it"
        )
    return Store(url.scheme, url.bucket, tuple(sorted(merged.items())), url.fabric)


def _is_base64(text: str) -> bool:
    import base64
    import binascii

    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(text)


def locate(
    value: str,
    base: Path,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    key: str = "storage",
    file: Path | None = None,
) -> Where:
    """`value` from medallion.yml as a place: a store URL as a Location, a path relative to
    `base` as a Path. A URL medallion does not support is a ConfigError naming `key`."""
    if not is_url(value):
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    try:
        url = parse_url(value)
        store = make_store(url, options or {}, os.environ if env is None else env)
    except ValueError as e:
        raise ConfigError(str(e), file=file, key=key) from None
    return Location(store, url.path)


# -- errors --------------------------------------------------------------------------------------


def store_error(error: BaseException, where: Location, what: str | None = None) -> StorageError:
    """A client's error on the store as one message saying what to check: credentials refused,
    the container or bucket missing, the store unreachable. (Secrets are masked by the error
    class itself.)"""
    from medallion.errors import without_backtrace

    text = without_backtrace(str(error)) or type(error).__name__
    low = text.lower()
    bucket = "container" if where.store.scheme == "az" else "bucket"
    subject = what or str(where)
    if any(
        s in low
        for s in (
            "authenticationfailed",
            "authorizationfailure",
            "signaturedoesnotmatch",
            "invalidaccesskeyid",
            "access denied",
            "accessdenied",
            "403 forbidden",
            "status code: 403",
            "forbidden:",
            "lacked the necessary privileges",
            "server failed to authenticate",
            "authorization",
        )
    ):
        expired = sas_expired(where.store)
        why = (
            f"the SAS token expired at {expired}"
            if expired
            else "the store refused the credentials"
        )
        return StorageError(
            f"cannot reach {subject}: {why}",
            hint="check the account key / SAS token / access keys in storage_options or the "
            "environment (AZURE_STORAGE_*, AWS_*); a SAS token must still be valid and allow "
            "read, write, list and delete",
        )
    if any(
        s in low
        for s in (
            "containernotfound",
            "nosuchbucket",
            "bucket not found",
            "container not found",
            "the specified container does not exist",
            "bucket does not exist",
        )
    ):
        return StorageError(
            f"the {bucket} {where.store.bucket!r} of {subject} does not exist",
            hint=f"create the {bucket} (medallion creates folders in it, never the {bucket} "
            "itself), or fix the URL",
        )
    if any(
        s in low
        for s in (
            "connection refused",
            "error sending request",
            "dns error",
            "timed out",
            "couldn't connect",
            "connection reset",
            "curlcode: 7",
            "failed to connect",
            "broken pipe",
            "connection closed",
        )
    ):
        err = StorageError(
            f"cannot reach the object store of {subject}: {text.splitlines()[0]}",
            hint="check the network and the endpoint; nothing was committed, so run again "
            "once the store answers",
        )
        err.transient = True
        return err
    return StorageError(f"object store error on {subject}: {text.splitlines()[0]}")


def sas_expired(store: Store) -> str | None:
    """When the store's SAS token expired (its `se=` field, ISO 8601), if it has; else None."""
    from datetime import UTC, datetime
    from urllib.parse import parse_qs

    token = store.opts.get("azure_storage_sas_key")
    if not token:
        return None
    end = parse_qs(token.lstrip("?")).get("se")
    if not end:
        return None
    try:
        when = datetime.fromisoformat(end[0].replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return end[0] if when <= datetime.now(UTC) else None


def check_store(where: Location) -> None:
    """StorageError when the container or bucket of `where` is missing or refuses the
    credentials: said once before a run starts, instead of by every step."""
    import pyarrow.fs as pafs

    try:
        info = where.store.arrow_fs.get_file_info(where.store.bucket)
    except Exception as e:
        raise store_error(e, where, "the lakehouse " + str(where)) from None
    if info.type == pafs.FileType.NotFound:
        bucket = "container" if where.store.scheme == "az" else "bucket"
        raise StorageError(
            f"the {bucket} {where.store.bucket!r} of the lakehouse {where} does not exist",
            key="storage",
            hint=f"create the {bucket} (medallion creates the folders in it, never the {bucket} "
            "itself), or fix `storage:` in medallion.yml",
        )
