"""Row-level expectations: warn / drop / quarantine / fail on a five-row table, counted by hand.

The source (`data/a.csv`) has five rows; every expected number below was worked out from it:

    id  amount  email      amount > 0   amount < 25   email like '%@%'
    1   10      a@x.com    T            T             T
    2   -5      b@x.com    F            T             T
    3   NULL    c@x.com    NULL         NULL          T
    4   -1      bad        F            T             F
    5   30      NULL       T            F             NULL
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from medallion.errors import ModelError
from medallion.project import Project

CONFIG = """
name: q
sources:
  orders:
    path: data/a.csv
    columns: {id: INTEGER, amount: INTEGER, email: VARCHAR}
"""
DATA = "id,amount,email\n1,10,a@x.com\n2,-5,b@x.com\n3,,c@x.com\n4,-1,bad\n5,30,\n"
SELECT = "select id, amount, email from bronze.orders\n"


def model(expectations: str, select: str = SELECT) -> str:
    return f"/* ---\nexpectations:\n{expectations}--- */\n{select}"


def build(make_project: Callable[..., Project], expectations: str) -> Project:
    return make_project(CONFIG, {"silver/orders.sql": model(expectations)}, {"data/a.csv": DATA})


def ids(project: Project, table: str) -> list[int]:
    rows = project.query(f"select id from {table} order by id").to_pylist()
    return [r["id"] for r in rows]


def expectation_rows(project: Project, run_id: str) -> list[tuple[Any, ...]]:
    return [
        (r["name"], r["kind"], r["severity"], r["status"], r["failing_rows"], r["message"])
        for r in project.check_results(run_id)
        if r["kind"] == "expectation"
    ]


def test_warn_keeps_rows_and_counts_violations(make_project: Callable[..., Project]) -> None:
    project = build(make_project, "  positive: amount > 0\n")
    result = project.run()
    assert result.ok, result.error
    step = result.step("silver.orders")
    assert step.details["expectations"] == {"positive": 3}  # ids 2, 4 and NULL 3
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        5,
        5,
        0,
        0,
    )
    assert ids(project, "silver.orders") == [1, 2, 3, 4, 5]
    assert expectation_rows(project, result.run_id) == [
        ("positive", "expectation", "warn", "warn", 3, "3 of 5 rows violate it (kept)")
    ]
    assert not project.catalog.exists("silver.orders__quarantine")


def test_passing_expectation_is_logged_as_pass(make_project: Callable[..., Project]) -> None:
    project = build(make_project, "  has_id: id is not null\n")
    result = project.run()
    assert result.ok, result.error
    assert expectation_rows(project, result.run_id) == [
        ("has_id", "expectation", "warn", "pass", 0, "all 5 rows pass")
    ]


def test_drop_removes_and_counts_null_is_a_violation(
    make_project: Callable[..., Project],
) -> None:
    project = build(make_project, "  positive: {expect: amount > 0, action: drop}\n")
    result = project.run()
    assert result.ok, result.error
    step = result.step("silver.orders")
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        5,
        2,
        3,
        0,
    )
    assert ids(project, "silver.orders") == [1, 5]
    assert expectation_rows(project, result.run_id) == [
        ("positive", "expectation", "drop", "warn", 3, "3 of 5 rows violate it (dropped)")
    ]


def test_quarantine_moves_rows_with_every_failed_name(
    make_project: Callable[..., Project],
) -> None:
    project = build(
        make_project,
        "  positive: amount > 0\n"
        "  valid_email: {expect: \"email like '%@%'\", action: quarantine}\n",
    )
    result = project.run()
    assert result.ok, result.error
    step = result.step("silver.orders")
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        5,
        3,
        0,
        2,
    )
    assert step.details["expectations"] == {"positive": 3, "valid_email": 2}
    assert ids(project, "silver.orders") == [1, 2, 3]
    assert expectation_rows(project, result.run_id) == [
        ("positive", "expectation", "warn", "warn", 3, "3 of 5 rows violate it (kept)"),
        (
            "valid_email",
            "expectation",
            "quarantine",
            "warn",
            2,
            "2 of 5 rows violate it (quarantined)",
        ),
    ]
    q = project.quarantined_rows("orders")
    assert q.column_names == [
        "id",
        "amount",
        "email",
        "_failed_expectations",
        "_run_id",
        "_quarantined_at",
        "_quarantine_id",
    ]
    rows = sorted(q.to_pylist(), key=lambda r: r["id"])
    assert [
        (r["id"], r["amount"], r["email"], r["_failed_expectations"], r["_run_id"]) for r in rows
    ] == [
        (4, -1, "bad", ["positive", "valid_email"], result.run_id),
        (5, 30, None, ["valid_email"], result.run_id),
    ]
    assert all(r["_quarantined_at"] is not None for r in rows)
    assert len({r["_quarantine_id"] for r in rows}) == 2
    assert project.query("select count(*) as n from silver.orders__quarantine")[
        "n"
    ].to_pylist() == [2]


def test_strictest_action_wins(make_project: Callable[..., Project]) -> None:
    # row 3 fails positive (warn) and small (drop): dropped
    # row 4 fails positive (warn) and valid_email (quarantine): quarantined
    # row 5 fails small (drop) and valid_email (quarantine): quarantined, not dropped
    project = build(
        make_project,
        "  positive: amount > 0\n"
        "  small: {expect: amount < 25, action: drop}\n"
        "  valid_email: {expect: \"email like '%@%'\", action: quarantine}\n",
    )
    result = project.run()
    assert result.ok, result.error
    step = result.step("silver.orders")
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        5,
        2,
        1,
        2,
    )
    assert step.details["expectations"] == {"positive": 3, "small": 2, "valid_email": 2}
    assert ids(project, "silver.orders") == [1, 2]
    q = sorted(project.quarantined_rows("orders").to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["_failed_expectations"]) for r in q] == [
        (4, ["positive", "valid_email"]),
        (5, ["small", "valid_email"]),
    ]


FAIL_MODEL = model(
    "  valid_email: {expect: \"email like '%@%'\", action: quarantine}\n"
    "  cap: {expect: amount is null or amount < 100, action: fail}\n"
)


def test_fail_aborts_and_commits_nothing(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(
        CONFIG,
        {"silver/orders.sql": FAIL_MODEL, "gold/n.sql": "select count(*) as n from silver.orders"},
        {"data/a.csv": DATA},
    )
    first = project.run()
    assert first.ok, first.error
    before = versions(project)
    assert sorted(before) == [
        "bronze.orders",
        "gold.n",
        "silver.orders",
        "silver.orders__quarantine",
    ]
    # tighten the rule so that it fails on the same data: rows 1, 5 and 3 (NULL); row 5 also
    # fails the quarantine rule — fail is stricter
    text = FAIL_MODEL.replace("amount is null or amount < 100", "amount < 0")
    (project.root / "models/silver/orders.sql").write_text(text)
    project = Project.load(project.root)
    second = project.run()
    assert not second.ok
    assert second.status == "failed"
    step = second.step("silver.orders")
    assert step.status == "failed"
    assert step.delta_version is None
    assert "expectation 'cap' (3 rows) failed (action: fail) on 3 of 5 rows" in step.error
    assert "nothing was written" in step.error
    sample = step.error.split("sample rows:\n", 1)[1].split("\n  hint:", 1)[0]
    assert sample.splitlines() == [
        "  [cap] id=1, amount=10, email='a@x.com'",
        "  [cap] id=3, amount=NULL, email='c@x.com'",
        "  [valid_email, cap] id=5, amount=30, email=NULL",
    ]
    assert second.step("gold.n").status == "skipped"
    assert versions(project) == before
    assert ids(project, "silver.orders") == [1, 2, 3]


def test_fail_sample_has_at_most_five_rows(make_project: Callable[..., Project]) -> None:
    data = "id,amount,email\n" + "".join(f"{i},{i},x\n" for i in range(1, 8))
    project = make_project(
        CONFIG,
        {"silver/orders.sql": model("  neg: {expect: amount < 0, action: fail}\n")},
        {"data/a.csv": data},
    )
    result = project.run()
    assert result.status == "failed"
    error = result.step("silver.orders").error
    assert "expectation 'neg' (7 rows) failed (action: fail) on 7 of 7 rows" in error
    sample = error.split("sample rows:\n", 1)[1].split("\n  hint:", 1)[0]
    assert sample.splitlines() == [f"  [neg] id={i}, amount={i}, email='x'" for i in range(1, 6)]
    assert not project.catalog.exists("silver.orders")


def test_invalid_predicate_is_a_load_error(make_project: Callable[..., Project]) -> None:
    project = build(make_project, "  broken: amount >\n")
    with pytest.raises(ModelError) as err:
        project.validate()
    assert err.value.model == "silver.orders"
    assert err.value.file is not None and err.value.file.endswith("orders.sql")
    assert "expectation 'broken' of silver.orders is not a valid SQL expression" in str(err.value)
    assert "'amount >' ends before the expression is complete" in str(err.value)
    assert err.value.line == 3  # the expectation's line in the header
    assert not project.catalog.exists("bronze.orders")


def test_an_invalid_predicate_in_the_long_form_names_its_expect_line(
    make_project: Callable[..., Project],
) -> None:
    project = build(
        make_project, "  ok: amount > 0\n  bad:\n    action: drop\n    expect: a >> > 1\n"
    )
    with pytest.raises(ModelError) as err:
        project.validate()
    assert err.value.line == 6
    assert "expectation 'bad' of silver.orders" in str(err.value)


def test_unknown_column_fails_the_model_at_run_time(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/orders.sql": model("  ghost: amont > 0\n"),
            "silver/other.sql": "select id from bronze.orders\n",
        },
        {"data/a.csv": DATA},
    )
    result = project.run()
    assert result.status == "failed"
    step = result.step("silver.orders")
    assert step.status == "failed"
    assert "expectation 'ghost'" in step.error
    assert "amont" in step.error
    assert result.step("silver.other").status == "success"
    assert not project.catalog.exists("silver.orders")


PY_MODEL = '''"""---
depends_on: [bronze.orders]
expectations:
  positive: {expect: amount > 0, action: drop}
  valid_email: {expect: "email like '%@%'", action: quarantine}
"""


def model(ctx):
    return ctx.sql("select id, amount, email from bronze.orders").arrow()
'''


def test_expectations_on_a_python_model(make_project: Callable[..., Project]) -> None:
    # row 4 fails both (quarantined), row 5 fails valid_email, rows 2 and 3 are dropped
    project = make_project(CONFIG, {"silver/py.py": PY_MODEL}, {"data/a.csv": DATA})
    result = project.run()
    assert result.ok, result.error
    step = result.step("silver.py")
    assert (step.rows_in, step.rows_written, step.rows_dropped, step.rows_quarantined) == (
        5,
        1,
        2,
        2,
    )
    assert ids(project, "silver.py") == [1]
    q = sorted(project.quarantined_rows("py").to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["_failed_expectations"]) for r in q] == [
        (4, ["positive", "valid_email"]),
        (5, ["valid_email"]),
    ]


def test_a_view_with_expectations_is_a_load_error(make_project: Callable[..., Project]) -> None:
    text = "/* ---\nkind: view\nexpectations:\n  positive: amount > 0\n--- */\n" + SELECT
    project = make_project(CONFIG, {"silver/v.sql": text}, {"data/a.csv": DATA})
    with pytest.raises(ModelError) as err:
        project.validate()
    assert "a view has no expectations" in str(err.value)
    assert err.value.file is not None and err.value.file.endswith("v.sql")


def test_table_quarantine_is_rebuilt_each_run(make_project: Callable[..., Project]) -> None:
    project = build(
        make_project, "  valid_email: {expect: \"email like '%@%'\", action: quarantine}\n"
    )
    first = project.run()
    assert first.ok, first.error
    assert sorted(r["id"] for r in project.quarantined_rows("orders").to_pylist()) == [4, 5]
    fixed = "id,amount,email\n1,10,a@x.com\n2,-5,b@x.com\n3,,c@x.com\n4,-1,d@x.com\n5,30,e@x\n"
    (project.root / "data/a.csv").write_text(fixed)
    second = project.run(full_refresh=True)
    assert second.ok, second.error
    step = second.step("silver.orders")
    assert (step.rows_in, step.rows_written, step.rows_quarantined) == (5, 5, 0)
    assert project.quarantined_rows("orders").num_rows == 0
    assert ids(project, "silver.orders") == [1, 2, 3, 4, 5]
    assert project.verify().ok


def test_quarantine_keeps_names_order_and_numbers(make_project: Callable[..., Project]) -> None:
    # 300,000 rows in several batches; every third row breaks `not_third` (quarantine) and every
    # fifth also breaks `not_fifth` (warn)
    project = make_project(
        "name: q\n",
        {
            "silver/numbers.sql": model(
                "  not_third: {expect: id % 3 <> 0, action: quarantine}\n"
                "  not_fifth: id % 5 <> 0\n",
                "select range as id from range(300000)\n",
            )
        },
    )
    before = datetime.now(UTC)
    result = project.run()
    assert result.ok, result.error
    assert result.step("silver.numbers").rows_quarantined == 100_000
    rows = project.query(
        "select id, _failed_expectations as failed, _run_id, _quarantine_id, _quarantined_at"
        " from silver.numbers__quarantine"
    ).to_pylist()
    number = {r["id"]: int(r["_quarantine_id"].split(":")[-1]) for r in rows}
    # numbered 0 .. n-1 in the order the rows left the model
    assert sorted(number.items()) == [(i, n) for n, i in enumerate(range(0, 300_000, 3))]
    assert {r["_quarantine_id"].rsplit(":", 1)[0] for r in rows} == {result.run_id}
    assert {r["_run_id"] for r in rows} == {result.run_id}
    assert all(
        r["failed"] == (["not_third", "not_fifth"] if r["id"] % 5 == 0 else ["not_third"])
        for r in rows
    )
    stamps = {r["_quarantined_at"] for r in rows}
    assert len(stamps) == 1
    assert before <= stamps.pop() <= datetime.now(UTC)  # aware: UTC


def test_spilled_quarantine_keeps_names_order_and_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # quarantined rows are kept until the model has committed: in memory, then in a Parquet spill
    import pyarrow as pa

    from medallion.config.checks import Expectation
    from medallion.engine.duckdb import DuckDBEngine
    from medallion.quality import expectations as ex
    from medallion.storage.catalog import Catalog

    monkeypatch.setattr(ex, "QUARANTINE_MEMORY", 1)
    rules = {
        "not_third": Expectation(expect="id % 3 <> 0", action="quarantine"),
        "not_fifth": Expectation(expect="id % 5 <> 0"),
    }
    engine = DuckDBEngine(Catalog(tmp_path / "lake", ["silver"]))
    rel = engine.relation("select range as id from range(30000)")
    checked = ex.wrap(engine, rel, rules, model="silver.numbers", file=None)
    router = ex.Router(
        engine.reader(checked, 10_000),
        rules,
        model="silver.numbers",
        file=None,
        spill_dir=tmp_path,
        run_id="r1",
    )
    kept = router.kept().read_all()
    assert kept.num_rows == 20_000 and kept.column_names == ["id"]
    spill = router.outcome.spill
    assert isinstance(spill, ex.QuarantineBuffer) and spill.path is not None  # spilled
    rows = pa.Table.from_batches(list(spill.batches())).to_pylist()
    assert [r["id"] for r in rows] == list(range(0, 30_000, 3))
    assert [r["_quarantine_id"] for r in rows] == [f"r1:{n}" for n in range(10_000)]
    assert all(
        r["_failed_expectations"]
        == (["not_third", "not_fifth"] if r["id"] % 5 == 0 else ["not_third"])
        for r in rows
    )
    router.discard()
    engine.close()
    assert not spill.path or not spill.path.exists()
    assert list(tmp_path.iterdir()) == []


def _add_constraint(project: Project, table: str, constraint: str) -> None:
    from deltalake import DeltaTable

    DeltaTable(str(project.catalog.path(table))).alter.add_constraint({"limit": constraint})


def _data_files(project: Project, table: str) -> list[str]:
    folder = project.catalog.path(table)
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*.parquet"))


def _numbers(rows: int) -> str:
    return model(
        "  not_third: {expect: id % 3 <> 0, action: quarantine}\n",
        f"select range as id from range({rows})\n",
    )


def test_quarantined_rows_are_not_committed_when_the_model_fails(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    # a model whose write fails after rows were set aside (a Delta constraint broken by its last
    # batches) leaves its quarantine as it was, and no spill behind
    project = make_project("name: q\n", {"silver/numbers.sql": _numbers(300_000)})
    assert project.run().ok
    _add_constraint(project, "silver.numbers", "id < 400000")
    before, files = versions(project), _data_files(project, "silver.numbers__quarantine")
    (project.root / "models/silver/numbers.sql").write_text(_numbers(600_000))

    result = Project.load(project.root).run()

    step = result.step("silver.numbers")
    assert step.status == "failed"
    assert "rows failed validation check" in step.error
    assert versions(project) == before
    assert _data_files(project, "silver.numbers__quarantine") == files
    assert project.quarantined_rows("numbers").num_rows == 100_000
    assert not any((project.state_dir / "tmp").glob("quarantine-*"))


def test_a_quarantine_that_cannot_be_written_fails_the_step_and_the_model_is_built_again(
    make_project: Callable[..., Project],
) -> None:
    # the quarantine is written after the model's commit: when it fails (a constraint on the
    # quarantine table), the step fails naming both tables, and the next run does not take the
    # committed model for up to date — the rows it set aside would be lost
    from deltalake import DeltaTable

    project = make_project("name: q\n", {"silver/numbers.sql": _numbers(300)})
    assert project.run().ok
    quarantine = DeltaTable(str(project.catalog.path("silver.numbers__quarantine")))
    quarantine.alter.add_constraint({"limit": "id < 1000"})
    (project.root / "models/silver/numbers.sql").write_text(_numbers(3000))

    second = Project.load(project.root).run()

    step = second.step("silver.numbers")
    assert step.status == "failed"
    assert (
        "silver.numbers was committed (version 1), but its quarantined rows could not be "
        "written to silver.numbers__quarantine: " in step.error
    )
    assert project.query("select count(*) as n from silver.numbers").to_pylist() == [{"n": 2000}]
    assert project.quarantined_rows("numbers").num_rows == 100  # the first run's

    quarantine.alter.drop_constraint("limit")
    third = Project.load(project.root).run()

    assert third.ok, third.error
    assert third.step("silver.numbers").rows_quarantined == 1000  # built again, not up to date
    assert project.quarantined_rows("numbers").num_rows == 1000
    # the ledger shows the failed run's rows set aside and never written, and only that run
    audit = project.verify().runs()
    assert audit[second.run_id] is False
    assert all(ok for run_id, ok in audit.items() if run_id != second.run_id)


def test_a_failed_first_build_leaves_no_table_folders(make_project: Callable[..., Project]) -> None:
    # a fail expectation on the first build: no table folder is left to list or read
    project = make_project(
        "name: q\n",
        {
            "silver/numbers.sql": model(
                "  not_third: {expect: id % 3 <> 0, action: quarantine}\n"
                "  cap: {expect: id < 500000, action: fail}\n",
                "select range as id from range(600000)\n",
            )
        },
    )
    result = project.run()
    assert not result.ok
    assert "expectation 'cap' (100,000 rows) failed" in result.step("silver.numbers").error
    assert not project.catalog.path("silver.numbers").exists()
    assert not project.catalog.path("silver.numbers__quarantine").exists()


# -- routing ahead of the writer (`_Ahead`) ---------------------------------------------------


def _routing_threads() -> list[Any]:
    import threading

    return [t for t in threading.enumerate() if t.name == "medallion-route"]


def test_routed_ahead_keeps_order_and_raises_the_routing_error() -> None:
    from medallion.quality.expectations import _Ahead

    assert list(_Ahead(iter(range(50)), 2)) == list(range(50))

    def broken() -> Any:
        yield 1
        raise ValueError("the third batch failed")

    out = _Ahead(broken(), 2)
    assert next(out) == 1
    with pytest.raises(ValueError, match="the third batch failed"):
        next(out)
    assert _routing_threads() == []


def test_a_writer_giving_up_early_stops_the_routing_thread() -> None:
    # the writer reads one item, then stops (an error of its own): closing the stream must stop
    # the thread and close the source, whose `finally` runs, before close() returns
    from medallion.quality.expectations import _Ahead

    produced, closed = [], []

    def source() -> Any:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.append(True)

    out = _Ahead(source(), 2)
    assert next(out) == 0
    out.close()
    assert closed == [True]
    assert _routing_threads() == []
    assert len(produced) <= 5  # at most `depth` ahead, plus the ones in hand: not all 1000


def test_closing_while_the_writer_waits_on_another_thread_ends_it_with_an_error() -> None:
    # deltalake pulls on a Rust thread that can still wait for the next batch when the write
    # has already failed: close() from the run's thread must not raise, must stop the worker
    # before returning, and the waiting reader must get an error, not a normal end
    import threading
    import time

    from medallion.errors import ExecutionError
    from medallion.quality.expectations import _Ahead

    def slow() -> Any:
        yield 0
        time.sleep(0.3)  # the next batch is long to come
        yield 1

    out = _Ahead(slow(), 2)
    assert next(out) == 0
    got: list[Any] = []

    def writer() -> None:
        try:
            got.append(next(out))
        except BaseException as e:  # what the writer's thread sees
            got.append(e)

    waiting = threading.Thread(target=writer)
    waiting.start()
    time.sleep(0.05)  # the writer waits in next()
    out.close()
    assert _routing_threads() == []
    waiting.join(timeout=5)
    assert not waiting.is_alive()
    assert len(got) == 1 and isinstance(got[0], ExecutionError)
    assert "stopped before the end" in got[0].message


def test_ctrl_c_in_the_writer_stops_the_routing_thread(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a KeyboardInterrupt raised while the Delta writer reads the stream reaches the caller as
    # it is, and leaves no routing thread behind (it would read DuckDB as the engine closes)
    from medallion.storage import tables

    project = make_project(
        "name: q\n",
        {
            "silver/numbers.sql": model(
                "  not_third: {expect: id % 3 <> 0, action: quarantine}\n",
                "select range as id from range(600000)\n",
            )
        },
    )
    real = tables.write

    def interrupted(path: Any, data: Any, **kwargs: Any) -> Any:
        if "numbers" in str(path) and "quarantine" not in str(path):
            data.read_next_batch()
            raise KeyboardInterrupt
        return real(path, data, **kwargs)

    monkeypatch.setattr(tables, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        project.run()
    assert _routing_threads() == []
    assert not project.catalog.exists("silver.numbers")
    assert not project.catalog.path("silver.numbers__quarantine").exists()


def test_a_run_on_one_cpu_does_not_deadlock(make_project: Callable[..., Project]) -> None:
    # deltalake pulls the model's stream on its worker threads, as many as CPUs: on one CPU,
    # anything the pull waits for must not itself need a deltalake worker (a quarantine written
    # alongside the model did, and hung forever)
    import os
    import subprocess
    import sys

    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs Linux CPU affinity")
    project = make_project(
        "name: q\n",
        {
            "silver/numbers.sql": model(
                "  not_third: {expect: id % 3 <> 0, action: quarantine}\n"
                "  not_fifth: {expect: id % 5 <> 0, action: drop}\n",
                "select range as id from range(200000)\n",
            )
        },
    )
    code = (
        "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from medallion.project import Project\n"
        "r = Project.load(sys.argv[1]).run(); s = r.step('silver.numbers')\n"
        "print(r.ok, s.rows_in, s.rows_written, s.rows_dropped, s.rows_quarantined)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(project.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # 200,000 rows: 66,667 multiples of 3 are quarantined (the stricter action); the 40,000
    # multiples of 5 less the 13,334 of 15 are dropped
    assert proc.stdout.split() == ["True", "200000", "106667", "26666", "66667"]
