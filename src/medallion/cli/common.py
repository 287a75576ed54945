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
    project.lock_wait = ctx.obj.get("wait", 0.0)  # a writer command's --wait
    return project


def _command_line() -> str:
    return " ".join(["medallion", *sys.argv[1:]])
