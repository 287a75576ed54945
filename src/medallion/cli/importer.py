"""`medallion import`: a project made from one built with another tool (dbt)."""

from __future__ import annotations

from pathlib import Path

import click

from medallion.cli.common import CONTEXT


@click.group("import", context_settings=CONTEXT)
def importer() -> None:
    """Make a medallion project from a project of another tool."""


@importer.command("dbt", context_settings=CONTEXT)
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option(
    "--layer",
    "layers",
    multiple=True,
    metavar="FOLDER=LAYER",
    help="The layer of the models in a dbt folder (repeatable), e.g. --layer finance=gold; "
    "the model path's own name for the models no folder places (--layer models=gold). "
    "Default: staging, intermediate -> silver; marts -> gold; others silver.",
)
@click.option(
    "--vars",
    "variables",
    metavar="YAML",
    help="dbt vars, as dbt's --vars: '{start_date: 2024-01-01}' (over dbt_project.yml's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_dbt(
    path: Path,
    directory: Path | None,
    layers: tuple[str, ...],
    variables: str | None,
    as_json: bool,
) -> None:
    """Turn the dbt project in PATH into a medallion project in DIRECTORY (default: a new
    folder named after the dbt project).

    \b
    Models become plain SQL models (their Jinja rendered: ref, source, var, config, macros),
    seeds and sources land in bronze (seed files and file sources are copied into data/),
    materializations become kinds (incremental + unique_key -> merge, snapshot -> scd2), tests
    become checks. What cannot be translated (a package's macro, a warehouse-specific
    materialization) is left as it was, marked TODO with its dbt file and line, and listed in
    the project's IMPORT.md. Every model is parsed as written: SQL that does not parse is a
    TODO too. Exit status: 0 when nothing is left to do (the project loads), 1 when TODOs are
    left (the project is written, with them marked) or the import fails (nothing written).
    """
    import yaml

    from medallion.cli.render import dbt as render_dbt
    from medallion.cli.render import print_json
    from medallion.errors import ConfigError
    from medallion.project import import_dbt as run_import

    overrides = {}
    if variables:
        try:
            overrides = yaml.safe_load(variables) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"--vars is not YAML: {e}", key="--vars") from None
        if not isinstance(overrides, dict):
            raise ConfigError(
                "--vars must be a YAML mapping",
                key="--vars",
                hint="e.g. '{start_date: 2024-01-01}'",
            )
    dest = directory or Path(_dbt_name(path))
    report = run_import(path, dest, layers=list(layers), variables=overrides)
    if as_json:
        print_json(render_dbt.imported_dict(report))
    else:
        render_dbt.imported(report)
    # the project is written either way; 1 says it is not done: work is left (TODOs)
    if report.todos:
        raise SystemExit(1)


def _dbt_name(path: Path) -> str:
    """The default destination: the dbt project's name (medallion's spelling of it)."""
    import re

    import yaml

    try:
        name = (yaml.safe_load((path / "dbt_project.yml").read_text()) or {}).get("name")
    except (OSError, yaml.YAMLError, AttributeError):
        name = None
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name or path.resolve().name))
