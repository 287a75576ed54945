"""What a user changes under a file source that would lose or alter rows silently: a cut JSON
array that still parses, a declared type changed under an existing bronze table, a full refresh
that would empty most of the table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import medallion, table_versions, write_project

from medallion.project import Project

Helper = Callable[..., Any]


def test_a_json_array_cut_after_a_comma_fails_naming_the_file(
    make_project: Helper, source_config: Helper, versions: Helper
) -> None:
    # DuckDB reads `[{..}, {..},` as the objects before the cut: half a file, run green
    text = json.dumps([{"id": i} for i in range(50)])
    p = make_project(source_config("d/*.json"), files={"d/ok.json": '{"id": 100}\n'})
    assert p.run().ok
    before = versions(p)
    pretty = json.dumps(json.loads(text), indent=2)
    for cut in (text[: text.index('{"id": 25')], pretty[: pretty.index("},") + 3]):
        (p.root / "d" / "a.json").write_text(cut, encoding="utf-8")
        result = p.run()
        step = result.step("bronze.s")
        assert step.status == "failed"
        assert "cannot read d/a.json" in step.error and "never closed" in step.error
        assert versions(p) == before


def test_a_declared_type_changed_under_an_existing_table_is_refused_until_refreshed(
    make_project: Helper, source_config: Helper, versions: Helper
) -> None:
    config = source_config("d/*.csv", columns="{id: BIGINT, amount: 'DECIMAL(12, 2)'}")
    p = make_project(config, files={"d/a.csv": "id,amount\n1,10.25\n"})
    assert p.run().ok
    (p.root / "medallion.yml").write_text(config.replace("'DECIMAL(12, 2)'", "DOUBLE"))
    (p.root / "d" / "b.csv").write_text("id,amount\n2,10.1234\n")
    before = versions(p)

    from medallion.project import Project

    p = Project.load(p.root)
    planned = {e.node: e for e in p.plan().entries}["bronze.s"]
    assert planned.action == "refused" and "--full-refresh s" in (planned.why or "")
    refused = p.run()

    step = refused.step("bronze.s")
    assert step.status == "failed"
    assert "sources.s.columns.amount changed from DECIMAL(12,2) to DOUBLE" in step.error
    assert "--full-refresh s" in step.error
    assert versions(p) == before
    refreshed = p.run(full_refresh=["s"], yes=True)
    assert refreshed.ok, refreshed.error
    rows = p.query("select id, amount from bronze.s order by id").to_pylist()
    assert rows == [{"id": 1, "amount": 10.25}, {"id": 2, "amount": 10.1234}]
    # and the new type is what later runs compare with
    assert p.run().ok


def test_a_type_declared_after_the_table_was_inferred_otherwise_is_refused_by_plan_and_run(
    tmp_path: Path,
) -> None:
    """Day 1 infers ref as BIGINT; day 2 has a text ref and the user declares VARCHAR, as the
    rejection's hint says: the new files would not fit the table's BIGINT rows, so plan and run
    refuse it, naming the column and both types, until `--full-refresh feed`."""
    config = "name: x5\nsources:\n  feed:\n    path: data/feed_*.csv\n"
    root = write_project(tmp_path / "x5", config, files={"data/feed_1.csv": "id,ref\n1,100\n"})
    medallion("run", cwd=root, check=True)
    (root / "data" / "feed_2.csv").write_text("id,ref\n3,ABC\n4,400\n")
    (root / "medallion.yml").write_text(config + "    columns: {ref: VARCHAR}\n")
    before = table_versions(Project.load(root))
    why = "sources.feed.columns.ref is declared VARCHAR, but the table holds it as BIGINT"

    plan = medallion("plan", cwd=root)
    planned = " ".join(plan.stdout.split())
    assert "bronze.feed refused" in planned and why in planned, plan.stdout
    assert "needs --full-refresh feed" in planned
    run = medallion("run", cwd=root)

    assert run.returncode == 1
    said = " ".join((run.stdout + run.stderr).split())
    assert "internal error" not in said and "Cast error" not in said
    assert f"source feed: {why}: the rows already in bronze.feed were read" in said, said
    assert "hint: re-ingest every file with the new type: medallion run --full-refresh feed" in (
        said
    )
    assert table_versions(Project.load(root)) == before
    medallion("run", "--full-refresh", "feed", cwd=root, check=True)
    rows = Project.load(root).query("select id, ref from bronze.feed order by id").to_pylist()
    assert rows == [{"id": 1, "ref": "100"}, {"id": 3, "ref": "ABC"}, {"id": 4, "ref": "400"}]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout


def test_declaring_the_type_a_table_holds_in_another_spelling_is_no_change(
    make_project: Helper, source_config: Helper, versions: Helper
) -> None:
    config = source_config("d/*.csv")
    p = make_project(config, files={"d/a.csv": "id,n,ref\n1,2,x\n"})
    assert p.run().ok
    (p.root / "medallion.yml").write_text(
        config + "    columns: {id: INT8, n: 'bigint', ref: TEXT}\n"
    )
    (p.root / "d" / "b.csv").write_text("id,n,ref\n2,3,y\n")
    p = Project.load(p.root)
    assert {e.node: e.action for e in p.plan().entries}["bronze.s"] == "new input"
    assert p.run().ok
    # then spelt another way again: the same types, still no change
    (p.root / "medallion.yml").write_text(config + "    columns: {id: BIGINT, ref: STRING}\n")
    (p.root / "d" / "c.csv").write_text("id,n,ref\n3,4,z\n")
    p = Project.load(p.root)
    assert p.run().ok
    assert p.row_count("bronze.s") == 3


def test_a_full_refresh_that_would_empty_most_of_a_source_needs_yes(
    make_project: Helper, source_config: Helper, versions: Helper
) -> None:
    many = "id\n" + "".join(f"{i}\n" for i in range(10))
    p = make_project(source_config("d/*.csv"), files={"d/a.csv": many})
    assert p.run().ok
    before = versions(p)
    (p.root / "d" / "a.csv").write_text("id\n1\n")  # the export was cut to one row in place

    refused = p.run(full_refresh=["s"])

    step = refused.step("bronze.s")
    assert step.status == "failed"
    assert "would leave 1 of the table's 10 rows" in step.error
    assert versions(p) == before
    assert p.run(full_refresh=["s"], yes=True).ok
    assert p.row_count("bronze.s") == 1
