"""File sources read by Spark (`engine: spark`): hand-made files in the shapes real exports
have give the same bronze tables and quarantine rows as on DuckDB, row for row; a run again
ingests nothing; the Spark reader's choices (which files go to the driver, which sources are
not read by Spark at all) are said in the step's note."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import killed_run, write_project
from tests.engine.spark.tablediff import Windows, table_digests

from medallion.project import Project

pytestmark = pytest.mark.spark

CONFIG = """
name: files
sources:
  customers:
    path: data/customers/*.csv
    delimiter: ";"
    encoding: latin-1
    date_format: "%d/%m/%Y"
    columns: {customer_id: VARCHAR, signup: DATE}
    max_rejected: 50%
  orders:
    path: data/orders/*.csv
    columns: {qty: INTEGER, amount: 'DECIMAL(12,2)'}
    max_rejected: 80%
  clean:
    path: data/clean/*.csv
  events:
    path: data/events/*.json
    max_rejected: 50%
  readings:
    path: data/readings/*.parquet
  stamps:
    path: data/stamps/*.csv
    timestamp_format: "%Y-%m-%d %H:%M:%S UTC"
    columns: {at: TIMESTAMP}
    max_rejected: 80%
"""

#: `;`-separated, latin-1 (cp1252's letters), quoted fields holding the delimiter and a line
#: break, DD/MM/YYYY dates; one line with too many fields and one date that does not exist
CUSTOMERS_1 = (
    "customer_id;name;city;signup;note\n"
    'CUST0001;"Müller; Hans";Köln;05/03/2024;"first\nline break"\n'
    "CUST0002;Søren Ærø;Århus;31/12/2023;\n"
    'CUST0003;"Dupont, Élodie";Besançon;01/02/2024;"say ""hi"""\n'
    "CUST0004;Too;Many;01/01/2024;x;extra\n"
    "CUST0005;Bad Date;Paris;31/02/2024;\n"
).encode("latin-1")
CUSTOMERS_2 = (
    "customer_id;name;city;signup;note\n"
    "CUST0006;Ana Peña;Cádiz;15/06/2024;ok\n"
    "CUST0007;Zoë;Genève;16/06/2024;\n"
).encode("latin-1")
#: ISO dates and timestamps, an unparseable number, a lossy decimal, too few fields
ORDERS_1 = (
    "order_id,customer_id,qty,amount,ordered_on,ordered_at\n"
    "1,CUST0001,2,10.50,2024-03-05,2024-03-05 10:00:00\n"
    "2,CUST0002,oops,3.00,2024-03-06,2024-03-06 11:30:15.250\n"
    "3,CUST0003,1,1.234,2024-03-07,2024-03-07T09:00:00\n"
    "4,CUST0004\n"
    "5,CUST0005,7,99.99,2024-03-08,2024-03-08 23:59:59\n"
)
ORDERS_2 = (
    "order_id,customer_id,qty,amount,ordered_on,ordered_at\n"
    "6,CUST0006,3,5.00,2024-03-09,2024-03-09 08:00:00\n"
    '7,CUST0007,,"1,000.00",2024-03-10,2024-03-10 08:00:00\n'
)
CLEAN = (
    "sku,label,price,active,added\n"
    "SKU-001,Widget,1.5,true,2024-01-01\n"
    "SKU-002,,2.25,false,2024-01-02\n"
    "SKU-003,Gadget,,TRUE,\n"
)
#: a timestamp format of the source's: times that do not exist (a day, hour, minute or second
#: out of range) are rejected by both engines, none rolled over into the next day or hour
STAMPS_1 = (
    "id,at\n"
    "1,2024-02-29 10:00:00 UTC\n"
    "2,2024-02-30 10:00:00 UTC\n"
    "3,2023-02-29 00:00:00 UTC\n"
    "4,2024-01-01 24:00:00 UTC\n"
    "5,2024-01-01 10:61:00 UTC\n"
    "6,2024-01-01 23:59:60 UTC\n"
    "7,2024-13-01 00:00:00 UTC\n"
)
STAMPS_2 = "id,at\n8,2024-12-31 23:59:59 UTC\n9,2025-01-01 00:00:00 UTC\n"
EVENTS = '{"id": 1, "kind": "view"}\n{"id": 2, "kind": \n{"id": 3, "kind": "buy"}\n'


def _parquet(path: Path, offset: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "meter": [f"M{offset + i:04d}" for i in range(3)],
            "kwh": [1.5 * i for i in range(3)],
            "read_on": pa.array([datetime(2024, 1, i + 1).date() for i in range(3)]),
            "count": pa.array([i + offset for i in range(3)], type=pa.int64()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path.read_bytes()


def _project(root: Path, files: dict[str, bytes | str]) -> Path:
    return write_project(root, CONFIG, {}, files)


def _files(tmp_path: Path) -> dict[str, bytes | str]:
    return {
        "data/customers/customers_1.csv": CUSTOMERS_1,
        "data/customers/customers 2.csv": CUSTOMERS_2,
        "data/orders/orders_1.csv": ORDERS_1,
        "data/orders/orders_2.csv": ORDERS_2,
        "data/clean/products.csv": CLEAN,
        "data/stamps/stamps_1.csv": STAMPS_1,
        "data/stamps/stamps_2.csv": STAMPS_2,
        "data/events/e1.json": EVENTS,
        "data/readings/r1.parquet": _parquet(tmp_path / "p" / "r1.parquet", 0),
        "data/readings/r2.parquet": _parquet(tmp_path / "p" / "r2.parquet", 10),
    }


def _run(project: Project, windows: Windows) -> dict[str, str]:
    start = datetime.now(UTC)
    result = project.run(trigger="test")
    windows.append((start, datetime.now(UTC)))
    assert result.ok, "\n".join(f"{s.node}: {s.error}" for s in result.steps if s.error)
    return {s.node: s.note or "" for s in result.steps}


def test_files_read_by_spark_equal_duckdb(spark: Any, tmp_path: Path) -> None:
    files = _files(tmp_path)
    duck = Project.load(_project(tmp_path / "duckdb", files))
    on_spark = Project.load(_project(tmp_path / "spark", files))
    on_spark.workspace.use_engine("spark")
    windows: dict[str, Windows] = {"duckdb": [], "spark": []}

    _run(duck, windows["duckdb"])
    notes = _run(on_spark, windows["spark"])
    a = table_digests(duck.workspace.storage_root, windows["duckdb"])
    b = table_digests(on_spark.workspace.storage_root, windows["spark"])
    assert a == b
    for table in (
        "bronze.customers",
        "bronze.orders",
        "bronze.clean",
        "bronze.readings",
        "bronze.stamps",
    ):
        assert "read by Spark" in notes[table], notes
    # the files with rows Spark could not parse were rescued on the driver, the others not
    assert "customers_1.csv" in notes["bronze.customers"]
    assert "customers 2.csv" not in notes["bronze.customers"]
    assert "orders_1.csv" in notes["bronze.orders"]
    assert "driver" not in notes["bronze.clean"]
    assert "stamps_1.csv" in notes["bronze.stamps"]
    assert "stamps_2.csv" not in notes["bronze.stamps"]
    assert "read on the driver" in notes["bronze.events"]  # its one file has a malformed line
    for table, rows in {
        "bronze.customers__quarantine": 2,
        "bronze.orders__quarantine": 4,
        "bronze.events__quarantine": 1,
        "bronze.stamps__quarantine": 6,
    }.items():
        assert b[table][0] == rows, (table, b[table])

    # exactly once: nothing new, nothing ingested
    notes = _run(on_spark, windows["spark"])
    assert all("no new files" in notes[f"bronze.{s}"] for s in ("customers", "orders", "readings"))
    assert table_digests(on_spark.workspace.storage_root, windows["spark"]) == b


def _commit_protocol(table: Path, feature: str) -> None:
    """A commit as another tool writes it when it turns `feature` on: the protocol needs the
    reader feature from this version on."""
    import json

    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    actions = [
        {"commitInfo": {"timestamp": 1733500000000, "operation": "SET TBLPROPERTIES"}},
        {
            "protocol": {
                "minReaderVersion": 3,
                "minWriterVersion": 7,
                "readerFeatures": [feature],
                "writerFeatures": [feature],
            }
        },
    ]
    text = "\n".join(json.dumps(a) for a in actions) + "\n"
    (log / f"{version:020d}.json").write_text(text)


@pytest.mark.parametrize("feature", ["deletionVectors", "columnMapping"])
def test_table_needing_a_reader_feature_is_refused_on_spark(
    feature: str, spark: Any, tmp_path: Path
) -> None:
    root = write_project(
        tmp_path,
        "name: dv\nsources:\n  sales:\n    path: data/*.csv\n",
        {"silver/s.sql": "select id, amount from bronze.sales\n"},
        {"data/a.csv": "id,amount\n1,10\n2,20\n"},
    )
    project = Project.load(root)
    assert project.run(trigger="test").ok
    _commit_protocol(project.catalog.path("bronze.sales"), feature)
    project = Project.load(root)
    project.workspace.use_engine("spark")
    silver = project.catalog.path("silver.s")
    from medallion.storage import tables

    before = tables.info(silver).version
    result = project.run(trigger="test", full_refresh=["silver.s"])
    assert not result.ok
    error = next(str(s.error) for s in result.steps if s.error)
    words = {"deletionVectors": "deletion vectors", "columnMapping": "column mapping"}[feature]
    assert f"bronze.sales cannot be read on Spark: its Delta protocol needs {words}" in error
    assert "REORG TABLE" in error or "without column mapping" in error, error
    assert "not yet supported" not in error, error  # delta-rs's words, not medallion's
    assert tables.info(silver).version == before


KILLED = """
name: killed
sources:
  orders:
    path: data/orders/*.csv
    columns: {qty: INTEGER, amount: 'DECIMAL(12,2)'}
    max_rejected: 80%
"""
ON_SPARK = """engine:
  type: spark
  master: local[1]
  conf: {spark.sql.shuffle.partitions: 1, spark.ui.enabled: false}
"""


def test_killed_mid_write_on_spark_then_rerun_loses_and_duplicates_nothing(
    spark: Any, tmp_path: Path
) -> None:
    """Killed (SIGKILL) after Spark wrote bronze's files and before their commit, then after
    the commit and before the quarantine's: the reruns leave bronze and its quarantine as one
    uninterrupted run on DuckDB does."""
    data = {"data/orders/orders_1.csv": ORDERS_1, "data/orders/orders_2.csv": ORDERS_2}
    killed = write_project(tmp_path / "killed", KILLED + ON_SPARK, {}, data)
    clean = write_project(tmp_path / "clean", KILLED, {}, data)
    bronze = Project.load(killed).catalog.path("bronze.orders")
    for point in ("mid-write:bronze.orders", "after-bronze:bronze.orders"):
        proc = killed_run(killed, point)
        assert proc.returncode == -9, proc.stderr[-3000:]  # the fault point was reached
        if point.startswith("mid-write"):
            assert not (bronze / "_delta_log").exists()  # nothing committed
            assert any(p.name.startswith("spark-") for p in bronze.iterdir())

    windows: dict[str, Windows] = {"duckdb": [], "spark": []}
    notes = _run(Project.load(killed), windows["spark"])
    assert "no new files" in notes["bronze.orders"]
    assert "recovered 4 quarantined rows" in notes["bronze.orders"]
    _run(Project.load(clean), windows["duckdb"])
    a = table_digests(Project.load(clean).workspace.storage_root, windows["duckdb"])
    b = table_digests(Project.load(killed).workspace.storage_root, windows["spark"])
    assert a == b
    assert b["bronze.orders"][0] == 3 and b["bronze.orders__quarantine"][0] == 4


def test_only_formats_both_engines_read_alike_go_to_spark() -> None:
    """A date/time format Spark reads as DuckDB does (fixed widths, a four-digit year) becomes a
    Spark pattern; one without a year (1970 to Spark, 1900 to DuckDB), with a two-digit year or
    a month name is left to DuckDB."""
    from medallion.engine.spark.files import spark_pattern

    assert spark_pattern("%Y-%m-%d %H:%M:%S UTC") == (
        "yyyy-MM-dd HH:mm:ss 'UTC'",
        r"^[0-9]{4}\-[0-9]{2}\-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ UTC$",
    )
    for fmt in ("%H:%M:%S", "%d/%m", "%d/%m/%y", "%d %b %Y", "%Y-%m-%d %H:%M:%S.%f"):
        assert spark_pattern(fmt) is None, fmt
