"""Which `storage:` and `path:` values are object-store URLs, what they name, and the errors
for those medallion does not support (no emulator needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

from medallion.config.urls import StoreUrl, canonical_options, is_url, parse_url
from medallion.errors import ConfigError, StorageError, mask_secrets, register_secret
from medallion.ingest.files.remote import glob_regex
from medallion.project import Project
from medallion.storage.location import Location, locate, make_store


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "abfss://lake@acct.dfs.core.windows.net/retail/tables",
            StoreUrl("az", "lake", "retail/tables", "acct", False),
        ),
        (
            "abfss://Sales_WS@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Tables",
            StoreUrl("az", "Sales_WS", "lh.Lakehouse/Tables", "onelake", True),
        ),
        ("az://lake/retail/", StoreUrl("az", "lake", "retail")),
        ("s3://my-bucket.data/a/b", StoreUrl("s3", "my-bucket.data", "a/b")),
        ("gs://bkt", StoreUrl("gs", "bkt", "")),
    ],
)
def test_supported_urls(url: str, expected: StoreUrl) -> None:
    assert is_url(url)
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("ftp://host/lake", "'ftp://' is not supported"),
        ("az:/lake/retail", "not a well-formed URL"),
        ("az://", "names no container"),
        ("s3://Bad_Bucket/x", "not a valid bucket name"),
        ("abfss://lake/retail", "CONTAINER@ACCOUNT.dfs.core.windows.net"),
        ("s3://key:secret@bucket/x", "credentials or a port do not belong in the URL"),
    ],
)
def test_unsupported_or_malformed_urls(value: str, said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace("?", r"\?")):
        parse_url(value)


def test_local_paths_are_not_urls() -> None:
    for value in ("./lakehouse", "/data/lake", "C:/lake", "lake:house", "~/lake"):
        assert not is_url(value)


def test_storage_url_that_is_not_supported_is_a_config_error_naming_key_and_line(
    tmp_path: Path,
) -> None:
    """`storage: az:/lake/retail` used to make a local folder named `az:`."""
    root = write_project(tmp_path / "p", "name: p\n# the lakehouse\nstorage: az:/lake/retail\n")
    with pytest.raises(ConfigError) as err:
        Project.load(root)
    assert err.value.line == 3
    assert "storage" in str(err.value) and "well-formed" in str(err.value)
    proc = medallion("run", cwd=root)
    assert proc.returncode != 0
    assert "medallion.yml:3" in proc.stdout + proc.stderr
    assert not (root / "az:").exists()


def test_source_path_url_is_checked_too(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        "name: p\nsources:\n  orders:\n    path: webdav://files/orders*.csv\n",
    )
    with pytest.raises(ConfigError) as err:
        Project.load(root)
    assert err.value.line == 4
    assert "'webdav://' is not supported" in str(err.value)


def test_unknown_storage_option_names_the_nearest_key(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", "name: p\nstorage: az://lake/x\nstorage_options:\n  acount_key: k\n"
    )
    with pytest.raises(ConfigError, match="did you mean 'account_key'"):
        Project.load(root)


def test_options_from_the_environment_and_the_file() -> None:
    """storage_options win over the environment; short names become object_store's keys."""
    env = {
        "AWS_ACCESS_KEY_ID": "from-env",
        "AWS_SECRET_ACCESS_KEY": "env-secret-value",
        "AWS_REGION": "eu-west-1",
    }
    store = make_store(
        parse_url("s3://bkt/x"), {"region": "us-east-2", "endpoint": "http://h:1"}, env
    )
    opts = store.delta_options()
    assert opts["aws_access_key_id"] == "from-env"
    assert opts["aws_region"] == "us-east-2"
    assert opts["aws_endpoint"] == "http://h:1"
    assert opts["allow_http"] == "true"
    assert opts["aws_conditional_put"] == "etag"  # safe concurrent commits on S3
    az = make_store(parse_url("abfss://cont@acct.dfs.core.windows.net/p"), {}, {}).delta_options()
    assert az["azure_storage_account_name"] == "acct"
    assert canonical_options({"sas_token": "x", "use_emulator": True}) == {
        "azure_storage_sas_key": "x",
        "azure_storage_use_emulator": "true",
    }


def test_secrets_are_masked_in_every_error() -> None:
    make_store(parse_url("az://cont/p"), {"account_key": "c2VjcmV0LWtleS12YWx1ZQ=="}, {})
    err = StorageError("refused: key c2VjcmV0LWtleS12YWx1ZQ== at ?sv=1&sig=abc%2Fdef&se=2")
    assert "c2VjcmV0LWtleS12YWx1ZQ==" not in str(err)
    assert "abc%2Fdef" not in str(err)
    assert mask_secrets("plain text") == "plain text"
    register_secret("short")  # too short to be a real secret: words stay readable
    assert mask_secrets("a short word") == "a short word"


def test_an_account_key_that_is_not_base64_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be base64"):
        locate("az://cont/p", tmp_path, {"account_key": "not base64!"}, {})


def test_location_names() -> None:
    where = locate("s3://bkt/lake", Path("."), {}, {})
    assert isinstance(where, Location)
    table = where / "silver" / "orders"
    assert str(table) == "s3://bkt/lake/silver/orders"
    assert (table.name, table.parent.name) == ("orders", "silver")
    assert table.arrow_path == "bkt/lake/silver/orders"
    assert locate("lakehouse", tmp := Path("/x"), {}, {}) == tmp / "lakehouse"


@pytest.mark.parametrize(
    ("glob", "key", "matches"),
    [
        ("retail/orders*.csv", "retail/orders.csv", True),
        ("retail/orders*.csv", "retail/orders_day2.csv", True),
        ("retail/orders*.csv", "retail/sub/orders.csv", False),
        ("events/**/*.csv", "events/2019-10-01/e.csv", True),
        ("events/**/*.csv", "events/e.csv", True),
        ("events/**/*.csv", "events/a/b/e.json", False),
        ("d/file?.csv", "d/file1.csv", True),
        ("d/[ab].csv", "d/b.csv", True),
    ],
)
def test_glob_on_keys(glob: str, key: str, matches: bool) -> None:
    assert bool(glob_regex(glob).match(key)) is matches


def test_a_url_is_shown_as_written_in_messages() -> None:
    err = StorageError("version 9 does not exist", file="az://lake/retail/silver/orders")
    assert str(err).startswith("az://lake/retail/silver/orders: version 9")
