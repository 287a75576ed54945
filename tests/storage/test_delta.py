"""Delta storage: one commit per write, run id in the commit, no commit on a failed stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from medallion.engine.duckdb import DuckDBEngine as Engine
from medallion.storage import parquet, snapshot, tables
from medallion.storage.catalog import Catalog


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return table.to_reader(max_chunksize=2)


def test_write_overwrite_and_append(tmp_path: Path) -> None:
    path = tmp_path / "t"
    t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    first = tables.write(path, _reader(t), mode="overwrite", run_id="r1")
    assert (first.version, first.rows) == (0, 3)
    second = tables.write(
        path,
        _reader(pa.table({"a": [4], "b": ["w"], "c": [True]})),
        mode="append",
        run_id="r2",
        metadata={"medallion.files": [["f.csv", 10, 20]], "medallion.batch": 7},
        app_transaction=("medallion.ingest.t", 7),
    )
    assert (second.version, second.rows) == (1, 1)
    history = tables.history(path)
    assert [h["medallion.run_id"] for h in history] == ["r2", "r1"]
    assert json.loads(history[0]["medallion.files"]) == [["f.csv", 10, 20]]
    assert history[0]["medallion.batch"] == 7
    assert tables.transaction_version(path, "medallion.ingest.t") == 7
    assert tables.transaction_version(path, "other") is None
    info = tables.info(path)
    assert (info.version, info.rows, info.last_run_id) == (1, 4, "r2")
    assert info.size_bytes > 0 and info.files == 2
    # append merged the new column into the schema
    assert snapshot.dataset(path).schema.names == ["a", "b", "c"]
    # time travel to the first version
    assert snapshot.dataset(path, version=0).to_table().num_rows == 3


def test_failed_stream_commits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t"
    tables.write(path, _reader(pa.table({"a": [1]})), mode="overwrite", run_id="r1")
    schema = pa.schema([("a", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([pa.array([5, 6])], schema=schema)
        raise RuntimeError("disk on fire")

    with pytest.raises(Exception, match="disk on fire"):
        tables.write(
            path,
            pa.RecordBatchReader.from_batches(schema, batches()),
            mode="overwrite",
            run_id="r2",
        )
    info = tables.info(path)
    assert (info.version, info.rows, info.last_run_id) == (0, 1, "r1")
    assert snapshot.dataset(path).to_table().column("a").to_pylist() == [1]


def test_a_failed_write_leaves_no_uncommitted_files(tmp_path: Path) -> None:
    """delta-rs writes data files before it commits: a stream failing after some were written
    leaves files no version reads (vacuum would keep them for the layer's retention)."""
    path = tmp_path / "t"
    tables.write(path, _reader(pa.table({"a": [1]})), mode="overwrite", run_id="r1")
    committed = {p.name for p in path.glob("*.parquet")}
    schema = pa.schema([("a", pa.int64()), ("s", pa.string())])

    def batches() -> Iterator[pa.RecordBatch]:
        n = 200_000  # 30 batches: enough for delta-rs to finish a file before the failure
        for i in range(30):
            yield pa.record_batch(
                [pa.array(range(i * n, (i + 1) * n)), pa.array([f"value-{j}" for j in range(n)])],
                schema=schema,
            )
        raise RuntimeError("disk on fire")

    with pytest.raises(Exception, match="disk on fire"):
        tables.write(
            path, pa.RecordBatchReader.from_batches(schema, batches()), mode="append", run_id="r2"
        )
    assert {p.name for p in path.glob("*.parquet")} == committed
    assert tables.open_table(path).version() == 0


def test_empty_overwrite_empties_the_table(tmp_path: Path) -> None:
    path = tmp_path / "t"
    tables.write(path, _reader(pa.table({"a": [1, 2]})), mode="overwrite", run_id="r1")
    empty = pa.schema([("a", pa.int64())]).empty_table()
    assert tables.write(path, empty.to_reader(), mode="overwrite", run_id="r2").rows == 0
    assert tables.info(path).rows == 0


def test_catalog_lists_delta_tables_in_layer_order(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path, ["bronze", "silver", "gold"])
    for fqn in ("gold.b", "bronze.z", "silver.a"):
        tables.write(catalog.path(fqn), _reader(pa.table({"a": [1]})), mode="overwrite", run_id="r")
    (tmp_path / "silver" / "not_a_table").mkdir()
    assert catalog.tables() == ["bronze.z", "silver.a", "gold.b"]
    assert catalog.exists("silver.a") and not catalog.exists("silver.not_a_table")


def test_engine_casts_types_delta_cannot_store(tmp_path: Path) -> None:
    engine = Engine(Catalog(tmp_path, ["silver"]))
    rel = engine.relation(
        "select sum(x) as s, 1::utinyint as u8, 7::ubigint as u64, "
        "'2024-01-01 10:00:00'::timestamp_ns as ns, interval 1 day as iv, "
        "'12:30'::time as t, 'a'::enum('a','b') as e, "
        "'00000000-0000-0000-0000-000000000001'::uuid as id from range(3) r(x)"
    )
    reader = engine.reader(engine.delta_safe(rel))
    result = tables.write(tmp_path / "t", reader, mode="overwrite", run_id="r")
    assert result.rows == 1
    schema = snapshot.dataset(tmp_path / "t").schema
    assert schema.field("s").type == pa.int64()
    assert schema.field("u8").type == pa.int16()
    assert pa.types.is_decimal(schema.field("u64").type)
    assert schema.field("ns").type == pa.timestamp("us")
    assert schema.field("iv").type == pa.string()
    assert schema.field("t").type == pa.string()
    assert schema.field("e").type == pa.string()
    row = snapshot.dataset(tmp_path / "t").to_table().to_pylist()[0]
    assert row["s"] == 3 and row["u64"] == 7 and row["t"] == "12:30:00"
    engine.close()


def test_files_are_written_in_row_groups_duckdb_reads_in_parallel(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "t"
    rows = 3 * parquet.ROW_GROUP_ROWS + 5
    tables.write(
        path, pa.table({"a": pa.array(range(rows))}).to_reader(), mode="overwrite", run_id="r"
    )
    files = list(path.glob("*.parquet"))
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [parquet.ROW_GROUP_ROWS] * 3 + [5]


def test_a_version_is_read_once_and_a_recreated_table_read_again(tmp_path: Path) -> None:
    """Snapshots are kept per version for the process; a table folder removed and written
    again restarts its versions, and must not be read from the kept ones."""
    import shutil

    path = tmp_path / "t"
    tables.write(path, _reader(pa.table({"a": [1, 2]})), mode="overwrite", run_id="r1")
    first = snapshot.snapshot(path)
    assert snapshot.snapshot(path) is first  # the latest version, read once
    assert snapshot.snapshot(path, 0) is first
    tables.write(path, _reader(pa.table({"a": [3]})), mode="append", run_id="r2")
    second = snapshot.snapshot(path)
    assert (second.version, second.rows) == (1, 3)
    assert snapshot.snapshot(path, 0) is first  # an older version is unchanged

    shutil.rmtree(path)
    tables.write(path, _reader(pa.table({"a": [7, 8, 9, 10]})), mode="overwrite", run_id="r3")
    again = snapshot.snapshot(path)
    assert again is not first  # another version 0
    assert (again.version, again.rows) == (0, 4)
    assert snapshot.file_set(path, [], 0).schema.names == ["a"]
