"""Time travel, restore, optimize and vacuum with retention on a lakehouse on a store."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import medallion
from tests.objectstore.conftest import Store
from tests.objectstore.test_sharing import make, rows

from medallion.project import Project

pytestmark = pytest.mark.objectstore


def test_time_travel_restore_optimize_vacuum(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.secret_var, store.secret)
    project = make(tmp_path / "p", store)
    env = store.env()
    medallion("run", cwd=project, env=env, check=True)
    (project / "data" / "sales2.csv").write_text("id,amount\n3,30\n1,11\n", encoding="utf-8")
    store.upload(project / "data", "landing")
    medallion("run", cwd=project, env=env, check=True)
    assert rows(project, "select n, total from gold.g") == [(3, 61)]

    # time travel: the version before the drop
    old = medallion(
        "query",
        "select n, total from gold.g",
        "--as-of",
        "0",
        "--format",
        "csv",
        cwd=project,
        env=env,
        check=True,
    )
    assert old.stdout.splitlines()[1:] == ["2,30"]

    # restore is a new version equal to the old one
    medallion("restore", "silver.s", "--to", "0", "-y", cwd=project, env=env, check=True)
    assert sorted(rows(project, "select id, amount from silver.s")) == [(1, 10), (2, 20)]

    # optimize compacts bronze's two files into one, same rows
    medallion("optimize", "bronze.sales", cwd=project, env=env, check=True)
    p = Project.load(project)
    from medallion.storage import tables

    info = tables.info(p.catalog.path("bronze.sales"))
    assert (info.files, info.rows) == (1, 4)

    def data_files() -> list[str]:
        return [k for k in store.keys("lake/bronze/sales") if k.endswith(".parquet")]

    assert len(data_files()) == 3  # two ingests, one compacted file
    # vacuum with a zero retention deletes the files compaction replaced
    config = project / "medallion.yml"
    config.write_text(
        config.read_text(encoding="utf-8") + "retention:\n  bronze: 0 hours\n", encoding="utf-8"
    )
    medallion("vacuum", "bronze.sales", cwd=project, env=env, check=True)
    assert len(data_files()) == 1
    assert rows(project, "select count(*) from bronze.sales") == [(4,)]
