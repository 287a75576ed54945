"""Bad input gets one clear message naming the place, and leaves every table as it was.

Each test builds a small project once, breaks one thing, and asserts the message and that no
Delta table version changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from medallion.errors import ConfigError, ModelError
from medallion.project import Project

CONFIG = """
name: shop
sources:
  orders:
    path: data/orders*.csv
    columns: {id: INTEGER, amount: 'DECIMAL(10,2)'}
    max_rejected: 100%  # a few lines a file: one bad line is more than the default 10%
"""
MODELS = {
    "silver/orders_clean.sql": "select id, amount from bronze.orders where id is not null\n",
    "silver/big_orders.sql": "select id from silver.orders_clean where amount > 10\n",
    "gold/totals.sql": "select count(*) as n, sum(amount) as total from silver.orders_clean\n",
}
FILES = {"data/orders1.csv": "id,amount\n1,5.00\n2,20.00\n3,30.50\n"}


@pytest.fixture
def built(make_project: Callable[..., Project]) -> Project:
    project = make_project(CONFIG, MODELS, FILES)
    assert project.run(trigger="test").ok
    return project


def reload(project: Project) -> Project:
    return Project.load(project.root)


def test_broken_yaml_names_file_and_line(built: Project, versions: Callable) -> None:
    before = versions(built)
    (built.root / "medallion.yml").write_text(
        "name: shop\nsources:\n  orders:\n    path: data/orders*.csv\n   columns: {}\n"
    )
    with pytest.raises(ConfigError, match="invalid YAML") as err:
        reload(built)
    assert err.value.file.endswith("medallion.yml")
    assert err.value.line == 5
    assert versions(built) == before


def test_unknown_key_suggests_the_right_one(built: Project, versions: Callable) -> None:
    before = versions(built)
    text = (built.root / "medallion.yml").read_text().replace("path:", "pth:")
    (built.root / "medallion.yml").write_text(text)
    with pytest.raises(ConfigError) as err:
        reload(built)
    assert "unknown key 'pth' in sources.orders — did you mean 'path'?" in str(err.value)
    assert err.value.line == 4
    assert versions(built) == before


def test_missing_source_file_fails_step_and_skips_dependents(
    built: Project, versions: Callable
) -> None:
    before = versions(built)
    text = (built.root / "medallion.yml").read_text().replace("orders*.csv", "ordrs*.csv")
    (built.root / "medallion.yml").write_text(text)
    project = reload(built)
    result = project.run(trigger="test")
    assert result.status == "failed"
    step = result.step("bronze.orders")
    assert step.status == "failed"
    assert "no file matches 'data/ordrs*.csv'" in step.error
    assert "source orders" in step.error
    assert [result.step(n).status for n in ("silver.orders_clean", "gold.totals")] == [
        "skipped",
        "skipped",
    ]
    assert "upstream bronze.orders failed" in result.step("silver.orders_clean").error
    assert versions(project) == before
    logged = project.steps(result.run_id)
    assert [s["status"] for s in logged] == ["failed", "skipped", "skipped", "skipped"]


def test_malformed_csv_row_is_quarantined_not_lost(built: Project, versions: Callable) -> None:
    before = versions(built)
    (built.root / "data" / "orders2.csv").write_text("id,amount\n4,7.00\n5,1.x0\n6,1.00,extra\n")
    result = built.run(trigger="test")
    assert result.ok
    step = result.step("bronze.orders")
    assert (step.rows_read, step.rows_written, step.rows_quarantined) == (3, 1, 2)
    rejected = built.query(
        "select _line, _raw, _error, _source_file from bronze.orders__quarantine order by _line"
    ).to_pylist()
    assert [r["_source_file"] for r in rejected] == ["data/orders2.csv"] * 2
    assert [(r["_line"], r["_raw"]) for r in rejected] == [(3, "5,1.x0"), (4, "6,1.00,extra")]
    assert "amount" in rejected[0]["_error"]
    assert "TOO MANY COLUMNS" in rejected[1]["_error"]
    assert built.query("select count(*) n from bronze.orders")["n"][0].as_py() == 4
    assert versions(built)["bronze.orders"] == before["bronze.orders"] + 1


def test_unknown_table_in_model_fails_at_load(built: Project, versions: Callable) -> None:
    before = versions(built)
    (built.root / "models/gold/totals.sql").write_text(
        "select count(*) as n\nfrom silver.order_clean\n"
    )
    project = reload(built)
    with pytest.raises(ModelError) as err:
        project.run(trigger="test")
    e = err.value
    assert e.message == "unknown table silver.order_clean"
    assert e.hint == "did you mean silver.orders_clean?"
    assert (Path(e.file).name, e.line, e.column) == ("totals.sql", 2, 6)
    assert versions(project) == before
    assert project.last_run()["run_id"] == built.last_run()["run_id"]  # no run was started


def test_cycle_fails_at_load(built: Project, versions: Callable) -> None:
    before = versions(built)
    (built.root / "models/silver/orders_clean.sql").write_text(
        "select id, amount from silver.big_orders\n"
    )
    (built.root / "models/silver/big_orders.sql").write_text(
        "select id, 1.0 as amount from silver.orders_clean\n"
    )
    project = reload(built)
    with pytest.raises(ModelError, match="dependency cycle") as err:
        project.run(trigger="test")
    assert "silver.big_orders -> silver.orders_clean -> silver.big_orders" in err.value.message or (
        "silver.orders_clean -> silver.big_orders -> silver.orders_clean" in err.value.message
    )
    assert err.value.file is not None
    assert versions(project) == before


def test_sql_syntax_error_fails_at_load_with_line(built: Project, versions: Callable) -> None:
    before = versions(built)
    (built.root / "models/silver/big_orders.sql").write_text(
        "select id\nfrom silver.orders_clean\nwher amount > 10\n"
    )
    project = reload(built)
    with pytest.raises(ModelError, match="SQL syntax error") as err:
        project.run(trigger="test")
    assert Path(err.value.file).name == "big_orders.sql"
    assert err.value.line == 3
    assert versions(project) == before


def test_runtime_sql_error_keeps_table_and_runs_other_branches(
    built: Project, versions: Callable
) -> None:
    before = versions(built)
    (built.root / "models/silver/big_orders.sql").write_text(
        "select id,\n  amont\nfrom silver.orders_clean\n"
    )
    project = reload(built)
    result = project.run(trigger="test")
    assert result.status == "failed"
    step = result.step("silver.big_orders")
    assert step.status == "failed"
    assert 'Referenced column "amont" not found' in step.error
    assert "big_orders.sql:2" in step.error
    assert 'Candidate bindings: "amount"' in step.error
    assert result.step("gold.totals").status == "success"  # independent branch still ran
    after = versions(project)
    assert after["silver.big_orders"] == before["silver.big_orders"]
    # its inputs did not change, so it was found up to date rather than rewritten
    assert after["gold.totals"] == before["gold.totals"]


def test_error_while_streaming_commits_nothing(built: Project, versions: Callable) -> None:
    """An error raised by DuckDB half-way through the result (not at bind time) must not leave a
    partial commit: the Delta writer aborts and the table keeps its version."""
    before = versions(built)
    (built.root / "models/silver/big_orders.sql").write_text(
        "select id, cast(case when id = 3 then 'x' else '1' end as integer) as v\n"
        "from silver.orders_clean\n"
    )
    project = reload(built)
    result = project.run(trigger="test")
    step = result.step("silver.big_orders")
    assert step.status == "failed"
    assert "Could not convert string 'x' to INT32" in step.error or "Conversion Error" in step.error
    assert versions(project)["silver.big_orders"] == before["silver.big_orders"]


def test_python_model_exception_names_line(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/boom.py": '"""---\ndepends_on: [bronze.orders]\n"""\n\n\n'
            "def model(ctx):\n    rel = ctx.table('bronze.orders')\n    return 1 / 0\n"
        },
        FILES,
    )
    result = project.run(trigger="test")
    step = result.step("silver.boom")
    assert step.status == "failed"
    assert "ZeroDivisionError" in step.error
    assert "boom.py:8" in step.error
    assert not project.catalog.exists("silver.boom")


def test_reading_an_unbuilt_table_is_a_clear_error(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, MODELS, FILES)
    result = project.run(["gold.totals"], trigger="test")
    step = result.step("gold.totals")
    assert step.status == "failed"
    assert "reads silver.orders_clean, which has not been built yet" in step.error
    assert "--select +totals" in step.error


def test_state_records_the_failure(built: Project) -> None:
    (built.root / "models/silver/big_orders.sql").write_text(
        "select nope from silver.orders_clean\n"
    )
    project = reload(built)
    result = project.run(trigger="test")
    run = project.last_run()
    assert run["run_id"] == result.run_id
    assert run["status"] == "failed"
    assert "silver.big_orders" in run["error"]
    step = next(s for s in project.steps(result.run_id) if s["table_name"] == "big_orders")
    assert step["status"] == "failed" and "nope" in step["error"]
    assert step["delta_version"] is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        "/* ---\npartition_by: [k]\n--- */\n",
        # expectations wrap the model's query: DuckDB then counts lines from elsewhere again
        "/* ---\nexpectations:\n  pos:\n    expect: v >= 0\n    action: quarantine\n--- */\n\n",
    ],
    ids=["no header", "header", "expectations"],
)
def test_a_failed_cast_in_a_small_result_names_the_model_line(
    make_project: Callable[..., Project], header: str
) -> None:
    # DuckDB may compute a small result whole when its reader is made, before the writer pulls
    project = make_project(
        "name: shop\nsources:\n  s:\n    path: data/a.csv\n",
        {"silver/m.sql": header + "select id, k,\n  cast(v as integer) as v from bronze.s\n"},
        {"data/a.csv": "id,k,v\n1,a,1\n2,b,x\n"},
    )
    result = project.run(trigger="test")
    error = result.step("silver.m").error or ""
    assert result.step("silver.m").status == "failed"
    assert "internal error" not in error
    # the cast is on the SQL's second line, after the header's lines
    line = header.count("\n") + 2
    assert f"m.sql:{line}: Conversion Error: Could not convert string 'x'" in error
    assert not project.catalog.exists("silver.m")


def test_medallion_s_own_cast_of_a_128_bit_integer_is_said_to_be_medallion_s(
    tmp_path: Path,
) -> None:
    """A one-line model whose sum of hashes is a HUGEINT out of BIGINT's range: the cast that
    fails is the one medallion adds (Delta has no 128-bit integer). The message says so and
    what to write; it names no line (line 6 of a one-line file, before)."""
    from tests.conftest import medallion, write_project

    root = write_project(
        tmp_path / "x11",
        "name: x11\nsources:\n  s:\n    path: data/s.csv\n",
        {
            "gold/g.sql": "select count(*) as n, (select sum(hash(i)) from range(1000) t(i)) as s"
            " from bronze.s\n"
        },
        {"data/s.csv": "id\n1\n"},
    )
    run = medallion("run", cwd=root)

    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode == 1
    assert re.search(
        r"models/gold/g\.sql: column s is a 128-bit integer \(HUGEINT\), which Delta cannot "
        r"store, so medallion stores it as BIGINT; its value \d+ is out of BIGINT's range",
        said,
    ), said
    assert "hint: cast s in the model: to DECIMAL(38,0) to keep every value" in said
    assert "g.sql:6" not in said and "g.sql:1:" not in said
    assert not Project.load(root).catalog.exists("gold.g")
    (root / "models" / "gold" / "g.sql").write_text(
        "select count(*) as n,\n  cast((select sum(hash(i)) from range(1000) t(i)) as bigint) as s"
        "\nfrom bronze.s\n"
    )
    # the model's own cast to BIGINT fails on its own line, as any error of the SQL
    own = " ".join(medallion("run", cwd=root).stdout.split())
    assert "models/gold/g.sql:2: Conversion Error: Type INT128" in own, own
    (root / "models" / "gold" / "g.sql").write_text(
        "select count(*) as n,\n  (select sum(hash(i)) from range(1000) t(i))::decimal(38, 0) as s"
        "\nfrom bronze.s\n"
    )
    medallion("run", cwd=root, check=True)
    assert Project.load(root).row_count("gold.g") == 1
