"""How the engine reads a partitioned Delta table: partition values read from the file paths
when the paths say them verbatim (one scan over all files), from the Delta log otherwise; the
same rows either way."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from medallion.engine.duckdb.scan import scan_sql
from medallion.storage import snapshot


def table(path: Path, partition: str, values: list[object], kind: pa.DataType) -> None:
    data = pa.table(
        {
            "id": pa.array(range(len(values)), pa.int64()),
            partition: pa.array(values, kind),
        }
    )
    write_deltalake(str(path), data, partition_by=[partition])


def scan(path: Path) -> tuple[str, list[tuple[object, ...]]]:
    import duckdb

    con = duckdb.connect()
    sql, _ = scan_sql(con, snapshot.snapshot(path).files, "t")
    return sql, sorted(con.sql(sql).fetchall(), key=lambda r: r[0])


def test_plain_values_are_read_from_the_paths_in_one_scan(tmp_path: Path) -> None:
    days = [date(2024, 1, d) for d in (1, 2, 2, 3)]
    table(tmp_path / "t", "day", days, pa.date32())
    sql, rows = scan(tmp_path / "t")
    assert sql.count("read_parquet") == 1
    assert "hive_partitioning = true" in sql
    assert rows == [(0, days[0]), (1, days[1]), (2, days[2]), (3, days[3])]


def test_values_a_path_cannot_say_verbatim_come_from_the_log(tmp_path: Path) -> None:
    values = ["plain", "with space", "a/b", "NULL", None, "ünï", "plain"]
    table(tmp_path / "t", "kind", values, pa.string())
    sql, rows = scan(tmp_path / "t")
    assert rows == list(enumerate(values))
    # the two 'plain' files share one hive scan; each other value is a branch of its own
    assert sql.count("hive_partitioning = true") == 1
    assert sql.count("read_parquet") == 1 + 5


def test_a_key_value_directory_above_the_table_is_not_taken_for_a_partition(
    tmp_path: Path,
) -> None:
    root = tmp_path / "id=7" / "t"  # DuckDB would read `id` from this directory
    table(root, "n", [10, 20], pa.int32())
    sql, rows = scan(root)
    assert "hive_partitioning = true" not in sql
    assert rows == [(0, 10), (1, 20)]  # was [(7, 10), (7, 20)] while DuckDB guessed


def test_a_filter_on_the_partition_column_skips_the_other_files(tmp_path: Path) -> None:
    import duckdb

    table(tmp_path / "t", "n", [1, 2, 3, 3], pa.int64())
    con = duckdb.connect()
    sql, _ = scan_sql(con, snapshot.snapshot(tmp_path / "t").files, "t")
    plan = con.sql(f"EXPLAIN SELECT id FROM ({sql}) WHERE n = 3").fetchall()[0][1]
    assert "Scanning Files: 1/3" in plan
    assert con.sql(f"SELECT id FROM ({sql}) WHERE n = 3 ORDER BY id").fetchall() == [(2,), (3,)]
