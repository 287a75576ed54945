"""`medallion quarantine`: list, show and replay the rows set aside."""

from __future__ import annotations

import click

from medallion.cli.common import CONTEXT, _project


@click.group(context_settings=CONTEXT)
def quarantine() -> None:
    """Rows set aside: unparsable source rows and rows failing `quarantine` expectations."""


@quarantine.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def quarantine_list(ctx: click.Context, as_json: bool) -> None:
    """Every quarantine table with its row count."""
    from dataclasses import asdict

    from medallion.cli import render

    rows = _project(ctx).quarantines()
    if as_json:
        render.print_json([asdict(r) for r in rows])
    else:
        render.quarantines(rows)


@quarantine.command("show", context_settings=CONTEXT)
@click.argument("model")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0))
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def quarantine_show(ctx: click.Context, model: str, limit: int, fmt: str) -> None:
    """The quarantined rows of a model or source, with why they were set aside."""
    from medallion.cli import render

    table = _project(ctx).quarantined_rows(model, limit or None)
    render.query_result(table.to_reader(), fmt=fmt, output=None, limit=limit)


@quarantine.command("replay", context_settings=CONTEXT)
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def quarantine_replay(ctx: click.Context, model: str, as_json: bool) -> None:
    """Re-evaluate a model's quarantined rows against its current expectations and move the
    rows that now pass into the model. Idempotent: a second replay moves nothing."""
    from dataclasses import asdict

    from medallion.cli import render

    result = _project(ctx).replay(model)
    if as_json:
        render.print_json(asdict(result))
    else:
        render.replayed(result)
