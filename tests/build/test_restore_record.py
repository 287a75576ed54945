"""`medallion restore` to a version no build of the model recorded (its first version written by
another Delta writer): the restored rows have no known inputs, so `plan` says the model is
rebuilt and why, and the next run rebuilds it; never judged by the newer build the restore
undid. A restore to a version a build recorded still counts that build's record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from tests.build.incremental.test_retyped_inputs import said
from tests.conftest import medallion, table_versions, write_project

from medallion.build.record import UNDOES_CHANGE
from medallion.project import Project

CONFIG = "name: r\nsources:\n  s:\n    path: data/s_*.csv\n"
TABLE = "select id, v from bronze.s\n"
MERGE = "/* ---\nkind: merge\nunique_key: id\n--- */\nselect id, v from bronze.s\n"
SCD2 = "/* ---\nkind: scd2\nunique_key: id\n--- */\nselect id, v from bronze.s\n"
WHY = "restored to version 0, which no build recorded the inputs of"


def built_over_a_foreign_table(root: Path, model: str) -> None:
    """silver.t's version 0 written by another Delta writer (a row 99 the model never makes),
    version 1 the model's build, version 2 a restore to version 0."""
    write_project(root, CONFIG, {"silver/t.sql": model}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"})
    medallion("run", "--select", "bronze.s", cwd=root, check=True)
    foreign = pa.table({"id": pa.array([1, 2, 99]), "v": pa.array([10, 20, 990])})
    write_deltalake(str(root / "lakehouse" / "silver" / "t"), foreign)
    medallion("run", cwd=root, check=True)
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout
    medallion("restore", "silver.t", "--to", "0", "-y", cwd=root, check=True)


def ids(root: Path) -> list[int]:
    rows = Project.load(root).query("select id from silver.t order by id").to_pylist()
    return [r["id"] for r in rows]


def test_a_table_restored_to_a_version_no_build_recorded_is_rebuilt_as_plan_says(
    tmp_path: Path,
) -> None:
    root = tmp_path / "r"
    built_over_a_foreign_table(root, TABLE)
    assert ids(root) == [1, 2, 99]

    plan = medallion("plan", cwd=root, check=True)
    assert f"silver.t rebuild {WHY}" in said(plan), plan.stdout
    run = medallion("run", cwd=root, check=True)

    assert f"rebuilt: {WHY}" in said(run)
    assert ids(root) == [1, 2]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout
    before = table_versions(Project.load(root))
    medallion("run", cwd=root, check=True)  # twice: nothing new, nothing rebuilt
    assert table_versions(Project.load(root)) == before
    assert "the ledger adds up" in medallion("verify", cwd=root, check=True).stdout

    # back to the model's own build (version 1): its record counts again
    medallion("restore", "silver.t", "--to", "1", "-y", cwd=root, check=True)
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout


def test_a_merge_restored_to_a_version_no_build_recorded_is_rebuilt_not_merged_into(
    tmp_path: Path,
) -> None:
    """Merging the new rows into the restored ones would keep row 99, which the model does not
    make; the restore of that restore (version 2) is no better known."""
    root = tmp_path / "r"
    built_over_a_foreign_table(root, MERGE)
    (root / "data" / "s_2.csv").write_text("id,v\n3,30\n")

    run = medallion("run", cwd=root, check=True)

    assert f"rebuilt: {WHY}" in said(run)
    assert ids(root) == [1, 2, 3]
    assert "the ledger adds up" in medallion("verify", cwd=root, check=True).stdout

    medallion("restore", "silver.t", "--to", "2", "-y", cwd=root, check=True)
    assert ids(root) == [1, 2, 99]
    plan = medallion("plan", cwd=root, check=True)
    assert "silver.t rebuild restored to version 2, which no build recorded the inputs" in (
        said(plan)
    )
    medallion("run", cwd=root, check=True)
    assert ids(root) == [1, 2, 3]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout


def test_an_scd2_restored_to_a_version_no_build_recorded_is_refused_naming_full_refresh(
    tmp_path: Path,
) -> None:
    root = tmp_path / "r"
    built_over_a_foreign_table(root, SCD2)
    before = table_versions(Project.load(root))

    plan = medallion("plan", cwd=root, check=True)
    assert f"silver.t refused {WHY}" in said(plan), plan.stdout
    run = medallion("run", cwd=root)

    assert run.returncode == 1
    assert f"models/silver/t.sql: not rebuilt: {WHY}" in said(run)
    assert "medallion run --select t --full-refresh" in said(run)
    assert table_versions(Project.load(root)) == before


def test_rows_another_writer_appended_after_a_build_make_the_model_rebuilt_when_confirmed(
    tmp_path: Path,
) -> None:
    """Another Delta writer appends row 99 to a merge model's table (version 1, after the
    build): no build recorded what the table holds now, as after a restore to such a version.
    `plan` says so; merging the new rows into row 99 would keep it, and a rebuild undoes the
    other writer's change, so the run does it only when confirmed."""
    root = tmp_path / "r"
    write_project(root, CONFIG, {"silver/t.sql": MERGE}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"})
    medallion("run", cwd=root, check=True)
    foreign = pa.table({"id": pa.array([99]), "v": pa.array([990])})
    write_deltalake(str(root / "lakehouse" / "silver" / "t"), foreign, mode="append")
    (root / "data" / "s_2.csv").write_text("id,v\n3,30\n")
    why = "changed outside medallion at version 1 (WRITE): " + UNDOES_CHANGE

    plan = medallion("plan", cwd=root, check=True)
    assert f"silver.t rebuild {why}" in said(plan), plan.stdout
    before = table_versions(Project.load(root))["silver.t"]
    refused = medallion("run", cwd=root)
    assert refused.returncode == 1
    assert f"not rebuilt: {why}; nothing was written" in said(refused)
    assert table_versions(Project.load(root))["silver.t"] == before
    run = medallion("run", "--yes", cwd=root, check=True)

    assert f"rebuilt: {why}" in said(run)
    assert ids(root) == [1, 2, 3]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout
    before_all = table_versions(Project.load(root))
    medallion("run", cwd=root, check=True)  # twice: nothing new, nothing rebuilt
    assert table_versions(Project.load(root)) == before_all


APPEND = "/* ---\nkind: append\n--- */\nselect id, email from bronze.s\n"
EMAILS = "id,email\n1,a@x\n2,b@x\n3,gdpr@x\n"


def erased_by_another_tool(root: Path) -> Path:
    """An append model built, then a row erased from its table with another Delta tool (a
    GDPR erasure, say), then a new source file."""
    write_project(root, CONFIG, {"silver/t.sql": APPEND}, {"data/s_1.csv": EMAILS})
    medallion("run", cwd=root, check=True)
    table = root / "lakehouse" / "silver" / "t"
    DeltaTable(str(table)).delete("email = 'gdpr@x'")
    (root / "data" / "s_2.csv").write_text("id,email\n4,d@x\n")
    return table


def emails(root: Path) -> list[str]:
    rows = Project.load(root).query("select email from silver.t order by email").to_pylist()
    return [r["email"] for r in rows]


def test_a_rebuild_that_would_undo_another_writers_delete_fails_unless_confirmed(
    tmp_path: Path,
) -> None:
    """In a script (no terminal, no --yes) the run refuses to bring the erased row back: the
    step fails naming the table, the other writer's commit and the choice; nothing written.
    With --yes it rebuilds from the inputs, as the plan and the refusal said it would."""
    root = tmp_path / "r"
    erased_by_another_tool(root)
    why = f"changed outside medallion at version 1 (DELETE): {UNDOES_CHANGE}"
    before = table_versions(Project.load(root))["silver.t"]

    plan = medallion("plan", cwd=root, check=True)
    assert f"silver.t rebuild {why}" in said(plan), plan.stdout
    assert "or undo another Delta writer's change" in said(plan)
    run = medallion("run", cwd=root)

    assert run.returncode == 1
    told = said(run)
    assert f"models/silver/t.sql: not rebuilt: {why}; nothing was written" in told, told
    assert "medallion run --yes (or --full-refresh silver.t)" in told
    assert "to keep the change, make it where the rows come from" in told
    assert table_versions(Project.load(root))["silver.t"] == before
    assert emails(root) == ["a@x", "b@x"]

    confirmed = medallion("run", "--yes", cwd=root, check=True)
    assert f"rebuilt: {why}" in said(confirmed)
    assert emails(root) == ["a@x", "b@x", "d@x", "gdpr@x"]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout


def test_a_full_refresh_of_the_table_confirms_undoing_another_writers_change(
    tmp_path: Path,
) -> None:
    root = tmp_path / "r"
    erased_by_another_tool(root)
    assert medallion("run", cwd=root).returncode == 1

    medallion("run", "--full-refresh", "silver.t", cwd=root, check=True)

    assert emails(root) == ["a@x", "b@x", "d@x", "gdpr@x"]


def test_an_scd2_another_writer_changed_is_refused_naming_full_refresh(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_project(root, CONFIG, {"silver/t.sql": SCD2}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"})
    medallion("run", cwd=root, check=True)
    table = str(root / "lakehouse" / "silver" / "t")
    held = DeltaTable(table).to_pyarrow_table()
    foreign = held.slice(0, 1).set_column(
        held.schema.get_field_index("id"), "id", pa.array([99], held.schema.field("id").type)
    )
    write_deltalake(table, foreign, mode="append")
    before = table_versions(Project.load(root))
    why = "changed outside medallion at version 1 (WRITE)"

    plan = medallion("plan", cwd=root, check=True)
    assert f"silver.t refused {why}" in said(plan), plan.stdout
    run = medallion("run", cwd=root)

    assert run.returncode == 1
    assert f"models/silver/t.sql: not rebuilt: {why}" in said(run)
    assert "medallion run --select t --full-refresh" in said(run)
    assert table_versions(Project.load(root)) == before


def test_another_tools_restore_to_a_time_counts_like_a_restore_to_a_version(
    tmp_path: Path,
) -> None:
    """delta-rs's `DeltaTable.restore(datetime)` records the time, not the version: the table
    holds the rows of the build current then (version 0: ids 1 and 2), whose record counts, so
    the next run merges id 3 again rather than taking the undone build's record (up to date,
    id 3 lost)."""
    root = tmp_path / "r"
    write_project(root, CONFIG, {"silver/t.sql": MERGE}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"})
    medallion("run", cwd=root, check=True)
    (root / "data" / "s_2.csv").write_text("id,v\n3,30\n")
    medallion("run", cwd=root, check=True)
    assert ids(root) == [1, 2, 3]
    table = DeltaTable(str(root / "lakehouse" / "silver" / "t"))
    times = {c["version"]: c["timestamp"] for c in table.history()}
    between = (times[0] + times[1]) // 2
    table.restore(datetime.fromtimestamp(between / 1000, tz=UTC))
    assert table.history(1)[0]["operationParameters"] == {"datetime": str(between)}
    assert ids(root) == [1, 2]

    plan = medallion("plan", cwd=root, check=True)
    assert "silver.t incremental 1 new rows upstream" in said(plan), plan.stdout
    medallion("run", cwd=root, check=True)
    assert ids(root) == [1, 2, 3]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout


def test_a_restore_to_a_time_without_a_zone_is_read_as_utc_and_the_plan_says_so(
    tmp_path: Path,
) -> None:
    """Spark's RESTORE ... TO TIMESTAMP AS OF records the user's text, which Spark read in the
    session's time zone; the commit does not say which. Read as UTC, and said in the plan
    (here the commit is delta-rs's restore with its parameters as Spark writes them)."""
    import json

    root = tmp_path / "r"
    write_project(root, CONFIG, {"silver/t.sql": MERGE}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"})
    medallion("run", cwd=root, check=True)
    (root / "data" / "s_2.csv").write_text("id,v\n3,30\n")
    medallion("run", cwd=root, check=True)
    path = root / "lakehouse" / "silver" / "t"
    table = DeltaTable(str(path))
    times = {c["version"]: c["timestamp"] for c in table.history()}
    between = datetime.fromtimestamp((times[0] + times[1]) // 2 / 1000, tz=UTC)
    table.restore(between)
    text = between.replace(tzinfo=None).isoformat(sep=" ")
    log = path / "_delta_log" / f"{2:020d}.json"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for action in lines:
        if "commitInfo" in action:
            action["commitInfo"]["operationParameters"] = {"timestamp": text}
    log.write_text("".join(json.dumps(a) + "\n" for a in lines))

    plan = medallion("plan", cwd=root, check=True)
    assert (
        f"silver.t incremental 1 new rows upstream; restored to a time ({text}) that says no "
        "zone: read as UTC"
    ) in said(plan), plan.stdout
