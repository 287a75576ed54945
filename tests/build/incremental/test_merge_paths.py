"""How a merge model's changes reach its table: delta-rs MERGE (the general case), a plain
append when no new key exists in the table yet, a streamed rewrite when a large table nobody
reads incrementally has changed keys in most of its files, and a rebuild of the whole model
when, besides, its inputs are not much larger than the table. Every path must leave the same
rows as the MERGE path, keep the row ledger balanced, and write nothing on a run with no new
data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from medallion.build.incremental import merge as incremental
from medallion.project import Project

CONFIG = """
name: paths
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, seq: INTEGER, amount: INTEGER, status: VARCHAR}
"""
MERGE = """\
/* ---
kind: merge
unique_key: id
order_by: seq
delete_when: status = 'deleted'
--- */
select id, seq, amount, status from bronze.orders
"""
# reads silver.m's changes: silver.m must keep its change feed, so it is never rewritten
DOWNSTREAM = """\
/* ---
kind: merge
unique_key: id
incremental_inputs: [silver.m]
--- */
select id, amount * 2 as doubled from silver.m
"""
ORDERS1 = "id,seq,amount,status\n1,1,10,new\n2,2,20,new\n3,3,30,new\n"
NEW_KEYS = "id,seq,amount,status\n4,4,40,new\n5,5,50,new\n"
CHANGES = "id,seq,amount,status\n2,6,25,new\n3,7,0,deleted\n6,8,60,new\n"


def rows(project: Project, table: str) -> list[dict[str, Any]]:
    return project.query(f"select * from {table} order by 1").to_pylist()


def history_ops(project: Project, table: str) -> list[str]:
    _, history = project.table_history(table)
    return [h["operation"] for h in history]


def test_only_new_keys_are_appended_without_a_merge(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(
        CONFIG,
        {"silver/m.sql": MERGE, "gold/d.sql": DOWNSTREAM},
        {"data/orders1.csv": ORDERS1},
    )
    assert project.run(trigger="test").ok
    (project.root / "data/orders2.csv").write_text(NEW_KEYS)

    result = project.run(trigger="test")

    assert result.ok, result.error
    step = result.step("silver.m")
    assert step.details["merge_path"] == "append (no key exists yet)"
    assert step.details["merge"] == {"inserted": 2, "updated": 0, "deleted": 0}
    assert history_ops(project, "silver.m")[0] == "WRITE"
    assert [r["id"] for r in rows(project, "silver.m")] == [1, 2, 3, 4, 5]
    # the downstream model read exactly the appended rows
    down = result.step("gold.d")
    assert down.details["touched"] == 2
    assert rows(project, "gold.d") == [{"id": i, "doubled": 20 * i} for i in range(1, 6)]
    assert project.verify().ok
    before = versions(project)
    assert project.run(trigger="test").ok
    assert versions(project) == before


def build(
    make_project: Callable[..., Project],
    name: str,
    models: dict[str, str],
    first: str = ORDERS1,
    then: str = CHANGES,
) -> Project:
    """A project built on `first`, with `then` landed for its next run."""
    project = make_project(CONFIG, models, {"data/orders1.csv": first}, name=name)
    assert project.run(trigger="test").ok
    (project.root / "data/orders2.csv").write_text(then)
    return project


def second_run(project: Project) -> Any:
    """The step of silver.m in the project's next run, which must succeed."""
    result = project.run(trigger="test")
    assert result.ok, result.error
    return result.step("silver.m")


def test_rewrite_leaves_the_rows_a_merge_leaves(
    make_project: Callable[..., Project],
    monkeypatch: pytest.MonkeyPatch,
    versions: Callable[[Project], dict[str, int]],
) -> None:
    merged = build(make_project, "merged", {"silver/m.sql": MERGE})
    merge_run = merged.run(trigger="test")
    assert merge_run.ok, merge_run.error
    assert "merge_path" not in merge_run.step("silver.m").details  # small table: MERGE

    # the same change as a rewrite: every table counts as large
    monkeypatch.setattr(incremental, "REWRITE_MIN_ROWS", 0)
    rewritten = build(make_project, "rewritten", {"silver/m.sql": MERGE})
    result = rewritten.run(trigger="test")

    assert result.ok, result.error
    step = result.step("silver.m")
    assert step.details["merge_path"] == "rewrite (1 of 1 files touched)"
    # 2 updated, 3 deleted, 6 inserted
    assert step.details["merge"] == {"inserted": 1, "updated": 1, "deleted": 1}
    assert history_ops(rewritten, "silver.m")[0] == "WRITE"
    assert (
        rows(rewritten, "silver.m")
        == rows(merged, "silver.m")
        == [
            {"id": 1, "seq": 1, "amount": 10, "status": "new"},
            {"id": 2, "seq": 6, "amount": 25, "status": "new"},
            {"id": 6, "seq": 8, "amount": 60, "status": "new"},
        ]
    )
    assert (step.rows_in, step.rows_written, step.rows_dropped) == (
        merge_run.step("silver.m").rows_in,
        merge_run.step("silver.m").rows_written,
        merge_run.step("silver.m").rows_dropped,
    )
    assert rewritten.verify().ok  # the ledger knows the commit holds the whole table
    before = versions(rewritten)
    assert rewritten.run(trigger="test").ok
    assert versions(rewritten) == before


def test_a_table_read_incrementally_is_never_rewritten(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "REWRITE_MIN_ROWS", 0)
    project = build(make_project, "p", {"silver/m.sql": MERGE, "gold/d.sql": DOWNSTREAM})

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert "merge_path" not in result.step("silver.m").details
    assert history_ops(project, "silver.m")[0] == "MERGE"
    assert rows(project, "gold.d") == [
        {"id": 1, "doubled": 20},
        {"id": 2, "doubled": 50},
        {"id": 6, "doubled": 120},
    ]
    assert project.verify().ok


def test_a_merge_that_changes_nothing_commits_nothing_and_the_ledger_balances(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    """Key 1 is recomputed (its b row changed) but its output row is the same as before."""
    config = """
name: same
sources:
  a: {path: data/a*.csv}
  b: {path: data/b*.csv}
"""
    model = """\
/* ---
kind: merge
unique_key: id
incremental_inputs: {bronze.a: id, bronze.b: id}
--- */
select a.id, a.v, count(b.id) as n
from bronze.a as a left join bronze.b as b on a.id = b.id and false
group by a.id, a.v
"""
    project = make_project(
        config,
        {"silver/m.sql": model},
        {"data/a.csv": "id,v\n1,x\n2,y\n", "data/b.csv": "id,w\n1,p\n"},
    )
    assert project.run(trigger="test").ok
    before = versions(project)["silver.m"]
    (project.root / "data/b_day2.csv").write_text("id,w\n1,q\n")

    result = project.run(trigger="test")

    assert result.ok, result.error
    step = result.step("silver.m")
    assert step.delta_version is None
    # a commit of no rows records what was read (the next run does not merge them again)
    assert versions(project)["silver.m"] == before + 1
    assert (step.rows_in, step.rows_written, step.rows_dropped) == (1, 0, 1)
    assert step.note == "recomputed rows unchanged"
    assert project.verify().ok
    assert project.run(trigger="test").step("silver.m").note == "no new data upstream"


UPSERT = """\
/* ---
kind: merge
unique_key: id
expectations:
  non_negative:
    expect: amount >= 0
    action: quarantine
--- */
select id, arg_max(seq, seq) as seq, arg_max(amount, seq) as amount, arg_max(status, seq) as status
from bronze.orders
group by id
"""
UPSERT1 = "id,seq,amount,status\n1,1,10,new\n2,2,20,new\n3,3,-30,new\n4,4,40,new\n5,5,50,new\n"
UPSERT2 = "id,seq,amount,status\n2,6,25,new\n6,8,60,new\n7,9,-70,new\n"


def test_rebuild_leaves_the_rows_and_quarantine_a_merge_leaves(
    make_project: Callable[..., Project],
    monkeypatch: pytest.MonkeyPatch,
    versions: Callable[[Project], dict[str, int]],
) -> None:
    merged = build(make_project, "merged", {"silver/m.sql": UPSERT}, UPSERT1, UPSERT2)
    assert "merge_path" not in second_run(merged).details  # small table: MERGE
    # every table counts as large; the input (8 rows) is at most twice the table (4 rows)
    monkeypatch.setattr(incremental, "REWRITE_MIN_ROWS", 0)
    rebuilt = build(make_project, "rebuilt", {"silver/m.sql": UPSERT}, UPSERT1, UPSERT2)
    step = second_run(rebuilt)

    assert step.details["merge_path"] == "rebuild (1 of 1 files hold a recomputed row)"
    assert step.details["mode"] == "incremental"
    assert history_ops(rebuilt, "silver.m")[0] == "WRITE"
    assert (
        rows(rebuilt, "silver.m")
        == rows(merged, "silver.m")
        == [
            {"id": 1, "seq": 1, "amount": 10, "status": "new"},
            {"id": 2, "seq": 6, "amount": 25, "status": "new"},
            {"id": 4, "seq": 4, "amount": 40, "status": "new"},
            {"id": 5, "seq": 5, "amount": 50, "status": "new"},
            {"id": 6, "seq": 8, "amount": 60, "status": "new"},
        ]
    )
    # each quarantined row once: the rebuild replaced the whole quarantine
    quarantined = "select id from silver.m__quarantine order by id"
    assert rebuilt.query(quarantined).to_pylist() == merged.query(quarantined).to_pylist()
    assert rebuilt.query(quarantined).to_pylist() == [{"id": 3}, {"id": 7}]
    assert (step.rows_written, step.rows_quarantined) == (5, 2)
    assert rebuilt.verify().ok
    before = versions(rebuilt)
    assert rebuilt.run(trigger="test").ok
    assert versions(rebuilt) == before


def test_an_aggregation_over_a_larger_input_is_merged_not_rebuilt(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilding would read every input row again: the input (8 rows) is more than twice the
    table (1 status), so the change is merged (here as a rewrite). So is a model with
    `order_by`, whose rebuild would sort every row to de-duplicate it."""
    model = """\
/* ---
kind: merge
unique_key: status
--- */
select status, sum(amount) as total from bronze.orders group by status
"""
    monkeypatch.setattr(incremental, "REWRITE_MIN_ROWS", 0)
    project = build(make_project, "p", {"silver/m.sql": model}, UPSERT1, UPSERT2)

    assert second_run(project).details["merge_path"].startswith("rewrite (")
    assert rows(project, "silver.m") == [{"status": "new", "total": 105}]

    ordered = MERGE.replace("delete_when: status = 'deleted'\n", "")
    deduped = build(make_project, "deduped", {"silver/m.sql": ordered}, UPSERT1, UPSERT2)
    assert second_run(deduped).details["merge_path"].startswith("rewrite (")


KEEPING_MAX = """\
/* ---
kind: merge
unique_key: id
order_by: id
--- */
select id, max(amount) as amount, max(note) as note from bronze.orders group by id
"""
MAX_CONFIG = """
name: counts
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: INTEGER, note: VARCHAR}
"""
KEYS = 2_000


def orders(ids: range, amount: Callable[[int], int]) -> str:
    return "id,amount,note\n" + "".join(f"{i},{amount(i)},\n" for i in ids)


def test_only_rows_whose_values_changed_count_as_updated_on_every_path(
    make_project: Callable[..., Project],
    monkeypatch: pytest.MonkeyPatch,
    versions: Callable[[Project], dict[str, int]],
) -> None:
    """Half the keys are recomputed: their max amount and NULL note stay the same but for 7
    keys, whose amount grows; 3 keys are new. The rewrite path rewrites all 1,000 recomputed
    rows, yet counts as updated only the 7 that changed, as delta-rs's MERGE does."""
    day2 = orders(range(1, KEYS // 2 + 1), lambda i: 10**6 if i <= 7 else 0)
    day2 += orders(range(KEYS + 1, KEYS + 4), lambda i: i)[len("id,amount,note\n") :]
    day3 = orders(range(1, KEYS // 2 + 1), lambda i: 0)  # recomputes the same rows
    expected = {"inserted": 3, "updated": 7, "deleted": 0}
    results = {}
    for name in ("merged", "rewritten"):
        if name == "rewritten":
            # the table (2,000 rows) counts as large; the decision is made at call time
            monkeypatch.setattr(incremental, "REWRITE_MIN_ROWS", KEYS // 2)
        project = make_project(
            MAX_CONFIG,
            {"silver/m.sql": KEEPING_MAX},
            {"data/orders1.csv": orders(range(1, KEYS + 1), lambda i: 10 * i)},
            name=name,
        )
        assert project.run(trigger="test").ok
        (project.root / "data/orders2.csv").write_text(day2)
        step = second_run(project)
        path = step.details.get("merge_path", "MERGE")
        assert path.startswith("rewrite (") == (name == "rewritten"), path
        assert history_ops(project, "silver.m")[0] == ("WRITE" if name == "rewritten" else "MERGE")
        assert step.details["merge"] == expected, name
        assert (step.rows_in, step.rows_written, step.rows_dropped) == (1003, 1003, 0)
        assert project.verify().ok, name
        results[name] = rows(project, "silver.m")

        # recomputed rows all equal to the table's: nothing is committed but the record
        (project.root / "data/orders3.csv").write_text(day3)
        before = versions(project)["silver.m"]
        step = second_run(project)
        assert step.delta_version is None, name
        assert step.note == "recomputed rows unchanged"
        assert (step.rows_in, step.rows_written, step.rows_dropped) == (1000, 0, 1000)
        assert versions(project)["silver.m"] == before + 1  # the record of what was read
        assert project.verify().ok, name
        assert rows(project, "silver.m") == results[name]
    assert results["rewritten"] == results["merged"]
    assert len(results["merged"]) == KEYS + 3
    assert results["merged"][6] == {"id": 7, "amount": 10**6, "note": None}
    assert results["merged"][7] == {"id": 8, "amount": 80, "note": None}
