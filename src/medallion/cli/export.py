"""`medallion export`: the project's pipelines written for another tool (Airflow)."""

from __future__ import annotations

from pathlib import Path

import click

from medallion.cli.common import CONTEXT


@click.group("export", context_settings=CONTEXT)
def export() -> None:
    """Write the project's pipelines (medallion.yml `pipelines:`) for another scheduler."""


@export.command("airflow", context_settings=CONTEXT)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the DAG files (Airflow's dags folder, or one you copy there).  "
    "[default: airflow_dags/ in the project folder]",
)
@click.option(
    "--granularity",
    type=click.Choice(["pipeline", "stage", "node"]),
    default="pipeline",
    show_default=True,
    help="Tasks per DAG: pipeline (one `medallion run` of the pipeline's selection), stage "
    "(extract -> transform -> test), node (one per source and model, with their edges).",
)
@click.option(
    "--pipeline",
    "pipelines",
    multiple=True,
    metavar="NAME",
    help="Only this pipeline (repeatable; default: all, and files of pipelines no longer "
    "declared are removed).",
)
@click.option(
    "--project-dir",
    metavar="DIR",
    help="The project folder as the Airflow workers see it (absolute).  [default: this "
    "project's folder]",
)
@click.option(
    "--medallion",
    "medallion_command",
    default="medallion",
    show_default=True,
    metavar="COMMAND",
    help="The medallion command on the Airflow workers, e.g. '/opt/lake/bin/medallion' or "
    "'/opt/lake/bin/python -m medallion'.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    help="Seconds a task waits for another writer (a manual run) before it fails.",
)
@click.pass_context
def airflow(
    ctx: click.Context,
    output: Path | None,
    granularity: str,
    pipelines: tuple[str, ...],
    project_dir: str | None,
    medallion_command: str,
    wait: float,
) -> None:
    """One Airflow DAG file per pipeline: its schedule and time zone, retries with exponential
    backoff, timeout, catchup=False, max_active_runs=1, the tasks in a one-slot pool
    `medallion_<project>` (one writer), and `after:` as a TriggerDagRunOperator at the end of
    the upstream pipeline's DAG. Each task calls `medallion --project DIR run --select ...
    --wait SECONDS`.

    \b
    Exported with an overlay of `environments:` (`medallion --env NAME export airflow`, or
    MEDALLION_ENV=NAME), the tasks run with MEDALLION_ENV=NAME too.

    \b
    Create the pool once (each file's header says it too):
      airflow pools set medallion_<project> 1 "medallion: one writer"
    """
    from medallion.orchestrate.airflow import (
        ExportOptions,
        export_airflow,
        pool_name,
        write_dag_files,
    )
    from medallion.project import Project

    project = Project.load(ctx.obj["project_dir"])
    files = export_airflow(
        project,
        ExportOptions(
            granularity=granularity,
            project_dir=project_dir,
            medallion=medallion_command,
            wait=wait,
            pipelines=pipelines,
        ),
    )
    folder = output if output is not None else project.root / "airflow_dags"
    result = write_dag_files(files, folder, project.config.name, prune=not pipelines)
    for f, path in zip(files, result.written, strict=True):
        click.echo(f"wrote {path}  (DAG {f.dag_id}, {len(f.tasks)} task(s))")
    for path in result.removed:
        click.echo(f"removed {path}  (its pipeline is no longer declared)")
    pool = pool_name(project.config.name)
    click.echo(
        f'create the one-slot pool once: airflow pools set {pool} 1 "medallion project '
        f'{project.config.name}: one writer"'
    )
