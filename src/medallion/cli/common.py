"""What the commands share: click's context settings, the project a command works on, the
command line a run records."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from medallion.project import Project


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _project(ctx: click.Context) -> Project:
    from medallion.project import Project

    project = Project.load(ctx.obj["project_dir"])
    if ctx.obj.get("engine"):  # --engine: this command runs there, whatever medallion.yml says
        project.workspace.use_engine(ctx.obj["engine"])
    project.lock_wait = ctx.obj.get("wait", 0.0)  # a writer command's --wait
    return project


def _command_line() -> str:
    return " ".join(["medallion", *sys.argv[1:]])


def _remember_engine(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["engine"] = value


#: `--engine duckdb|spark` of run, test and plan
engine_option = click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default=None,
    expose_value=False,
    callback=_remember_engine,
    help="Run on this engine instead of medallion.yml's `engine:` (spark: pip install "
    "'medallion[spark]' and Java 17; `master:`/`conf:` from medallion.yml apply).",
)
