"""`medallion validate` binds every SQL model against the lakehouse, running nothing: an unknown
column or a broken expectation shows before a run, against the upstream models' current SQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from medallion.errors import ExecutionError
from medallion.project import Project

CONFIG = """
name: b
sources:
  sales:
    path: data/sales.csv
    columns: {id: INTEGER, region: VARCHAR, amount: INTEGER}
"""
FILES = {"data/sales.csv": "id,region,amount\n1,north,10\n2,south,20\n"}
MODELS = {
    "silver/clean.sql": "select id, upper(region) as region, amount from bronze.sales\n",
    "gold/by_region.sql": "select region, sum(amount) as total from silver.clean group by 1\n",
}


def built(make_project: Callable[..., Project], models: dict[str, str] = MODELS) -> Project:
    project = make_project(CONFIG, models, FILES)
    result = project.run()
    assert result.ok, result.error
    return project


def edit(project: Project, model: str, text: str) -> Project:
    (project.root / "models" / model).parent.mkdir(parents=True, exist_ok=True)
    (project.root / "models" / model).write_text(text)
    return Project.load(project.root)


def test_every_model_binds_after_a_run(make_project: Callable[..., Project]) -> None:
    project = built(make_project)
    assert project.bind() == {"silver.clean": None, "gold.by_region": None}


def test_an_unknown_column_is_an_error_naming_file_and_line(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    runs = len(project.runs(10))
    project = edit(
        project,
        "gold/by_region.sql",
        "select\n    region,\n    sum(amont) as total\nfrom silver.clean\ngroup by 1\n",
    )
    with pytest.raises(ExecutionError) as info:
        project.bind()
    e = info.value
    assert 'Referenced column "amont" not found' in e.message
    assert e.model == "gold.by_region"
    assert e.file is not None and e.file.endswith("gold/by_region.sql")
    assert e.line == 3
    assert len(project.runs(10)) == runs  # nothing ran


def test_a_model_binds_against_its_upstream_s_current_sql(
    make_project: Callable[..., Project],
) -> None:
    # silver.clean renames `region` in its SQL, not rebuilt yet: the stored table still has
    # `region`, but gold.by_region would break at the next run, and validate says so now
    project = built(make_project)
    project = edit(
        project, "silver/clean.sql", "select id, region as area, amount from bronze.sales\n"
    )
    with pytest.raises(ExecutionError, match='"region" not found') as info:
        project.bind()
    assert info.value.model == "gold.by_region"


def test_an_expectation_on_an_unknown_column_is_named(
    make_project: Callable[..., Project],
) -> None:
    project = built(make_project)
    project = edit(
        project,
        "silver/clean.sql",
        "/* ---\nexpectations:\n  positive: {expect: amout > 0, action: drop}\n--- */\n"
        + MODELS["silver/clean.sql"],
    )
    with pytest.raises(ExecutionError, match="expectation 'positive'") as info:
        project.bind()
    assert info.value.model == "silver.clean"


def test_models_whose_inputs_were_never_built_are_not_bound(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(CONFIG, MODELS, FILES)
    assert project.bind() == {
        "silver.clean": "bronze.sales has not been landed yet",
        "gold.by_region": "bronze.sales has not been landed yet",
    }
    assert not project.catalog.exists("bronze.sales")  # binding landed nothing


def test_a_python_model_is_read_as_built(make_project: Callable[..., Project]) -> None:
    # its columns are known once it runs: before that, what reads it is not bound; after, what
    # reads it binds against its table
    python = (
        '"""---\ndepends_on: [silver.clean]\n"""\n\n\ndef model(ctx):\n'
        "    return ctx.sql('select region, count(*) as n from silver.clean group by 1')\n"
    )
    models = {
        **MODELS,
        "gold/counts.py": python,
        "gold/top.sql": "select region from gold.counts where n > 0\n",
    }
    project = make_project(CONFIG, models, FILES)
    project.run(["bronze.sales"])
    before = project.bind()
    assert before["silver.clean"] is None
    assert before["gold.counts"] == "a Python model: its columns are known once it runs"
    assert before["gold.top"] == "gold.counts (a Python model) has not been built yet"
    assert project.run().ok
    after = project.bind()
    assert after["gold.top"] is None
    project = edit(project, "gold/top.sql", "select regon from gold.counts\n")
    with pytest.raises(ExecutionError, match='"regon" not found'):
        project.bind()


def test_validate_command_reports_the_binding(make_project: Callable[..., Project]) -> None:
    project = built(make_project)
    ok = _validate(project.root)
    assert ok.returncode == 0, ok.stderr
    assert "SQL bound against the lakehouse: 2 of 2 models" in ok.stdout
    edit(project, "silver/clean.sql", "select id, regoin as region, amount from bronze.sales\n")
    bad = _validate(project.root)
    assert bad.returncode == 1
    assert "silver/clean.sql:1: Binder Error" in bad.stderr and '"regoin"' in bad.stderr


def _validate(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medallion", "-p", str(root), "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        env=None,
    )


def test_a_model_reads_the_columns_scd2_adds(make_project: Callable[..., Project]) -> None:
    """A model over an scd2 model's valid_from / valid_to / is_current binds (the kind adds
    them to what its SQL selects); a column the kind does not add is still an error."""
    models = {
        "silver/history.sql": "/* ---\nkind: scd2\nunique_key: id\n--- */\n"
        "select id, region, amount from bronze.sales\n",
        "gold/current.sql": "select id, region, valid_from, valid_to from silver.history"
        " where is_current\n",
    }
    project = built(make_project, models)
    assert project.bind() == {"silver.history": None, "gold.current": None}
    broken = edit(project, "gold/current.sql", "select id, valid_until from silver.history\n")
    with pytest.raises(ExecutionError, match="valid_until"):
        broken.bind()


def test_a_merge_order_by_naming_a_column_the_select_does_not_output_fails_validate_and_run(
    tmp_path: Path,
) -> None:
    """The trial's project: validate and the run name the header key, its line and the output
    columns; not the engine's binder error on the dedupe medallion writes."""
    from tests.conftest import medallion, table_versions, write_project

    root = write_project(
        tmp_path / "x10",
        "name: x10\nsources:\n  s:\n    path: data/s_*.csv\n",
        {
            "silver/m.sql": "/* ---\nkind: merge\nunique_key: id\n"
            "order_by: [_ingested_at, _source_file]\n--- */\n"
            "select id, qty, _source_file from bronze.s\n"
        },
        {"data/s_01.csv": "id,qty\nA,1\n"},
    )
    medallion("run", "--select", "bronze.s", cwd=root, check=True)
    before = table_versions(Project.load(root))
    said = (
        "models/silver/m.sql:4: order_by column '_ingested_at' is not in the model's output\n"
        "  hint: output columns: id, qty, _source_file; add _ingested_at to the SELECT, or name "
        "one of those in order_by"
    )

    validate = medallion("validate", cwd=root)
    run = medallion("run", cwd=root)

    assert validate.returncode == 1
    assert said in validate.stderr
    assert run.returncode == 1
    assert said.replace("\n", "\n  ") in run.stdout + run.stderr
    assert "Binder Error" not in run.stdout + run.stderr
    assert table_versions(Project.load(root)) == before
    assert not Project.load(root).catalog.exists("silver.m")


@pytest.mark.parametrize(
    ("header", "key", "column", "line"),
    [
        ("kind: merge\nunique_key: [id, region_id]\n", "unique_key", "region_id", 3),
        ("kind: merge\nunique_key: id\ndelete_when: status = 'gone'\n", "delete_when", "status", 4),
        ("kind: scd2\nunique_key: id\ntrack:\n  - amount\n  - price\n", "track", "price", 6),
        ("kind: scd2\nunique_key: id\nvalid_from: updated_at\n", "valid_from", "updated_at", 4),
        ("kind: incremental_by_time\ntime_column: day\n", "time_column", "day", 3),
        ("partition_by: [region, day]\n", "partition_by", "day", 2),
    ],
)
def test_each_header_key_naming_a_missing_output_column_is_named_at_its_line(
    make_project: Callable[..., Project], header: str, key: str, column: str, line: int
) -> None:
    model = f"/* ---\n{header}--- */\nselect id, region, amount from bronze.sales\n"
    project = built(make_project, {})
    project = edit(project, "silver/m.sql", model)
    runs = len(project.runs(10))

    with pytest.raises(ExecutionError) as info:
        project.bind()
    result = project.run()

    e = info.value
    assert e.message == f"{key} column {column!r} is not in the model's output"
    assert (e.key, e.line, e.model) == (key, line, "silver.m")
    assert e.hint is not None and e.hint.startswith("output columns: id, region, amount;")
    assert len(project.runs(10)) == runs + 1  # validate ran nothing
    step = result.step("silver.m")
    assert step.status == "failed"
    assert f"silver/m.sql:{line}: {e.message}" in (step.error or "")


def test_header_expressions_naming_output_columns_in_another_case_bind(
    make_project: Callable[..., Project],
) -> None:
    model = (
        "/* ---\nkind: merge\nunique_key: id\norder_by: ['coalesce(Amount, 0)', upper(Region)]\n"
        "delete_when: amount < 0 and region = 'x'\n--- */\n"
        "select id, region, amount from bronze.sales\n"
    )
    project = built(make_project, {"silver/m.sql": model})
    assert project.bind() == {"silver.m": None}
    assert project.run().ok  # and twice


def test_a_key_column_in_another_case_than_the_output_says_so(
    make_project: Callable[..., Project],
) -> None:
    model = "/* ---\nkind: merge\nunique_key: ID\n--- */\nselect id, amount from bronze.sales\n"
    project = built(make_project, {})
    project = edit(project, "silver/m.sql", model)
    with pytest.raises(ExecutionError) as info:
        project.bind()
    assert info.value.message == "unique_key column 'ID' is not in the model's output"
    assert (
        info.value.hint
        == "the model outputs id: write it as id in unique_key (names match exactly)"
    )


def test_an_order_by_that_is_not_an_expression_is_named(
    make_project: Callable[..., Project],
) -> None:
    """YAML's flow list splits `[coalesce(a, 0)]` at the comma: named, not a parser error."""
    model = (
        "/* ---\nkind: merge\nunique_key: id\norder_by: [coalesce(amount, 0)]\n--- */\n"
        "select id, amount from bronze.sales\n"
    )
    project = edit(built(make_project, {}), "silver/m.sql", model)
    with pytest.raises(ExecutionError) as info:
        project.bind()
    assert info.value.message == "order_by 'coalesce(amount' is not a SQL expression"
    assert (info.value.line, info.value.key) == (4, "order_by")


def _validate_merged(root: Path) -> subprocess.CompletedProcess[str]:
    """`medallion validate` in `root`, stderr and stdout in one stream, in the order written."""
    return subprocess.run(
        [sys.executable, "-m", "medallion", "validate"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


GROWING = """
name: g
sources:
  ventes: {path: data/ventes_*.csv}
"""


def test_a_column_new_files_may_bring_is_a_warning_then_binds_after_the_run(
    make_project: Callable[..., Project],
) -> None:
    """The model names `montant`, which bronze.ventes lacks because the file that has it is not
    ingested yet: validate warns (the next run ingests it first), the run builds the model,
    and validate then binds it. With no file left to read, the same column is an error."""
    files = {"data/ventes_1.csv": "id,client\n1,ann\n"}
    models = {"silver/v.sql": "select id, client from bronze.ventes\n"}
    project = make_project(GROWING, models, files)
    assert project.run().ok
    (project.root / "data" / "ventes_2.csv").write_text("id,client,montant\n2,bob,5\n")
    project = edit(project, "silver/v.sql", "select id, client, montant from bronze.ventes\n")
    warned = _validate_merged(project.root)
    assert warned.returncode == 0, warned.stdout
    lines = warned.stdout.splitlines()
    assert lines[0] == (
        'warning: models/silver/v.sql:1: column "montant" is not in the tables built so far '
        "(bronze.ventes), but source ventes has 1 file(s) not ingested yet "
        "(data/ventes_2.csv): a run ingests new files before it builds the models, and they "
        "may bring it"
    ), warned.stdout
    assert "ok g: 1 sources, 1 models, no problems found, 1 warning" in lines
    assert "SQL bound against the lakehouse: 0 of 1 models" in warned.stdout

    result = project.run()
    assert result.ok, result.error
    clean = _validate_merged(project.root)
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.splitlines()[0] == "ok g: 1 sources, 1 models, no problems found"

    project = edit(project, "silver/v.sql", "select id, client, montent from bronze.ventes\n")
    with pytest.raises(ExecutionError, match='"montent" not found'):
        project.bind([])
    bad = _validate(project.root)
    assert bad.returncode == 1
    assert 'silver/v.sql:1: Binder Error: Referenced column "montent" not found' in bad.stderr


def test_validate_puts_warnings_first_and_says_who_needs_a_variable(
    make_project: Callable[..., Project],
) -> None:
    """A masked column shown unmasked downstream and a notification's unset token: both are
    warnings, printed before the line that counts them; the token is needed by the
    notification target alone, and a run indeed works without it."""
    config = GROWING + (
        "notifications:\n"
        "  hook:\n"
        "    type: webhook\n"
        "    url: https://alerts.example.com/medallion\n"
        '    headers: {Authorization: "Bearer ${MEDALLION_TEST_UNSET_TOKEN}"}\n'
        "access:\n"
        "  grants: {analysts: [silver.v]}\n"
        "  masks: {bronze.ventes.client: email}\n"
    )
    files = {"data/ventes_1.csv": "id,client\n1,ann@example.com\n"}
    models = {"silver/v.sql": "select id, client from bronze.ventes\n"}
    project = make_project(config, models, files)
    assert project.run().ok  # the token is not needed to run
    proc = _validate_merged(project.root)
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[:3] == [
        "warning: not set: MEDALLION_TEST_UNSET_TOKEN, used in "
        "notifications.hook.headers.Authorization (line 8): only notification target hook "
        "needs it: the scheduler sends nothing to it while it is unset; `medallion run` works "
        "without it",
        "warning: silver.v.client shows bronze.ventes.client unmasked to analysts (mask it "
        "too: access.masks.silver.v.client)",
        "ok g: 1 sources, 1 models, no problems found, 2 warnings",
    ], proc.stdout
