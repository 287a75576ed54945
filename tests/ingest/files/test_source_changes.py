"""What a user changes under a file source that would lose or alter rows silently: a cut JSON
array that still parses, a declared type changed under an existing bronze table, a full refresh
that would empty most of the table."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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
