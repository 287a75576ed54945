"""abfss:// URLs — ADLS Gen2 and OneLake — reach the emulator through storage_options'
endpoint (Azurite serves the blob API only; the real services are reached by their hosts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import medallion
from tests.objectstore.conftest import Store
from tests.objectstore.test_sharing import make, rows

pytestmark = pytest.mark.objectstore


@pytest.mark.parametrize(
    "host", ["devstoreaccount1.dfs.core.windows.net", "onelake.dfs.fabric.microsoft.com"]
)
def test_abfss_lakehouse_and_landing(
    host: str, az_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(az_store.secret_var, az_store.secret)
    project = make(tmp_path / "p", az_store)
    config = project / "medallion.yml"
    text = config.read_text(encoding="utf-8")
    abfss = f"abfss://{az_store.bucket}@{host}"
    config.write_text(text.replace(az_store.url(), abfss), encoding="utf-8")
    assert f"storage: {abfss}/lake" in config.read_text(encoding="utf-8")
    assert f"path: {abfss}/landing/sales*.csv" in config.read_text(encoding="utf-8")
    medallion("run", cwd=project, env=az_store.env(), check=True)
    assert rows(project, "select n, total from gold.g") == [(2, 30)]
    assert any(k.endswith("_delta_log/00000000000000000000.json") for k in az_store.keys("lake"))
