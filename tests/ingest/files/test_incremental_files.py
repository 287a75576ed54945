"""Incremental discovery: only new or changed files are ingested, the Delta log is the record of
what was ingested (the state folder is only a cache), full refresh, missing files, partitioning."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from medallion.project import Project

MakeProject = Callable[..., Project]
Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture

# the files are a few lines each: one bad line is more than the default 10% of rejected rows
CONFIG = """
name: t
sources:
  s:
    path: d/*.csv
    columns: {n: INTEGER}
    max_rejected: 100%
"""


def rows(project: Project, order: str = "_source_file, id") -> list[tuple[Any, ...]]:
    table = project.query(f"select id, n, _source_file from bronze.s order by {order}")
    return [tuple(r.values()) for r in table.to_pylist()]


def quarantine_lines(project: Project) -> list[tuple[Any, ...]]:
    table = project.query(
        "select _source_file, _line, _raw, _batch from bronze.s__quarantine "
        "order by _batch, _source_file, _line"
    )
    return [tuple(r.values()) for r in table.to_pylist()]


def table_version(project: Project, fqn: str = "bronze.s") -> int:
    return DeltaTable(str(project.catalog.path(fqn))).version()


def identity(project: Project, rel: str) -> list[Any]:
    from medallion.ingest.files import fingerprint

    path = project.root / rel
    return [rel, path.stat().st_size, fingerprint(path)]


def last_commit_files(project: Project) -> list[list[Any]]:
    commit = DeltaTable(str(project.catalog.path("bronze.s"))).history(1)[0]
    return json.loads(commit["medallion.files"])


def write(project: Project, rel: str, text: str) -> None:
    path = project.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_second_run_without_new_files_writes_nothing(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n2,x\n"})
    assert counters(run_ok(p)) == (2, 1, 1, 0)

    second = run_ok(p)
    step = second.step("bronze.s")
    assert counters(second) == (0, 0, 0, None)
    assert step.note == "no new files (1 already ingested)"
    assert step.details == {"files": [], "already_ingested": 1}
    assert table_version(p) == 0
    assert table_version(p, "bronze.s__quarantine") == 0
    assert rows(p) == [(1, 10, "d/a.csv")]
    assert quarantine_lines(p) == [("d/a.csv", 3, "2,x", 1)]


def test_new_file_ingests_only_that_file(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n"})
    first = run_ok(p)
    write(p, "d/b.csv", "id,n\n3,30\n4,40\n")

    second = run_ok(p)
    assert counters(second) == (2, 2, 0, 1)
    assert second.step("bronze.s").details == {"files": ["d/b.csv"], "already_ingested": 1}
    assert last_commit_files(p) == [identity(p, "d/b.csv")]
    assert rows(p) == [(1, 10, "d/a.csv"), (3, 30, "d/b.csv"), (4, 40, "d/b.csv")]
    runs = p.query("select _source_file, _run_id from bronze.s order by id").to_pylist()
    assert [r["_run_id"] for r in runs] == [first.run_id, second.run_id, second.run_id]


def test_rewritten_file_is_ingested_again(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n", "d/b.csv": "id,n\n2,20\n"})
    run_ok(p)
    write(p, "d/a.csv", "id,n\n1,11\n9,99\n")  # new size

    second = run_ok(p)
    assert counters(second) == (2, 2, 0, 1)
    assert second.step("bronze.s").details == {"files": ["d/a.csv"], "already_ingested": 1}
    assert last_commit_files(p) == [identity(p, "d/a.csv")]
    # bronze is append-only: the earlier version of the file's rows stays
    assert rows(p, order="id, n") == [
        (1, 10, "d/a.csv"),
        (1, 11, "d/a.csv"),
        (2, 20, "d/b.csv"),
        (9, 99, "d/a.csv"),
    ]


def test_touched_or_copied_file_is_not_ingested_again(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    """Identity is the content (size and fingerprint), not the modification time: touching a
    file, or copying the whole project elsewhere, re-ingests nothing."""
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n", "d/b.csv": "id,n\n2,20\n"})
    run_ok(p)
    before = identity(p, "d/b.csv")
    os.utime(p.root / "d" / "b.csv", ns=(1_000_000_000, 1_000_000_000))
    assert identity(p, "d/b.csv") == before

    second = run_ok(p)
    assert counters(second) == (0, 0, 0, None)
    assert rows(p, order="id, n") == [(1, 10, "d/a.csv"), (2, 20, "d/b.csv")]

    import shutil

    copy = shutil.copytree(p.root, p.root.parent / "copy", copy_function=shutil.copy)
    moved = Project.load(copy)
    assert counters(run_ok(moved)) == (0, 0, 0, None)


def test_full_refresh_overwrites_bronze_and_resets_quarantine(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n2,x\n"})
    run_ok(p)
    write(p, "d/a.csv", "id,n\n1,11\n2,22\n")  # the bad row was fixed at the source
    write(p, "d/b.csv", "id,n\n3,30\n")
    assert counters(run_ok(p)) == (3, 3, 0, 1)
    assert len(rows(p)) == 4  # the old and the rewritten a.csv, and b.csv

    refresh = run_ok(p, full_refresh=True)
    step = refresh.step("bronze.s")
    assert counters(refresh) == (3, 3, 0, 2)
    assert step.details == {"files": ["d/a.csv", "d/b.csv"], "already_ingested": 0,
                            "quarantine_version": 1}  # fmt: skip
    assert rows(p) == [(1, 11, "d/a.csv"), (2, 22, "d/a.csv"), (3, 30, "d/b.csv")]
    assert quarantine_lines(p) == []
    commit = DeltaTable(str(p.catalog.path("bronze.s"))).history(1)[0]
    assert commit["operationParameters"]["mode"] == "Overwrite"
    assert json.loads(commit["medallion.files"]) == [
        identity(p, "d/a.csv"),
        identity(p, "d/b.csv"),
    ]

    # after the refresh, the file list is the refreshed one: nothing is new
    again = run_ok(p)
    assert counters(again) == (0, 0, 0, None)
    assert again.step("bronze.s").note == "no new files (2 already ingested)"


def test_deleted_state_folder_is_recovered_from_the_delta_log(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n"})
    run_ok(p)
    write(p, "d/b.csv", "id,n\n2,20\n")
    run_ok(p)
    assert p.state_dir == p.root / ".medallion"
    shutil.rmtree(p.state_dir)

    fresh = Project.load(p.root)
    again = run_ok(fresh)
    assert counters(again) == (0, 0, 0, None)
    assert again.step("bronze.s").note == "no new files (2 already ingested)"
    assert table_version(fresh) == 1
    assert rows(fresh) == [(1, 10, "d/a.csv"), (2, 20, "d/b.csv")]

    # and a file added afterwards is still picked up, alone
    write(fresh, "d/c.csv", "id,n\n3,30\n")
    third = run_ok(fresh)
    assert counters(third) == (1, 1, 0, 2)
    assert third.step("bronze.s").details == {"files": ["d/c.csv"], "already_ingested": 2}


def test_deleted_state_after_full_refresh_does_not_reingest(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(CONFIG, files={"d/a.csv": "id,n\n1,10\n"})
    run_ok(p)
    write(p, "d/a.csv", "id,n\n1,11\n")
    run_ok(p)
    run_ok(p, full_refresh=True)
    shutil.rmtree(p.state_dir)

    fresh = Project.load(p.root)
    again = run_ok(fresh)
    assert counters(again) == (0, 0, 0, None)
    assert rows(fresh) == [(1, 11, "d/a.csv")]


def test_later_file_with_a_bad_value_for_the_table_type(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(
        "name: t\nsources:\n  s:\n    path: d/*.csv\n    max_rejected: 100%\n",
        files={"d/a.csv": "id,n\n1,10\n"},
    )
    run_ok(p)
    write(p, "d/b.csv", "id,n,extra\nq,30,e\n4,40,f\n")
    second = run_ok(p)
    # id is BIGINT in the table: "q" does not convert, so that row is quarantined
    assert counters(second) == (2, 1, 1, 1)
    table = p.query("select id, n, extra, _source_file from bronze.s order by id")
    assert [tuple(r.values()) for r in table.to_pylist()] == [
        (1, 10, None, "d/a.csv"),
        (4, 40, "f", "d/b.csv"),
    ]
    assert quarantine_lines(p) == [("d/b.csv", 2, "q,30,e", 2)]


# -- missing files ---------------------------------------------------------------------------

MISSING_CONFIG = """
name: t
sources:
  s:
    path: d/*.csv
  other:
    path: e/x.csv
"""
MISSING_MODELS = {
    "silver/from_s.sql": "select * from bronze.s",
    "silver/from_other.sql": "select * from bronze.other",
}


def test_glob_matching_nothing_fails_and_changes_nothing(
    make_project: MakeProject, versions: Callable[[Project], dict[str, int]], run_ok: Helper
) -> None:
    p = make_project(
        MISSING_CONFIG,
        models=MISSING_MODELS,
        files={"d/a.csv": "id\n1\n", "e/x.csv": "id\n7\n"},
    )
    run_ok(p)
    (p.root / "d" / "a.csv").unlink()
    before = versions(p)
    assert before == {
        "bronze.other": 0,
        "bronze.s": 0,
        "silver.from_other": 0,
        "silver.from_s": 0,
    }

    result = p.run()
    assert result.status == "failed"
    assert result.error == "1 step(s) failed: bronze.s"
    step = result.step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert step.error.startswith("source s: no file matches 'd/*.csv'")
    dependent = result.step("silver.from_s")
    assert (dependent.status, dependent.error) == ("skipped", "upstream bronze.s failed")
    # the independent branch still runs; its source has no new file
    assert result.step("bronze.other").status == "success"
    assert result.step("silver.from_other").status == "success"
    # nothing new upstream and the model unchanged: the table model is not rewritten
    assert result.step("silver.from_other").delta_version is None
    assert "up to date" in result.step("silver.from_other").note
    assert {k: v for k, v in versions(p).items() if k != "silver.from_other"} == {
        "bronze.other": 0,
        "bronze.s": 0,
        "silver.from_s": 0,
    }
    assert p.last_run() is not None
    assert p.last_run()["status"] == "failed"  # type: ignore[index]


def test_missing_file_on_first_run_creates_no_table(make_project: MakeProject) -> None:
    p = make_project(MISSING_CONFIG, models=MISSING_MODELS, files={"e/x.csv": "id\n7\n"})
    result = p.run()
    assert result.status == "failed"
    assert result.step("bronze.s").status == "failed"
    assert result.step("silver.from_s").status == "skipped"
    assert p.catalog.tables() == ["bronze.other", "silver.from_other"]


# -- partitioning ----------------------------------------------------------------------------


def test_partition_by_writes_a_partitioned_table(
    make_project: MakeProject, run_ok: Helper, counters: Helper
) -> None:
    p = make_project(
        "name: t\nsources:\n  s:\n    path: d/*.csv\n    partition_by: [region]\n",
        files={"d/a.csv": "id,region\n1,eu\n2,us\n3,eu\n"},
    )
    assert counters(run_ok(p)) == (3, 3, 0, 0)
    path: Path = p.catalog.path("bronze.s")
    assert DeltaTable(str(path)).metadata().partition_columns == ["region"]
    assert sorted(c.name for c in path.iterdir() if c.is_dir()) == [
        "_delta_log",
        "region=eu",
        "region=us",
    ]
    table = p.query("select id, region from bronze.s order by id")
    assert [tuple(r.values()) for r in table.to_pylist()] == [(1, "eu"), (2, "us"), (3, "eu")]

    write(p, "d/b.csv", "id,region\n4,apac\n")
    assert counters(run_ok(p)) == (1, 1, 0, 1)
    assert (path / "region=apac").is_dir()
    assert DeltaTable(str(path)).metadata().partition_columns == ["region"]
