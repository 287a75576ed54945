"""JSON and Parquet landing files on a store, read as local ones are (through the spool), and a
bad row of a file on the store named by its URL."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import medallion, write_project
from tests.objectstore.conftest import Store, on_store
from tests.objectstore.test_sharing import rows

pytestmark = pytest.mark.objectstore

CONFIG = """
name: formats
storage: ./lakehouse
sources:
  events:
    path: data/events/**/*.json
  products:
    path: data/products*.parquet
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, amount: INTEGER}
    max_rejected: 0
"""


def parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"sku": ["A", "B"], "price": [1.5, 2.5]}), buf)
    return buf.getvalue()


def test_json_parquet_and_a_bad_csv_row_on_the_store(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.secret_var, store.secret)
    project = write_project(
        tmp_path / "p",
        CONFIG,
        {},
        {
            "data/events/2024-01-01/a.json": (
                '{"id": 1, "kind": "view"}\n{"id": 2, "kind": "buy"}\n'
            ),
            "data/events/2024-01-02/b.json": '[{"id": 3, "kind": "view"}]',
            "data/products.parquet": parquet_bytes(),
            "data/sales1.csv": "id,amount\n1,10\n",
        },
    )
    on_store(project, store)
    medallion("run", cwd=project, env=store.env(), check=True)
    assert sorted(rows(project, "select id, kind from bronze.events")) == [
        (1, "view"),
        (2, "buy"),
        (3, "view"),
    ]
    assert sorted(rows(project, "select sku, price from bronze.products")) == [
        ("A", 1.5),
        ("B", 2.5),
    ]
    assert rows(project, "select count(distinct _source_file) from bronze.events") == [(2,)]

    # a row that does not convert, past max_rejected: 0, names the file by its URL
    bad = project / "data" / "sales2.csv"
    bad.write_text("id,amount\n2,oops\n", encoding="utf-8")
    store.upload(project / "data", "landing")
    proc = medallion("run", cwd=project, env=store.env())
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert store.url("landing/sales2.csv") in out, out
    assert "medallion-spool" not in out
    assert rows(project, "select count(*) from bronze.sales") == [(1,)]
