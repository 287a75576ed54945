"""`on_rewrite`: a file rewritten under the same name (a reference CSV someone edits, a daily
snapshot exported again). `append` (the default) lands the new version beside the earlier one's
rows; `replace` swaps the earlier rows of that path for the new version's in one Delta commit,
so a seed-like source holds each file once and a staging model's `unique` check stays green."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import medallion
from medallion.errors import ConfigError
from medallion.project import Project
from medallion.storage import tables

Helper = Callable[..., Any]

CONFIG = """
name: t
sources:
  s:
    path: seeds/*.csv
    columns: {id: BIGINT, amount: INTEGER}
    max_rejected: 100%
    on_rewrite: replace
"""
# a staging model that merges bronze by key, checked unique, and a gold total over it; and a
# seed-like staging table over bronze, checked unique, with a gold table reading it
MODELS = {
    "silver/seed.sql": """\
        /* ---
        checks:
          - unique: id
        --- */
        select id, amount from bronze.s
        """,
    "gold/seed_total.sql": "select sum(amount) as total from silver.seed\n",
    "silver/stg.sql": """\
        /* ---
        kind: merge
        unique_key: id
        checks:
          - unique: id
        --- */
        select id, amount, _source_file from bronze.s
        """,
    "gold/total.sql": "select count(*) as n, sum(amount) as total from silver.stg\n",
}
SEED_V1 = "id,amount\n1,10\n2,20\n3,30\n"
# the same file edited: key 2 changed, key 3 gone, key 4 new; the size changes
SEED_V2 = "id,amount\n1,10\n2,25\n4,40\n5,50\n"
OTHER = "id,amount\n100,1\n101,2\n"


def bronze(p: Project) -> list[tuple[Any, ...]]:
    table = p.query("select _source_file, id, amount from bronze.s order by _source_file, id")
    return [tuple(r.values()) for r in table.to_pylist()]


def silver(p: Project) -> list[tuple[Any, ...]]:
    table = p.query("select id, amount from silver.stg order by id")
    return [tuple(r.values()) for r in table.to_pylist()]


def rewrite(path: Path, text: str, keep_mtime: bool = False) -> None:
    """Rewrite a file in place, under its name (with `keep_mtime`, its modification time kept:
    only the content tells the versions apart)."""
    st = path.stat()
    path.write_text(text, encoding="utf-8")
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def cli(p: Project, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`medallion ARGS` in a child process in the project's folder, with this checkout's
    package whatever the environment has installed."""
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=p.root,
        env={**os.environ, **env, "PYTHONPATH": str(Path(medallion.__file__).parents[1])},
        capture_output=True,
        text=True,
        timeout=300,
    )


def seed_project(make_project: Helper, config: str = CONFIG, name: str = "p") -> Project:
    files = {"seeds/prices.csv": SEED_V1, "seeds/other.csv": OTHER}
    return make_project(config, MODELS, files, name=name)


def test_by_default_a_rewritten_file_is_appended_and_the_unique_check_fails(
    make_project: Helper, run_ok: Helper
) -> None:
    p = seed_project(make_project, CONFIG.replace("    on_rewrite: replace\n", ""))
    run_ok(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)
    result = p.run()
    # bronze holds both versions: 2 rows of other.csv, 3 + 4 of prices.csv
    assert p.row_count("bronze.s") == 9
    assert result.step("bronze.s").details.get("rows_removed") is None
    # the staging table repeats keys 1 and 2: its unique check fails and skips gold
    assert result.status == "failed"
    assert result.step("silver.seed").status == "failed"
    assert "unique" in (result.step("silver.seed").error or "")
    assert result.step("gold.seed_total").status == "skipped"
    # the merge model keeps one row per key, but the earlier version's key 3 stays (an edited
    # dbt seed replaces its table)
    assert (3, 30) in silver(p)


def test_replace_swaps_the_earlier_rows_of_the_path_in_one_commit(
    make_project: Helper, run_ok: Helper, versions: Helper
) -> None:
    p = seed_project(make_project)
    first = run_ok(p)
    assert first.step("bronze.s").details.get("rows_removed") is None  # nothing replaced
    before = versions(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)

    result = run_ok(p)
    step = result.step("bronze.s")
    assert (step.rows_read, step.rows_written, step.rows_quarantined) == (4, 4, 0)
    assert step.details["replaced_files"] == ["seeds/prices.csv"]
    assert step.details["rows_removed"] == 3
    assert step.details["quarantine_rows_removed"] == 0
    assert step.note == (
        "1 rewritten file replaced (seeds/prices.csv): 3 earlier rows removed, 4 added"
    )
    assert bronze(p) == [
        ("seeds/other.csv", 100, 1),
        ("seeds/other.csv", 101, 2),
        ("seeds/prices.csv", 1, 10),
        ("seeds/prices.csv", 2, 25),
        ("seeds/prices.csv", 4, 40),
        ("seeds/prices.csv", 5, 50),
    ]
    # one commit: the removal and the new rows together, recording what it replaced
    path = p.catalog.path("bronze.s")
    assert tables.open_table(path).version() == before["bronze.s"] + 1
    commit = tables.history(path, 1)[0]
    assert json.loads(commit["medallion.replaced"]) == ["seeds/prices.csv"]
    assert commit["medallion.rows_removed"] == 3
    assert commit["operationParameters"]["predicate"]

    # downstream: key 2 updated, key 3 gone, 4 and 5 new; the unique check passed
    assert silver(p) == [(1, 10), (2, 25), (4, 40), (5, 50), (100, 1), (101, 2)]
    assert p.query("select n, total from gold.total").to_pylist() == [{"n": 6, "total": 128}]
    assert all(c.status == "pass" for c in result.step("silver.stg").checks)
    assert all(c.status == "pass" for c in result.step("silver.seed").checks)
    assert p.query("select total from gold.seed_total").to_pylist() == [{"total": 128}]

    # run again: the file is the version bronze holds, nothing is read or committed
    after = versions(p)
    again = run_ok(p).step("bronze.s")
    assert (again.rows_read, again.delta_version) == (0, None)
    assert versions(p) == after
    verified = p.verify()
    assert verified.ok, [line.problem for line in verified.lines]
    assert [line.rows_removed for line in verified.lines if line.table == "bronze.s"] == [
        None,
        3,
        None,
    ]


def test_a_same_size_edit_with_the_old_mtime_is_replaced(
    make_project: Helper, run_ok: Helper
) -> None:
    # the content tells the versions apart: the run after the edit is `medallion run` in a new
    # process, the one after it in this process (which cached the old content's fingerprint)
    p = seed_project(make_project)
    run_ok(p)
    edited = SEED_V1.replace("20", "21")
    assert len(edited) == len(SEED_V1)
    rewrite(p.root / "seeds/prices.csv", edited, keep_mtime=True)
    proc = cli(p, "run", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (step,) = [s for s in json.loads(proc.stdout)["steps"] if s["node"] == "bronze.s"]
    assert (step["rows_written"], step["details"]["rows_removed"]) == (3, 3)
    p = Project.load(p.root)
    assert [r for r in bronze(p) if r[0] == "seeds/prices.csv"] == [
        ("seeds/prices.csv", 1, 10),
        ("seeds/prices.csv", 2, 21),
        ("seeds/prices.csv", 3, 30),
    ]
    assert (2, 21) in silver(p)
    assert run_ok(p).step("bronze.s").rows_read == 0


def test_a_file_reverted_to_its_earlier_content_is_ingested_again(
    make_project: Helper, run_ok: Helper
) -> None:
    # bronze holds the second version: the first one's content is new again, not "seen"
    p = seed_project(make_project)
    run_ok(p)
    for text in (SEED_V2, SEED_V1):
        rewrite(p.root / "seeds/prices.csv", text)
        assert run_ok(p).step("bronze.s").rows_written == text.count("\n") - 1
    assert [r[1:] for r in bronze(p) if r[0] == "seeds/prices.csv"] == [(1, 10), (2, 20), (3, 30)]
    assert silver(p) == [(1, 10), (2, 20), (3, 30), (100, 1), (101, 2)]
    assert run_ok(p).step("bronze.s").rows_read == 0
    # the state database rebuilt from the Delta log says the same
    (p.root / ".medallion").joinpath("state.db").unlink()
    p = Project.load(p.root)
    assert run_ok(p).step("bronze.s").rows_read == 0


def test_new_and_rewritten_files_land_in_one_batch_and_a_deleted_file_changes_nothing(
    make_project: Helper, run_ok: Helper
) -> None:
    p = seed_project(make_project)
    run_ok(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)
    (p.root / "seeds/more.csv").write_text("id,amount\n200,7\n", encoding="utf-8")
    step = run_ok(p).step("bronze.s")
    assert step.details["replaced_files"] == ["seeds/prices.csv"]
    assert (step.rows_written, step.details["rows_removed"]) == (5, 3)
    assert sorted(step.details.get("files", [])) == ["seeds/more.csv", "seeds/prices.csv"]
    assert p.row_count("bronze.s") == 7

    # a deleted file: its rows stay (bronze is the record of what was landed)
    (p.root / "seeds/other.csv").unlink()
    step = run_ok(p).step("bronze.s")
    assert step.rows_read == 0 and step.delta_version is None
    assert p.row_count("bronze.s") == 7


def test_the_quarantine_rows_of_the_earlier_version_are_replaced_too(
    make_project: Helper, run_ok: Helper, quarantine: Helper
) -> None:
    p = seed_project(make_project)
    (p.root / "seeds/other.csv").write_text("id,amount\n100,1\n101,oops\n", encoding="utf-8")
    run_ok(p)
    assert [q[:2] for q in quarantine(p)] == [("seeds/other.csv", 3)]

    # fixed in place: the rejected line's row lands, its quarantine row goes
    rewrite(p.root / "seeds/other.csv", "id,amount\n100,1\n101,2\n")
    step = run_ok(p).step("bronze.s")
    assert (step.rows_written, step.rows_quarantined) == (2, 0)
    assert (step.details["rows_removed"], step.details["quarantine_rows_removed"]) == (1, 1)
    assert quarantine(p) == []
    assert [r for r in bronze(p) if r[0] == "seeds/other.csv"] == [
        ("seeds/other.csv", 100, 1),
        ("seeds/other.csv", 101, 2),
    ]

    # broken again elsewhere: only the new version's bad line is in quarantine
    rewrite(p.root / "seeds/other.csv", "id,amount\nx,1\n101,2\n")
    step = run_ok(p).step("bronze.s")
    assert (step.rows_written, step.rows_quarantined, step.details["rows_removed"]) == (1, 1, 2)
    assert [q[:3] for q in quarantine(p)] == [("seeds/other.csv", 2, "x,1")]

    # every row of the new version rejected: the earlier rows still go
    rewrite(p.root / "seeds/other.csv", "id,amount\nx,1\ny,2\n")
    step = run_ok(p).step("bronze.s")
    assert (step.rows_written, step.rows_quarantined, step.details["rows_removed"]) == (0, 2, 1)
    assert [r for r in bronze(p) if r[0] == "seeds/other.csv"] == []
    assert [q[2] for q in quarantine(p)] == ["x,1", "y,2"]
    verified = p.verify()
    assert verified.ok, [line.problem for line in verified.lines]


def test_a_partitioned_source_replaces_across_partitions(
    make_project: Helper, run_ok: Helper
) -> None:
    config = CONFIG.replace("    on_rewrite", "    partition_by: [region]\n    on_rewrite")
    config = config.replace("amount: INTEGER}", "amount: INTEGER, region: VARCHAR}")
    files = {"seeds/a.csv": "id,amount,region\n1,10,eu\n2,20,us\n", "seeds/b.csv": OTHER}
    files["seeds/b.csv"] = "id,amount,region\n100,1,eu\n"
    p = make_project(config, MODELS, files)
    run_ok(p)
    rewrite(p.root / "seeds/a.csv", "id,amount,region\n1,11,apac\n")
    step = run_ok(p).step("bronze.s")
    assert (step.rows_written, step.details["rows_removed"]) == (1, 2)
    rows = p.query("select _source_file, id, region from bronze.s order by id").to_pylist()
    assert [tuple(r.values()) for r in rows] == [
        ("seeds/a.csv", 1, "apac"),
        ("seeds/b.csv", 100, "eu"),
    ]
    assert silver(p) == [(1, 11), (100, 1)]
    assert p.verify().ok


def test_the_ledger_catches_a_wrong_count_of_rows_removed(
    make_project: Helper, run_ok: Helper
) -> None:
    p = seed_project(make_project)
    run_ok(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)
    run_id = run_ok(p).run_id
    assert p.verify().ok
    with sqlite3.connect(p.root / ".medallion" / "state.db") as con:
        (details,) = con.execute(
            "select details from run_steps where run_id = ? and table_name = 's'", (run_id,)
        ).fetchone()
        con.execute(
            "update run_steps set details = ? where run_id = ? and table_name = 's'",
            (json.dumps({**json.loads(details), "rows_removed": 2}), run_id),
        )
    verified = p.verify()
    assert not verified.ok
    (bad,) = [line for line in verified.lines if not line.ok]
    assert "removed 3 rows, not 2" in bad.problem


def test_a_misspelt_value_is_a_config_error_naming_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "medallion.yml").write_text(
        CONFIG.lstrip().replace("on_rewrite: replace", "on_rewrite: repalce"), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path)
    error = info.value
    assert error.file == str(tmp_path / "medallion.yml")
    assert error.line == 7
    assert error.message == (
        "sources.s.on_rewrite: 'repalce' is not allowed; expected 'append' or 'replace' — "
        "did you mean 'replace'?"
    )


# -- kill -9 in the middle of a replace -----------------------------------------------------

VOLATILE = {"_ingested_at", "_run_id", "_quarantined_at", "_quarantine_id"}


def tables_of(p: Project) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without the columns that hold times and run ids, sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in p.catalog.tables():
        data = p.query(f"select * from {table}")
        keep = sorted(c for c in data.column_names if c not in VOLATILE)
        out[table] = sorted((tuple(r[c] for c in keep) for r in data.to_pylist()), key=repr)
    return out


@pytest.mark.parametrize(
    "point", ["mid-write:bronze.s", "after-bronze:bronze.s", "after-commit:bronze.s"]
)
def test_a_replace_killed_then_run_again_equals_an_uninterrupted_one(
    make_project: Helper, run_ok: Helper, point: str
) -> None:
    edited = "id,amount\n1,10\n2,oops\n4,40\n"  # a key changed to a rejected line, one new
    killed, clean = (seed_project(make_project, name=n) for n in ("killed", "clean"))
    for p in (killed, clean):
        (p.root / "seeds/prices.csv").write_text("id,amount\n1,10\n2,bad\n3,30\n")
        run_ok(p)
        rewrite(p.root / "seeds/prices.csv", edited)
    proc = cli(killed, "run", MEDALLION_FAULT=point)
    assert proc.returncode == -9, proc.stderr  # the fault point was reached
    killed = Project.load(killed.root)
    run_ok(killed)
    run_ok(clean)
    expected = tables_of(clean)
    assert tables_of(killed) == expected
    # columns by name: (_source_file, amount, id); (_batch, _error, _line, _raw, _source_file)
    assert [r for r in expected["bronze.s"] if r[0] == "seeds/prices.csv"] == [
        ("seeds/prices.csv", 10, 1),
        ("seeds/prices.csv", 40, 4),
    ]
    assert [r[3] for r in expected["bronze.s__quarantine"]] == ["2,oops"]
    # exactly once: a third run finds nothing new
    assert run_ok(killed).step("bronze.s").rows_read == 0
    verified = killed.verify()
    assert verified.ok, [line.problem for line in verified.lines]


def test_an_append_model_over_a_replacing_source_fails_saying_why(
    make_project: Helper, run_ok: Helper, versions: Helper
) -> None:
    # an append model's inputs must only grow: after a replace it cannot tell new rows from old
    models = {"silver/log.sql": "/* ---\nkind: append\n--- */\nselect id, amount from bronze.s\n"}
    p = make_project(CONFIG, models, {"seeds/prices.csv": SEED_V1})
    run_ok(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)
    before = versions(p)["silver.log"]
    step = p.run().step("silver.log")
    assert step.status == "failed"
    assert "append model reads bronze.s, which was rewritten" in (step.error or "")
    assert versions(p)["silver.log"] == before
    rebuilt = run_ok(p, full_refresh=["silver.log"], yes=True)
    assert rebuilt.step("silver.log").rows_written == 4


def test_a_path_with_quotes_and_spaces_is_replaced(make_project: Helper, run_ok: Helper) -> None:
    name = "seeds/o'brien's prices (v2).csv"
    p = make_project(CONFIG, files={name: SEED_V1, "seeds/other.csv": OTHER})
    run_ok(p)
    rewrite(p.root / name, SEED_V2)
    step = run_ok(p).step("bronze.s")
    assert (step.details["replaced_files"], step.details["rows_removed"]) == ([name], 3)
    assert [r[1:] for r in bronze(p) if r[0] == name] == [(1, 10), (2, 25), (4, 40), (5, 50)]
    assert p.row_count("bronze.s") == 6


def test_status_and_verify_show_the_rows_removed(make_project: Helper, run_ok: Helper) -> None:
    p = seed_project(make_project)
    run_ok(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)
    ran = cli(p, "run")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 rewritten file replaced (seeds/prices.csv): 3 earlier rows removed, 4 added" in (
        ran.stdout + ran.stderr
    )
    for command in ("status", "verify"):
        proc = cli(p, command, COLUMNS="160")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        header = next(line for line in lines if " removed " in line)
        row = next(line for line in lines if "bronze.s " in line and " 3 " in line)
        # the count sits under its heading
        at = header.index("removed") + len("removed")
        assert row[at - 1] == "3" and row[at - 2] == " ", (header, row)


def test_a_daily_summary_recomputes_the_days_a_replace_touched(
    make_project: Helper, run_ok: Helper
) -> None:
    config = CONFIG.replace("amount: INTEGER}", "amount: INTEGER, day: DATE}")
    models = {
        "gold/daily.sql": "/* ---\nkind: incremental_by_time\ntime_column: day\n--- */\n"
        "select day, sum(amount) as total, count(*) as n from bronze.s group by day\n"
    }
    files = {
        "seeds/a.csv": "id,amount,day\n1,10,2024-01-01\n2,20,2024-01-02\n",
        "seeds/b.csv": "id,amount,day\n3,5,2024-01-01\n",
    }
    p = make_project(config, models, files)
    run_ok(p)
    # a.csv's row of 01-01 moves to 01-03, 01-02 changes
    rewrite(p.root / "seeds/a.csv", "id,amount,day\n1,11,2024-01-03\n2,21,2024-01-02\n")

    def daily() -> list[tuple[Any, ...]]:
        table = p.query("select cast(day as varchar) d, total, n from gold.daily order by d")
        return [tuple(r.values()) for r in table.to_pylist()]

    for _ in range(2):  # and again: nothing new, nothing changes
        run_ok(p)
        assert daily() == [("2024-01-01", 5, 1), ("2024-01-02", 21, 1), ("2024-01-03", 11, 1)]


def test_plan_says_which_new_files_replace_earlier_rows(
    make_project: Helper, run_ok: Helper
) -> None:
    p = seed_project(make_project)
    run_ok(p)
    rewrite(p.root / "seeds/prices.csv", SEED_V2)
    (p.root / "seeds/more.csv").write_text(OTHER.replace("100", "200"), encoding="utf-8")
    entry = next(e for e in p.plan().entries if e.node == "bronze.s")
    assert entry.action == "new input"
    assert entry.why == "2 new files (1 rewritten: its earlier rows will be replaced)"


def test_a_rewrite_cut_short_is_refused_unless_confirmed(
    make_project: Helper, run_ok: Helper, versions: Helper
) -> None:
    """A reference file re-exported header-only or cut short would empty what is built on it:
    like a rebuild that would leave fewer than half of a table's rows, the replace fails before
    committing, in a script too, unless the run is given --yes."""
    p = seed_project(make_project)
    run_ok(p)
    before, rows = versions(p), bronze(p)

    for cut in ("id,amount\n", "id,amount\n1,10\n"):  # header only; 1 of 3 rows
        rewrite(p.root / "seeds/prices.csv", cut)
        done = cli(p, "run")
        assert done.returncode == 1, done.stdout + done.stderr
        said = done.stdout + done.stderr
        assert "fewer than half as many: seeds/prices.csv (3 rows before" in said
        assert "--yes" in said and "nothing was written" in said
        assert versions(p) == before and bronze(p) == rows  # nothing changed anywhere
        assert silver(p) == [(1, 10), (2, 20), (3, 30), (100, 1), (101, 2)]

    # half or more of the rows, new rows of other files, lines rejected: not cut short
    rewrite(p.root / "seeds/prices.csv", "id,amount\n1,10\n2,oops\n")
    (p.root / "seeds/more.csv").write_text("id,amount\n7,70\n", encoding="utf-8")
    step = run_ok(p).step("bronze.s")
    assert (step.rows_written, step.rows_quarantined, step.details["rows_removed"]) == (2, 1, 3)

    # confirmed: the file's rows are replaced by what it holds now
    rewrite(p.root / "seeds/prices.csv", "id,amount\n")
    done = cli(p, "run", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r for r in bronze(p) if r[0] == "seeds/prices.csv"] == []
    verified = p.verify()
    assert verified.ok, [line.problem for line in verified.lines]
