"""Audit columns, Delta commit metadata, the row ledger of every ingest step, and bronze tables
read by another Delta reader (polars)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from medallion.project import Project
from medallion.state.records import RunResult

MakeProject = Callable[..., Project]


def run_ok(project: Project, **kwargs: Any) -> RunResult:
    result = project.run(**kwargs)
    assert result.status == "success", [s.error for s in result.steps]
    return result


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


AUDIT_CONFIG = """
name: t
sources:
  orders:
    path: data/in/*.csv
    columns: {qty: INTEGER}
    max_rejected: 100%
"""


def test_audit_columns_on_every_row(make_project: MakeProject) -> None:
    p = make_project(
        AUDIT_CONFIG,
        files={
            "data/in/a.csv": "id,qty\n1,2\n2,3\n",
            "data/in/b.csv": "id,qty\n3,4\n4,oops\n",
        },
    )
    start = datetime.now(UTC)
    result = run_ok(p)
    end = datetime.now(UTC)
    table = p.query("select * from bronze.orders order by id")
    assert table.schema.field("_source_file").type == pa.string()
    assert table.schema.field("_ingested_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("_run_id").type == pa.string()
    got = table.to_pylist()
    assert [(r["id"], r["qty"], r["_source_file"]) for r in got] == [
        (1, 2, "data/in/a.csv"),
        (2, 3, "data/in/a.csv"),
        (3, 4, "data/in/b.csv"),
    ]
    assert {r["_run_id"] for r in got} == {result.run_id}
    # one batch, one ingestion time, its files one microsecond apart in landing order
    by_file = {r["_source_file"]: r["_ingested_at"] for r in got}
    assert len({r["_ingested_at"] for r in got}) == 2
    assert by_file["data/in/b.csv"] - by_file["data/in/a.csv"] == timedelta(microseconds=1)
    stamp = by_file["data/in/a.csv"]
    assert stamp.utcoffset() == timedelta(0)
    assert start - timedelta(milliseconds=1) <= stamp <= end

    q = p.query("select * from bronze.orders__quarantine").to_pylist()
    assert len(q) == 1
    assert (q[0]["_source_file"], q[0]["_line"], q[0]["_raw"]) == ("data/in/b.csv", 3, "4,oops")
    assert (q[0]["_batch"], q[0]["_run_id"], q[0]["_ingested_at"]) == (1, result.run_id, stamp)
    assert q[0]["_error"] == 'qty: "oops" does not convert to INTEGER'


def test_delta_commits_carry_run_id_and_files(make_project: MakeProject) -> None:
    p = make_project(
        AUDIT_CONFIG,
        files={"data/in/a.csv": "id,qty\n1,2\n", "data/in/b.csv": "id,qty\n2,x\n"},
    )
    first = run_ok(p)
    from medallion.ingest.files import fingerprint

    identities = []
    for rel in ("data/in/a.csv", "data/in/b.csv"):
        path = p.root / rel
        identities.append([rel, path.stat().st_size, fingerprint(path)])

    commit = DeltaTable(str(p.catalog.path("bronze.orders"))).history(1)[0]
    assert commit["version"] == 0
    assert commit["medallion.run_id"] == first.run_id
    assert json.loads(commit["medallion.files"]) == identities
    assert commit["medallion.batch"] == 1
    assert commit["medallion.source"] == "orders"
    qcommit = DeltaTable(str(p.catalog.path("bronze.orders__quarantine"))).history(1)[0]
    assert qcommit["medallion.run_id"] == first.run_id
    assert qcommit["medallion.batch"] == 1

    (p.root / "data/in/c.csv").write_text("id,qty\n3,4\n", encoding="utf-8")
    second = run_ok(p)
    c_path = p.root / "data/in/c.csv"
    history = DeltaTable(str(p.catalog.path("bronze.orders"))).history()
    assert [h["version"] for h in history] == [1, 0]
    assert history[0]["medallion.run_id"] == second.run_id
    assert json.loads(history[0]["medallion.files"]) == [
        ["data/in/c.csv", c_path.stat().st_size, fingerprint(c_path)]
    ]
    assert history[0]["medallion.batch"] == 2


LEDGER_CONFIG = """
name: t
sources:
  c:
    path: d/*.csv
    columns: {n: INTEGER}
    max_rejected: 100%
  j:
    path: d/*.jsonl
    max_rejected: 100%
  q:
    path: d/*.parquet
"""


def check_ledger(project: Project, result: RunResult) -> dict[str, tuple[int, int, int]]:
    """Assert the ledger of every ingest step; returns source -> (read, written, quarantined)."""
    out: dict[str, tuple[int, int, int]] = {}
    logged = {s["table_name"]: s for s in project.steps(result.run_id)}
    for step in result.steps:
        if step.step != "ingest":
            continue
        assert step.rows_read is not None
        assert step.rows_written is not None
        assert step.rows_quarantined is not None
        assert step.rows_read == step.rows_written + step.rows_quarantined
        fqn = f"{step.node}__quarantine"
        held = 0
        if project.catalog.exists(fqn):
            counted = project.query(
                f"select count(*) as n from {fqn} where _run_id = '{result.run_id}'"
            )
            held = counted.column("n")[0].as_py()
        assert held == step.rows_quarantined, step.node
        row = logged[step.table]
        assert (row["rows_read"], row["rows_written"], row["rows_quarantined"]) == (
            step.rows_read,
            step.rows_written,
            step.rows_quarantined,
        )
        out[step.table] = (step.rows_read, step.rows_written, step.rows_quarantined)
    return out


def test_ledger_balances_for_every_ingest_step(make_project: MakeProject) -> None:
    good = parquet_bytes(pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    p = make_project(
        LEDGER_CONFIG,
        files={
            "d/a.csv": "id,n\n1,1\n2,zz\n3,3,3\n4\n5,5\n",
            "d/a.jsonl": '{"id": 1}\n{"id": \n{"id": 3}\n',
            "d/a.parquet": good,
        },
    )
    first = run_ok(p)
    assert check_ledger(p, first) == {"c": (5, 2, 3), "j": (3, 2, 1), "q": (3, 3, 0)}

    (p.root / "d/b.csv").write_text("id,n\n6,6\n7,x\n", encoding="utf-8")
    (p.root / "d/b.jsonl").write_text('{"id": 4}\n', encoding="utf-8")
    second = run_ok(p)
    assert check_ledger(p, second) == {"c": (2, 1, 1), "j": (1, 1, 0), "q": (0, 0, 0)}

    totals = p.query(
        "select (select count(*) from bronze.c) as c, (select count(*) from bronze.j) as j,"
        " (select count(*) from bronze.q) as q,"
        " (select count(*) from bronze.c__quarantine) as cq,"
        " (select count(*) from bronze.j__quarantine) as jq"
    ).to_pylist()
    assert totals == [{"c": 3, "j": 3, "q": 3, "cq": 4, "jq": 1}]
    assert not p.catalog.exists("bronze.q__quarantine")


def test_bronze_tables_are_readable_by_polars(make_project: MakeProject) -> None:
    p = make_project(
        "name: t\nsources:\n  s:\n    path: d/*.csv\n    partition_by: [region]\n",
        files={
            "d/a.csv": "id,region,amount\n1,eu,2.5\n2,us,1.0\n",
            "d/b.csv": "id,region,amount\n3,eu,4.0\n",
        },
    )
    result = run_ok(p)
    path = str(p.catalog.path("bronze.s"))
    frame = pl.read_delta(path).sort("id")
    assert frame.columns == ["id", "region", "amount", "_source_file", "_ingested_at", "_run_id"]
    ours = p.query("select * from bronze.s order by id").to_pylist()
    theirs = frame.select(list(ours[0])).to_dicts()
    assert theirs == ours
    assert [(r["id"], r["region"], r["amount"], r["_source_file"]) for r in theirs] == [
        (1, "eu", 2.5, "d/a.csv"),
        (2, "us", 1.0, "d/a.csv"),
        (3, "eu", 4.0, "d/b.csv"),
    ]
    assert {r["_run_id"] for r in theirs} == {result.run_id}


def test_source_file_outside_the_project_is_recorded_as_its_absolute_path(
    make_project: MakeProject, tmp_path: Any
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.csv").write_text("id,qty\n1,2\n")
    p = make_project(
        f"name: t\nsources:\n  orders:\n    path: {outside}/*.csv\n"
        "  local:\n    path: data/*.csv\n",
        files={"data/y.csv": "id,qty\n5,6\n"},
    )
    run_ok(p)
    assert p.query("select _source_file from bronze.orders").to_pylist() == [
        {"_source_file": str(outside / "x.csv")}
    ]
    assert p.query("select _source_file from bronze.local").to_pylist() == [
        {"_source_file": "data/y.csv"}
    ]


def test_files_read_together_are_stamped_in_natural_order(make_project: MakeProject) -> None:
    """Several files ingested by one run (a full refresh, days landed at once): the later file
    in landing order (numbers in names compared as numbers) has the later `_ingested_at`, so
    "latest version of a key" is orders_10's, not orders_9's, as it is run by run."""
    files = {
        "data/in/orders_8.csv": "id,qty\n5,1\n",
        "data/in/orders_9.csv": "id,qty\n1,9\n2,9\n",
        "data/in/orders_10.csv": "id,qty\n1,10\n",
    }
    p = make_project(AUDIT_CONFIG, files=files)
    run_ok(p)
    latest = p.query(
        "select id, qty from bronze.orders qualify row_number() over "
        "(partition by id order by _ingested_at desc, _source_file desc) = 1 order by id"
    ).to_pylist()
    assert latest == [{"id": 1, "qty": 10}, {"id": 2, "qty": 9}, {"id": 5, "qty": 1}]
    order = p.query(
        "select _source_file from bronze.orders group by 1 order by min(_ingested_at)"
    ).column(0)
    assert order.to_pylist() == [f"data/in/orders_{n}.csv" for n in (8, 9, 10)]


def test_a_relative_path_outside_the_project_is_recorded_relative_to_it(
    make_project: MakeProject, tmp_path: Any
) -> None:
    """`path: ../exports/*.csv` (as `init --from` writes it): the files are recorded as
    `../exports/...`, so a project copied with its exports beside it re-ingests nothing; an
    identity recorded absolutely (before) is still the same file."""
    import shutil

    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "a.csv").write_text("id,qty\n1,2\n")
    (exports / "b.csv").write_text("id,qty\n3,4\n")
    p = make_project("name: t\nsources:\n  orders:\n    path: ../exports/*.csv\n", name="proj")
    run_ok(p)
    got = p.query("select _source_file from bronze.orders order by 1").column(0).to_pylist()
    assert got == ["../exports/a.csv", "../exports/b.csv"]

    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copytree(exports, moved / "exports")
    shutil.copytree(p.root, moved / "proj")
    copy = Project.load(moved / "proj")
    result = run_ok(copy)
    assert [s.rows_written for s in result.steps] == [0]
    assert copy.row_count("bronze.orders") == 2


def test_files_of_a_restored_away_version_are_ingested_again(make_project: MakeProject) -> None:
    """`medallion restore bronze.x --to N` takes out the rows of files ingested after N: the
    next run ingests them again, as the table no longer holds them."""
    p = make_project(AUDIT_CONFIG, files={"data/in/a.csv": "id,qty\n1,2\n"})
    run_ok(p)
    (p.root / "data" / "in" / "b.csv").write_text("id,qty\n2,3\n3,4\n")
    run_ok(p)
    assert p.row_count("bronze.orders") == 3
    assert p.restore("bronze.orders", 0).status == "success"
    assert p.row_count("bronze.orders") == 1
    result = run_ok(p)
    assert result.steps[0].rows_written == 2
    assert p.row_count("bronze.orders") == 3
    # and once more: nothing new
    assert run_ok(p).steps[0].rows_written == 0
