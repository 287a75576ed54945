"""The retail and ecommerce-events templates end to end with their lakehouse and landing
folders on an emulated object store (Azurite for az://, moto for s3://): a first run, a day's
drop, an incremental run and `verify` — and every table equal, row for row, to the same runs on
a local lakehouse."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from tests.conftest import medallion
from tests.objectstore.conftest import Store, on_store

from medallion.project import Project

pytestmark = pytest.mark.objectstore

RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}(:\d+)?")  # a run id, or a row of a run
ROWS = {"retail": "600", "ecommerce-events": "3000"}


def tables(project: Path) -> list[str]:
    """The Delta tables of the project's lakehouse (listed on the store for a remote one)."""
    return Project.load(project).catalog.tables()


def content(project: Path, table: str, landing: str = "data/") -> list[tuple]:
    """Every row of `table`, sorted, without what differs between two runs of the same data
    (ingestion times, run ids, timestamps taken at build time); a file's name in `_source_file`
    relative to its landing folder (`landing`: the store's URL of it)."""
    import pyarrow as pa

    from medallion.storage import snapshot

    data = snapshot.snapshot(Project.load(project).catalog.path(table)).to_table()
    kept = [
        f.name
        for f in data.schema
        if f.name not in ("_ingested_at", "_run_id")
        and not (pa.types.is_timestamp(f.type) and f.type.tz is not None)
    ]
    rows = data.select(kept).to_pylist()
    return sorted(
        (
            tuple(RUN_ID.sub("RUN", str(v).replace(landing, "data/")) for v in r.values())
            for r in rows
        ),
        key=str,
    )


@pytest.mark.parametrize("template", ["retail", "ecommerce-events"])
def test_template_on_the_store_equals_local(
    template: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local"
    medallion(
        "init", str(local), "-t", template, "--rows", ROWS[template], cwd=tmp_path, check=True
    )
    remote = Path(shutil.copytree(local, tmp_path / "remote"))
    on_store(remote, store)
    env = store.env()
    monkeypatch.setenv(store.secret_var, store.secret)

    for project, e in ((local, None), (remote, env)):
        medallion("run", cwd=project, env=e, check=True)
    assert not (remote / "lakehouse").exists()  # nothing landed in a local folder
    assert any("/lake/bronze/" in k and "_delta_log" in k for k in store.keys("lake"))

    # a day's drop: new files in the landing folder, read by the next (incremental) run only
    for project in (local, remote):
        medallion("generate", "--day", "2", cwd=project, check=True)
    assert store.upload(remote / "data", "landing")  # the drop's new files
    second = medallion("run", cwd=remote, env=env, check=True).stdout
    medallion("run", cwd=local, check=True)
    assert "rows written" in second

    names = tables(remote)
    assert names == tables(local)
    for table in names:
        landing = store.url("landing") + "/"
        assert content(remote, table, landing) == content(local, table), table
    verified = medallion("verify", cwd=remote, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
