"""Partitioned writes with bounded memory (storage/partitioned.py): the table they commit reads
back, through deltalake and through DuckDB, exactly as written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from medallion.engine.duckdb import DuckDBEngine as Engine
from medallion.storage import partitioned, tables
from medallion.storage.catalog import Catalog

KEYS = ["a", "b", None, "x/y z", "ü", "long-" * 20]


def rows(n: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "key": pa.array([KEYS[i % len(KEYS)] for i in range(n)], pa.string()),
            "day": pa.array([date(2024, 1, 1 + i % 3) for i in range(n)], pa.date32()),
            "amount": pa.array([None if i % 7 == 0 else i * 0.5 for i in range(n)], pa.float64()),
            "at": pa.array(
                [datetime(2024, 1, 1, i % 24, tzinfo=UTC) for i in range(n)],
                pa.timestamp("us", "Etc/UTC"),
            ),
        }
    )


def read_back(path: Path) -> list[dict]:
    table = DeltaTable(str(path)).to_pyarrow_table()
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def write(path: Path, table: pa.Table, by: str, mode: str = "overwrite") -> int:
    assert partitioned.can_write(tables.existing_table(path), table.schema, [by])
    return tables.write(
        path, table.to_reader(max_chunksize=1000), mode=mode, run_id="r", partition_by=[by]
    ).version


def test_round_trip_with_many_partitions_and_awkward_values(tmp_path: Path) -> None:
    path = tmp_path / "t"
    data = rows(5000)
    assert write(path, data, "key") == 0
    back = read_back(path)
    expected = sorted(data.to_pylist(), key=lambda r: r["id"])
    assert [r["key"] for r in back] == [r["key"] for r in expected]
    assert [r["amount"] for r in back] == [r["amount"] for r in expected]
    assert [r["at"] for r in back] == [r["at"] for r in expected]
    dt = DeltaTable(str(path))
    assert dt.metadata().partition_columns == ["key"]
    assert pa.schema(dt.schema().to_arrow()).field("at").type.tz == "UTC"
    actions = tables.add_actions(dt).to_pylist()
    assert sorted(
        (a["partition.key"] is None, a["partition.key"] or "") for a in actions
    ) == sorted((k is None, k or "") for k in KEYS)
    # one file per partition (5,000 rows fit one row group), none written outside the table
    assert len(actions) == len(KEYS) == len(list(path.rglob("*.parquet")))
    assert tables.history(path)[0]["medallion.run_id"] == "r"


def test_duckdb_reads_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "silver" / "t"
    write(path, rows(3000), "day")
    engine = Engine(Catalog(tmp_path, ["silver"]))
    engine.attach_table("silver.t")
    got = engine.con.sql(
        "select day, count(*), count(amount) from silver.t group by day order by day"
    ).fetchall()
    assert got == [
        (date(2024, 1, d), 1000, sum(1 for i in range(3000) if i % 3 == d - 1 and i % 7))
        for d in (1, 2, 3)
    ]


def test_statistics_describe_each_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write(path, rows(600), "day")
    for action in tables.add_actions(DeltaTable(str(path))).to_pylist():
        day = action["partition.day"]
        ids = [i for i in range(600) if date(2024, 1, 1 + i % 3) == day]
        assert action["num_records"] == len(ids)
        assert action["min.id"] == min(ids) and action["max.id"] == max(ids)
        assert action["null_count.amount"] == sum(1 for i in ids if i % 7 == 0)
        keys = {KEYS[i % len(KEYS)] for i in ids} - {None}
        if all(len(k) <= 32 for k in keys):
            assert (action["min.key"], action["max.key"]) == (min(keys), max(keys))
        else:  # a cut maximum would understate the real one: no bounds
            assert action["min.key"] is None and action["max.key"] is None


def test_bounded_buffers_still_write_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every batch is split at once and flushes the largest wait, at most two files are open:
    # more, smaller files
    monkeypatch.setattr(partitioned, "GATHER_ROWS", 1)
    monkeypatch.setattr(partitioned, "BUFFER_BYTES", 1)
    monkeypatch.setattr(partitioned, "MAX_OPEN", 2)
    path = tmp_path / "t"
    data = rows(6000)
    write(path, data, "key")
    assert len(read_back(path)) == 6000
    assert [r["id"] for r in read_back(path)] == list(range(6000))
    assert len(list(path.rglob("*.parquet"))) > len(KEYS)


def test_a_failing_stream_commits_nothing_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write(path, rows(100), "key")
    before = set(path.rglob("*.parquet"))
    data = rows(3000)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from data.to_batches(max_chunksize=1000)[:2]
        raise RuntimeError("source died")

    with pytest.raises(Exception, match="source died"):
        tables.write(
            path,
            pa.RecordBatchReader.from_batches(data.schema, batches()),
            mode="overwrite",
            run_id="r2",
            partition_by=["key"],
        )
    assert DeltaTable(str(path)).version() == 0
    assert set(path.rglob("*.parquet")) == before


def test_append_and_overwrite_of_an_existing_table(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write(path, rows(100), "day")
    assert write(path, rows(50), "day", mode="append") == 1
    assert len(read_back(path)) == 150
    assert write(path, rows(30), "day", mode="overwrite") == 2
    assert len(read_back(path)) == 30


def test_other_layouts_go_to_delta_rs(tmp_path: Path) -> None:
    path = tmp_path / "t"
    data = rows(10)
    assert not partitioned.can_write(tables.existing_table(path), data.schema, None)
    assert not partitioned.can_write(tables.existing_table(path), data.schema, ["key", "day"])
    assert not partitioned.can_write(
        tables.existing_table(path), data.schema, ["amount"]
    )  # a float partition
    nanos = data.set_column(4, "at", data.column("at").cast(pa.timestamp("ns", "UTC")))
    assert not partitioned.can_write(tables.existing_table(path), nanos.schema, ["key"])
    write(path, data, "key")
    # a new column: delta-rs merges the schema
    wider = data.append_column("extra", pa.array(range(10), pa.int64()))
    assert not partitioned.can_write(tables.existing_table(path), wider.schema, ["key"])
    tables.write(path, wider.to_reader(), mode="append", run_id="r", partition_by=["key"])
    assert sorted(r["extra"] for r in read_back(path) if r["extra"] is not None) == list(range(10))
