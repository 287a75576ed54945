"""`${VAR}`s of sources and publish targets are resolved where a command uses them: a project
whose database variables are unset (the OLTP demo after its server stopped) still answers the
commands that read the lakehouse, and `run` / `publish` fail with one message naming the
variables, the file and the line, before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medallion.cli.main import main
from medallion.errors import ConfigError
from medallion.project import Project

CONFIG = """\
name: lazy
sources:
  orders:
    path: ${DATA_DIR}/orders.csv
  customers:
    path: data/customers*.csv
publish:
  warehouse:
    type: postgres
    dsn: ${WAREHOUSE_DSN}
    tables: [gold.revenue]
"""
MODELS = {
    "gold/revenue.sql": "select customer, sum(amount) as revenue\nfrom bronze.orders\n"
    "group by customer\n",
    "gold/people.sql": "select name from bronze.customers\n",
}
FILES = {
    "data/orders.csv": "order_id,customer,amount\n1,ann,10\n2,bob,5\n3,ann,1\n",
    "data/customers.csv": "name\nann\nbob\n",
}


@pytest.fixture
def built(
    make_project: Callable[..., Project],
    monkeypatch: pytest.MonkeyPatch,
    versions: Callable[[Project], dict[str, int]],
) -> tuple[Path, dict[str, int]]:
    """The project built once with DATA_DIR set (before its publish target was added), then
    the variable unset, as in a new shell: (root, table versions)."""
    monkeypatch.setenv("DATA_DIR", "data")
    monkeypatch.delenv("WAREHOUSE_DSN", raising=False)
    project = make_project(CONFIG.split("publish:")[0], MODELS, FILES)
    assert project.run().ok
    (project.root / "medallion.yml").write_text(CONFIG)
    monkeypatch.delenv("DATA_DIR")
    return project.root, versions(Project.load(project.root))


def cli(root: Path, *args: str) -> int:
    try:
        main(["--no-color", "-p", str(root), *args])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_reading_commands_do_not_need_the_variables(
    built: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = built
    capsys.readouterr()
    assert cli(root, "query", "--format", "json", "select * from gold.revenue order by 1") == 0
    assert json.loads(capsys.readouterr().out) == [
        {"customer": "ann", "revenue": 11},
        {"customer": "bob", "revenue": 5},
    ]
    for command in (["status"], ["tables"], ["lineage"], ["history"], ["validate"]):
        assert cli(root, *command) == 0, (command, capsys.readouterr().err)
    captured = capsys.readouterr()
    assert "revenue" in captured.out
    # validate checks no connection: it warns of what is unset, where, and which command
    # needs it, without failing
    assert "no problems found, 2 warnings" in captured.out
    err = " ".join(captured.err.split())
    assert (
        "warning: not set: DATA_DIR, used in sources.orders.path (line 4): `medallion run` "
        "needs it to ingest source orders"
    ) in err
    assert "WAREHOUSE_DSN, used in publish.warehouse.dsn (line 10): `medallion publish`" in err


def test_run_names_every_variable_it_needs_and_writes_nothing(
    built: tuple[Path, dict[str, int]],
    capsys: pytest.CaptureFixture[str],
    versions: Callable[[Project], dict[str, int]],
) -> None:
    root, before = built
    (root / "data" / "orders.csv").write_text("order_id,customer,amount\n4,cy,7\n")
    capsys.readouterr()
    assert cli(root, "run") == ConfigError.exit_code
    err = " ".join(capsys.readouterr().err.split())
    assert "environment variables DATA_DIR, WAREHOUSE_DSN are not set" in err
    assert "medallion.yml:4: DATA_DIR (used in sources.orders.path)" in err
    assert "medallion.yml:10: WAREHOUSE_DSN (used in publish.warehouse.dsn)" in err
    assert "export DATA_DIR=... WAREHOUSE_DSN=..." in err
    project = Project.load(root)
    assert versions(project) == before  # nothing ingested, built or published
    assert project.runs(1)[0]["status"] == "failed"  # the run log says why
    assert "DATA_DIR" in project.runs(1)[0]["error"]


def test_a_run_needs_only_the_variables_of_what_it_uses(
    built: tuple[Path, dict[str, int]],
) -> None:
    root, _ = built
    (root / "data" / "customers2.csv").write_text("name\ncy\n")
    project = Project.load(root)
    # customers needs no variable and nothing it feeds is published
    result = project.run(["bronze.customers+"])
    assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
    assert project.query("select count(*) as n from gold.people").to_pylist() == [{"n": 3}]
    # the revenue table is published after a run: WAREHOUSE_DSN is needed, DATA_DIR is not
    with pytest.raises(ConfigError) as info:
        project.run(["gold.revenue"])
    assert info.value.message == (
        "environment variable WAREHOUSE_DSN is not set (used in publish.warehouse.dsn)"
    )
    assert (info.value.key, info.value.line) == ("publish.warehouse.dsn", 10)
    with pytest.raises(ConfigError, match="WAREHOUSE_DSN is not set"):
        project.publish()


@pytest.mark.parametrize(
    ("source", "variable", "line"),
    [
        ("type: postgres\n    dsn: ${DSN}\n    table: t\n    retries: ${RETRIES}", "RETRIES", 7),
        ("type: ${KIND}\n    dsn: ${DSN}\n    table: t", "KIND", 4),
    ],
)
def test_a_variable_whose_text_is_not_a_valid_value_is_needed_at_load(
    tmp_path: Path, source: str, variable: str, line: int
) -> None:
    """A number or a source type cannot wait: its `${VAR}` text does not validate."""
    from medallion.config import load_project_config

    (tmp_path / "medallion.yml").write_text(f"name: p\nsources:\n  db:\n    {source}\n")
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path, {})
    assert info.value.message.startswith(f"environment variable {variable} is not set")
    assert info.value.line == line
    assert "DSN" not in info.value.message  # the dsn can wait: its text is a valid value
