"""Quarantine tables and replay: rows set aside by `action: quarantine`, moved back into their
model once they pass the model's current expectations, exactly once, even after a crash.

    data/a.csv   id  amount  email        email like '%@%'   email is not null
                 1   10      a@x.com      T                  T
                 2   5       bad          F                  T     (and fails `big`, a warn)
                 3   30      also-bad     F                  T
                 4   40      NULL         NULL               F
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from medallion.errors import ExecutionError, SelectionError
from medallion.project import Project
from medallion.quality import quarantine
from medallion.storage import catalog, snapshot, tables

CONFIG = """
name: q
sources:
  orders:
    path: data/a.csv
    columns: {id: INTEGER, amount: INTEGER, email: VARCHAR}
"""
DATA = "id,amount,email\n1,10,a@x.com\n2,5,bad\n3,30,also-bad\n4,40,\n"
STRICT = "email like '%@%'"
LOOSE = "email is not null"


def model(rule: str) -> str:
    return (
        f'/* ---\nexpectations:\n  valid_email: {{expect: "{rule}", action: quarantine}}\n'
        "  big: amount > 15\n--- */\nselect id, amount, email from bronze.orders\n"
    )


def built(make_project: Callable[..., Project]) -> Project:
    project = make_project(CONFIG, {"silver/x.sql": model(STRICT)}, {"data/a.csv": DATA})
    result = project.run()
    assert result.ok, result.error
    assert result.step("silver.x").rows_quarantined == 3
    return project


def relax(project: Project) -> Project:
    """Rewrite the model so that rows 2 and 3 pass; row 4 (NULL email) still does not."""
    (project.root / "models/silver/x.sql").write_text(model(LOOSE))
    return Project.load(project.root)


def rows(project: Project, table: str) -> list[tuple[Any, ...]]:
    return [
        tuple(r.values())
        for r in project.query(f"select id, amount, email from {table} order by id").to_pylist()
    ]


def test_replay_moves_rows_that_now_pass(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = built(make_project)
    assert rows(project, "silver.x") == [(1, 10, "a@x.com")]
    ids_before = {r["id"]: r["_quarantine_id"] for r in project.quarantined_rows("x").to_pylist()}
    assert sorted(ids_before) == [2, 3, 4]

    project = relax(project)
    before = versions(project)
    result = project.replay("x")
    assert (result.model, result.examined, result.moved, result.remaining) == (
        "silver.x",
        3,
        2,
        1,
    )
    assert (result.batch, result.recovered) == (1, 0)
    assert result.model_version == before["silver.x"] + 1
    assert rows(project, "silver.x") == [
        (1, 10, "a@x.com"),
        (2, 5, "bad"),
        (3, 30, "also-bad"),
    ]
    left = project.quarantined_rows("x").to_pylist()
    assert [(r["id"], r["_failed_expectations"], r["_quarantine_id"]) for r in left] == [
        (4, ["valid_email"], ids_before[4])
    ]
    after = versions(project)
    assert after["silver.x"] == before["silver.x"] + 1  # one append commit
    assert after["bronze.orders"] == before["bronze.orders"]
    history = tables.history(project.catalog.path("silver.x"), 1)[0]
    assert history["medallion.replay"] == 1
    replay_run = project.runs(1)[0]
    assert (replay_run["trigger"], replay_run["status"]) == ("replay", "success")
    assert project.verify().ok

    again = project.replay("silver.x")
    assert (again.examined, again.moved, again.remaining, again.batch) == (1, 0, 1, None)
    assert versions(project) == after
    assert rows(project, "silver.x") == [
        (1, 10, "a@x.com"),
        (2, 5, "bad"),
        (3, 30, "also-bad"),
    ]


def test_replay_with_unchanged_rules_moves_nothing(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = built(make_project)
    before = versions(project)
    result = project.replay("x")
    assert (result.examined, result.moved, result.remaining) == (3, 0, 3)
    assert versions(project) == before


def test_replaying_a_source_quarantine_is_an_error(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    files = {"data/a.csv": DATA, "data/e.csv": "id,amount\n1,5\nx,7\n"}
    config = (
        CONFIG + "  events:\n    path: data/e.csv\n    columns: {id: INTEGER, amount: INTEGER}\n"
        "    max_rejected: 100%\n"  # one line in two: more than the default 10%
    )
    project = make_project(config, {"silver/x.sql": model(STRICT)}, files)
    assert project.run().ok
    before = versions(project)
    with pytest.raises(ExecutionError) as err:
        project.replay("events")
    assert err.value.message == (
        "bronze.events quarantines rows its files could not parse; they cannot be replayed"
    )
    assert versions(project) == before
    assert project.runs(1)[0]["status"] == "failed"

    listed = sorted(
        (t.table, t.of, t.kind, t.rows, t.version) for t in quarantine.list_tables(project)
    )
    assert listed == [
        ("bronze.events__quarantine", "bronze.events", "source", 1, 0),
        ("silver.x__quarantine", "silver.x", "model", 3, 0),
    ]
    assert [t.table for t in project.quarantines()] == [t[0] for t in listed]


def test_replay_of_a_table_without_quarantine_is_an_error(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {"silver/x.sql": model(STRICT), "silver/y.sql": "select id from bronze.orders\n"},
        {"data/a.csv": DATA},
    )
    assert project.run().ok
    with pytest.raises(SelectionError) as err:
        project.replay("y")
    assert err.value.message == "silver.y has no quarantine table"


def mark(project: Project, batch_ids: list[int], run_id: str) -> pa.Table:
    """Step 1 of a replay, as quarantine.replay writes it: the quarantine rewritten with
    `_replayed_batch = 1` on the rows of `batch_ids`. Returns the marked rows."""
    q_path = project.catalog.path("silver.x__quarantine")
    table = snapshot.dataset(q_path).to_table()
    marks = pa.array(
        [1 if i in batch_ids else None for i in table.column("id").to_pylist()], pa.int64()
    )
    table = table.append_column(quarantine.REPLAYED, marks)
    tables.write(q_path, table.to_reader(), mode="overwrite", run_id=run_id)
    return table.filter(pc.is_valid(table.column(quarantine.REPLAYED)))


def test_replay_finishes_a_replay_interrupted_after_marking(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    mark(project, [2, 3], "crashed-run")
    # the rules were not changed: only the rows marked by the interrupted replay move
    result = project.replay("x")
    assert (result.recovered, result.moved, result.examined, result.remaining) == (2, 0, 1, 1)
    assert rows(project, "silver.x") == [
        (1, 10, "a@x.com"),
        (2, 5, "bad"),
        (3, 30, "also-bad"),
    ]
    assert [r["id"] for r in project.quarantined_rows("x").to_pylist()] == [4]
    assert quarantine.REPLAYED in project.quarantined_rows("x").column_names
    assert (
        tables.transaction_version(project.catalog.path("silver.x"), "medallion.replay.silver.x")
        == 1
    )

    again = project.replay("x")
    assert (again.recovered, again.moved, again.remaining) == (0, 0, 1)
    assert rows(project, "silver.x") == [
        (1, 10, "a@x.com"),
        (2, 5, "bad"),
        (3, 30, "also-bad"),
    ]


def test_replay_finishes_a_replay_interrupted_after_appending(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    marked = mark(project, [3], "crashed-run")
    # step 2 also happened: the row is in the model with the replay transaction, but it was
    # not yet removed from the quarantine
    m_path = project.catalog.path("silver.x")
    target = pa.schema(tables.open_table(m_path).schema().to_arrow())
    append = pa.table({f.name: marked.column(f.name).cast(f.type) for f in target}, schema=target)
    tables.write(
        m_path,
        append.to_reader(),
        mode="append",
        run_id="crashed-run",
        app_transaction=(catalog.app_id("replay", "silver.x"), 1),
    )
    project = relax(project)  # row 2 now passes too; row 3 must still be appended only once
    result = project.replay("x")
    assert (result.recovered, result.moved, result.remaining, result.batch) == (1, 1, 1, 2)
    assert rows(project, "silver.x") == [
        (1, 10, "a@x.com"),
        (2, 5, "bad"),
        (3, 30, "also-bad"),
    ]
    assert [r["id"] for r in project.quarantined_rows("x").to_pylist()] == [4]


def test_select_star_from_a_source_can_quarantine(
    make_project: Callable[..., Project],
) -> None:
    # bronze rows carry the audit columns _source_file, _ingested_at and _run_id; the
    # quarantine table adds its own _run_id. Row 2 must end up somewhere: quarantined by a
    # successful step, or kept upstream by a failed step that committed nothing.
    text = model(STRICT).replace("select id, amount, email from", "select * from")
    project = make_project(CONFIG, {"silver/x.sql": text}, {"data/a.csv": DATA})
    result = project.run()
    step = result.step("silver.x")
    assert not (step.error or "").startswith("internal error"), step.error
    if step.status == "success":
        assert step.rows_quarantined == 3
        quarantined = project.quarantined_rows("x").to_pylist()
        assert sorted(r["id"] for r in quarantined) == [2, 3, 4]
        assert rows(project, "silver.x") == [(1, 10, "a@x.com")]
    else:
        assert step.delta_version is None
        assert not project.catalog.exists("silver.x")


# -- incremental models: a recomputed scope replaces its quarantined rows ---------------------

SCOPED_CONFIG = """
name: scoped
sources:
  ev:
    path: data/ev*.csv
    columns: {k: BIGINT, day: DATE, v: INTEGER}
    max_rejected: 100%  # a few lines a file: one bad line is more than the default 10%
"""
SCOPED_MODELS = {
    "silver/clean.sql": """\
        /* ---
        kind: merge
        unique_key: k
        expectations:
          positive: {expect: v > 0, action: quarantine}
        --- */
        select k, day, v from bronze.ev
        """,
    "gold/daily.sql": """\
        /* ---
        kind: incremental_by_time
        time_column: day
        expectations:
          positive_total: {expect: total > 0, action: quarantine}
        --- */
        select day, sum(v) as total from bronze.ev group by day
        """,
}


def quarantined(project: Project, table: str, columns: str) -> list[tuple[Any, ...]]:
    data = project.query(f"select {columns} from {table}__quarantine order by all")
    return [tuple(r.values()) for r in data.to_pylist()]


def test_reprocessed_keys_and_periods_are_quarantined_once_as_a_rebuild_would(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    first = "k,day,v\n1,2024-01-01,-1\n2,2024-01-01,5\n3,2024-01-02,-9\n"
    later = "k,day,v\n1,2024-01-01,-1\n4,2024-01-03,1\n"  # key 1 again; day 1 recomputed
    incremental = make_project(SCOPED_CONFIG, SCOPED_MODELS, {"data/ev1.csv": first}, name="i")
    assert incremental.run(trigger="test").ok
    (incremental.root / "data/ev2.csv").write_text(later)
    result = incremental.run(trigger="test")
    assert result.ok, result.error
    rebuilt = make_project(
        SCOPED_CONFIG, SCOPED_MODELS, {"data/ev1.csv": first, "data/ev2.csv": later}, name="r"
    )
    assert rebuilt.run(trigger="test").ok

    # key 1's rows: both copies failing (as a rebuild has them), not the first one twice more
    assert quarantined(incremental, "silver.clean", "k, v") == [(1, -1), (1, -1), (3, -9)]
    assert quarantined(incremental, "silver.clean", "k, v") == quarantined(
        rebuilt, "silver.clean", "k, v"
    )
    # day 2 (total -9) was not recomputed: its quarantined row is kept, once
    assert quarantined(incremental, "gold.daily", "day::varchar, total") == [("2024-01-02", -9)]
    assert quarantined(incremental, "gold.daily", "day, total") == quarantined(
        rebuilt, "gold.daily", "day, total"
    )
    assert result.step("silver.clean").rows_quarantined == 2
    assert incremental.verify().ok  # the ledger knows the commit holds the whole quarantine

    # a fixed row replaces its quarantined versions: the failing copies stay while they exist
    (incremental.root / "data/ev3.csv").write_text("k,day,v\n3,2024-01-02,9\n")
    assert incremental.run(trigger="test").ok
    assert quarantined(incremental, "silver.clean", "k, v") == [(1, -1), (1, -1), (3, -9)]
    # day 2 recomputed: -9 + 9 = 0 still fails, and replaces the -9 row
    assert quarantined(incremental, "gold.daily", "day::varchar, total") == [("2024-01-02", 0)]
    before = versions(incremental)
    assert incremental.run(trigger="test").ok
    assert versions(incremental) == before


def test_models_can_read_quarantine_tables_even_before_anything_is_quarantined(
    make_project: Callable[..., Project],
) -> None:
    """As a DLT pipeline's `events_quarantine`: a view over a quarantine table (and a model
    counting a source's unparsable rows), empty until rows land there."""
    models = {
        **{"silver/clean.sql": SCOPED_MODELS["silver/clean.sql"]},
        "silver/rejected.sql": "/* ---\nkind: view\n--- */\n"
        "select k, v, _failed_expectations from silver.clean__quarantine\n",
        "gold/unparsable.sql": "select count(*) as n from bronze.ev__quarantine\n",
    }
    project = make_project(SCOPED_CONFIG, models, {"data/ev1.csv": "k,day,v\n1,2024-01-01,5\n"})
    assert project.lineage("silver.rejected")["upstream"] == ["bronze.ev", "silver.clean"]
    first = project.run(trigger="test")
    assert first.ok, first.error
    assert project.query("select * from silver.rejected").num_rows == 0
    assert project.query("select n from gold.unparsable").to_pylist() == [{"n": 0}]

    (project.root / "data/ev2.csv").write_text("k,day,v\n2,2024-01-02,-3\n3,not a day,1\n")
    second = project.run(trigger="test")
    assert second.ok, second.error
    assert project.query("select k, v, _failed_expectations from silver.rejected").to_pylist() == [
        {"k": 2, "v": -3, "_failed_expectations": ["positive"]}
    ]
    assert project.query("select n from gold.unparsable").to_pylist() == [{"n": 1}]


def test_a_model_without_quarantine_rules_has_no_quarantine_to_read(
    make_project: Callable[..., Project],
) -> None:
    from medallion.errors import ModelError

    models = {
        "silver/plain.sql": "select k from bronze.ev\n",
        "gold/q.sql": "select * from silver.plain__quarantine\n",
    }
    with pytest.raises(ModelError, match=r"unknown table silver\.plain__quarantine"):
        make_project(
            SCOPED_CONFIG, models, {"data/ev1.csv": "k,day,v\n1,2024-01-01,5\n"}
        ).validate()
