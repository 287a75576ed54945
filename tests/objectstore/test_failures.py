"""What goes wrong on an object store: a run killed with SIGKILL mid-write and run again loses
and duplicates nothing; a wrong key, a missing container or bucket, an expired SAS token and a
store that goes away mid-write are each one clear message and a non-zero exit, with no table
version changed and no credential printed or stored."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from tests.conftest import medallion
from tests.objectstore.conftest import Store
from tests.objectstore.proxy import CuttingProxy
from tests.objectstore.test_sharing import make, rows

from medallion.project import Project
from medallion.storage import tables

pytestmark = pytest.mark.objectstore


def versions(project: Path) -> dict[str, int]:
    p = Project.load(project)
    return {t: tables.open_table(p.catalog.path(t)).version() for t in p.catalog.tables()}


def said(proc) -> str:
    return proc.stdout + proc.stderr


def test_killed_mid_write_then_run_again_loses_and_duplicates_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.secret_var, store.secret)
    project = make(tmp_path / "p", store)
    # (after-bronze, between a bronze commit and its quarantine's, is the store's business no
    # more than a local lakehouse's: tests/functional/test_crash.py)
    points = ["mid-write:bronze.sales", "mid-write:silver.s"]
    for i, point in enumerate(points):
        drop = project / "data" / f"sales{i + 2}.csv"
        drop.write_text(f"id,amount\n{i + 3},{(i + 3) * 10}\n1,{i + 11}\n", encoding="utf-8")
        store.upload(project / "data", "landing")
        killed = medallion("run", cwd=project, env={**store.env(), "MEDALLION_FAULT": point})
        assert killed.returncode == -9, said(killed)
        medallion("run", cwd=project, env=store.env(), check=True)
    # every file's rows exactly once: 2 + 2 per drop
    assert rows(project, "select count(*), count(distinct _source_file) from bronze.sales") == [
        (6, 3)
    ]
    # the merge's last value per id wins: ids 1..4, id 1 last set to 12
    assert sorted(rows(project, "select id, amount from silver.s")) == [
        (1, 12),
        (2, 20),
        (3, 30),
        (4, 40),
    ]
    assert medallion("verify", cwd=project, env=store.env()).returncode == 0
    # the killed runs' spool folders went with the next run
    import tempfile

    killed_spools = [
        f for f in Path(tempfile.gettempdir()).glob("medallion-spool-*-*") if not _alive(f)
    ]
    assert killed_spools == []


def _alive(spool: Path) -> bool:
    import os

    try:
        os.kill(int(spool.name.split("-")[2]), 0)
    except ProcessLookupError:
        return False
    return True


def _wrong_secret(store: Store) -> str:
    # a well-formed key the store does not know (an Azure key must be base64)
    return base64.b64encode(b"not-the-key-of-this-account-0123456789abcdef").decode()


def test_a_wrong_key_is_one_message_with_the_key_masked_everywhere(
    az_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(On Azurite: moto's S3 server takes any key, as it checks no signature.)"""
    store = az_store
    monkeypatch.setenv(store.secret_var, store.secret)
    project = make(tmp_path / "p", store)
    medallion("run", cwd=project, env=store.env(), check=True)
    before = versions(project)
    wrong = _wrong_secret(store)
    log = tmp_path / "run.log"
    for args in (["run"], ["query", "select count(*) from gold.g"], ["optimize"]):
        proc = medallion("--log-file", str(log), *args, cwd=project, env=store.env(wrong))
        assert proc.returncode != 0
        text = said(proc)
        assert "the store refused the credentials" in text, text
        assert "Traceback" not in text
        assert text.count("error") <= 2  # one message (and its hint)
        assert wrong not in text and store.secret not in text
    assert versions(project) == before
    stored = b"".join(p.read_bytes() for p in (project / ".medallion").rglob("*") if p.is_file())
    for secret in (wrong, store.secret):
        assert secret.encode() not in stored
        assert secret not in log.read_text(encoding="utf-8")


def test_a_missing_container_or_bucket_is_one_message(store: Store, tmp_path: Path) -> None:
    project = make(tmp_path / "p", store)
    config = project / "medallion.yml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(f"{store.url('lake')}", f"{store.scheme}://no-such-bucket-42/lake")
    )
    proc = medallion("run", cwd=project, env=store.env())
    assert proc.returncode != 0
    what = "container" if store.scheme == "az" else "bucket"
    assert f"the {what} 'no-such-bucket-42' of the lakehouse" in said(proc), said(proc)
    assert "does not exist" in said(proc)
    assert not (project / "lakehouse").exists()


def test_an_expired_sas_token_is_one_message(az_store: Store, tmp_path: Path) -> None:
    from medallion.devservers.azurite import ACCOUNT

    server = az_store.server
    project = make(tmp_path / "p", az_store)
    config = project / "medallion.yml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("storage_options:"), text.index("sources:")
    options = (
        "storage_options:\n"
        f"  account_name: {ACCOUNT}\n"
        "  sas_token: ${TEST_STORE_SECRET}\n"
        f"  endpoint: {server.account_endpoint}\n"
    )
    config.write_text(text[:start] + options + text[end:], encoding="utf-8")
    valid = server.sas_token(expiry="2099-01-01T00:00:00Z")
    medallion("run", cwd=project, env=az_store.env(valid), check=True)  # a valid SAS works
    expired = server.sas_token(expiry="2021-01-01T00:00:00Z")
    proc = medallion("run", cwd=project, env=az_store.env(expired))
    assert proc.returncode != 0
    assert "the SAS token expired at 2021-01-01T00:00:00Z" in said(proc), said(proc)
    signature = expired.rsplit("sig=", 1)[1]
    assert signature not in said(proc) and expired not in said(proc)


def test_a_store_that_goes_away_mid_write_commits_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.secret_var, store.secret)
    project = make(tmp_path / "p", store)
    medallion("run", cwd=project, env=store.env(), check=True)
    (project / "data" / "sales2.csv").write_text("id,amount\n3,30\n", encoding="utf-8")
    store.upload(project / "data", "landing")
    before = versions(project)

    # through a proxy that drops the store when silver.s's next commit is sent
    commit = b"silver/s/_delta_log/00000000000000000001.json"
    proxy = CuttingProxy(
        store.server.port,
        lambda data: data.startswith(b"PUT ") and commit in data.split(b"\r\n", 1)[0],
    )
    direct = project / "medallion.yml"
    text = direct.read_text(encoding="utf-8")
    cut = Path(shutil.copytree(project, tmp_path / "cut"))
    (cut / "medallion.yml").write_text(
        text.replace(f":{store.server.port}", f":{proxy.port}"), encoding="utf-8"
    )
    proc = medallion("run", cwd=cut, env=store.env())
    assert proxy.cut.is_set()
    assert proc.returncode != 0
    assert "cannot reach the object store" in said(proc), said(proc)
    assert "Traceback" not in said(proc)
    after = versions(project)
    assert after["silver.s"] == before["silver.s"]  # nothing half-committed
    assert after["bronze.sales"] == before["bronze.sales"] + 1  # the step before it committed
    # once the store is back, the next run finishes the work, once
    medallion("run", cwd=cut.parent / "p", env=store.env(), check=True)
    assert sorted(rows(project, "select id, amount from silver.s")) == [(1, 10), (2, 20), (3, 30)]
    assert rows(project, "select count(*) from bronze.sales") == [(3,)]
