"""The `medallion` command: thin click commands over the `Project` façade.

Nothing here knows how a run, a query or a table works; commands parse options, call the façade
and hand the result to `render`. Heavy modules (DuckDB, Arrow, rich) are imported inside the
commands so `medallion --help` starts instantly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from medallion import __version__
from medallion.cli.access import audit, tokens, users
from medallion.cli.common import CONTEXT, _command_line, _project, engine_option
from medallion.cli.export import export
from medallion.cli.importer import importer
from medallion.cli.pipelines import pipelines, scheduler
from medallion.cli.quarantine import quarantine
from medallion.cli.serve import serve

if TYPE_CHECKING:
    from medallion.project import Project
    from medallion.state.records import RunControl

#: `run` and `plan`: --full-refresh alone (every selected node) or with names (repeatable)
_full_refresh_option = click.option(
    "--full-refresh",
    "full_refresh",
    multiple=True,
    is_flag=False,
    flag_value="*",
    metavar="[NAME]",
    help="Rebuild from all input: alone, every selected source (re-ingest every file) and model; "
    "with a NAME, that source or model (repeatable).",
)


def _provenance(
    project: Project, pipeline: str | None, scheduled_for: str | None, attempt: int
) -> RunControl | None:
    """`run --pipeline`: the run recorded as the pipeline's (its tick's time and attempt), as
    an orchestrator running medallion says it; the pipeline's own retries and timeout are the
    orchestrator's business then, not applied here."""
    from datetime import UTC, datetime

    from medallion.state.records import RunControl

    if pipeline is None:
        if scheduled_for is not None or attempt != 1:
            raise click.UsageError("--scheduled-for and --attempt go with --pipeline")
        return None
    declared = project.config.pipelines
    if pipeline not in declared:
        raise click.BadParameter(
            f"no pipeline {pipeline!r} in medallion.yml (pipelines: "
            f"{', '.join(sorted(declared)) or 'none'})",
            param_hint="--pipeline",
        )
    when = None
    if scheduled_for:
        try:
            parsed = datetime.fromisoformat(scheduled_for.strip())
        except ValueError:
            raise click.BadParameter(
                f"{scheduled_for!r} is not an ISO 8601 time (2026-12-01T02:30:00+00:00)",
                param_hint="--scheduled-for",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        when = parsed.astimezone(UTC).isoformat(timespec="microseconds")
    return RunControl(pipeline=pipeline, attempt=attempt, scheduled_for=when)


def _refresh(full_refresh: tuple[str, ...]) -> bool | list[str]:
    return True if "*" in full_refresh else list(full_refresh)


def _environment(name: str | None) -> None:
    """--env NAME: every project this command loads (and the runs it starts) uses the overlay."""
    if name:
        os.environ["MEDALLION_ENV"] = name


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="medallion")
@click.option(
    "--project",
    "-p",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Project folder (or any folder inside it).",
)
@click.option(
    "--env",
    "environment",
    metavar="NAME",
    expose_value=False,
    callback=lambda ctx, param, value: _environment(value),
    help="Apply the overlay `environments: NAME:` of medallion.yml (also: MEDALLION_ENV=NAME).",
)
@click.option("--no-color", is_flag=True, help="Plain output (also: NO_COLOR=1).")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    expose_value=False,
    callback=lambda ctx, param, value: _log_file(value),
    help="Append progress and errors to FILE instead of showing progress on stderr.",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: Path, no_color: bool) -> None:
    """medallion: a local-first lakehouse. Sources land in bronze, SQL models build silver and
    gold, every table is a Delta Lake table, and every run is logged.

    \b
    Start here:
      medallion demo                     scaffold, generate data, run, show gold tables
      medallion init shop -t retail      a new project with sample data
      cd shop && medallion run           ingest and build everything
      medallion query "select * from gold.sales_summary_daily limit 5"
    """
    if no_color:
        os.environ["NO_COLOR"] = "1"
    ctx.ensure_object(dict)
    ctx.obj["project_dir"] = project_dir


# -- project set-up ----------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--template", "-t", "template", help="Template to start from (omit to list them).")
@click.option(
    "--from",
    "from_",
    metavar="PATH|DSN",
    help="Start from your own data: a folder of CSV, JSON and Parquet files, or a "
    "postgresql:// or mysql:// DSN (its tables). Sources, silver staging models and checks are "
    "inferred from it (and the reasons printed).",
)
@click.option("--rows", type=click.IntRange(min=1), help="Scale of the sample data.")
@click.option("--no-data", is_flag=True, help="Do not generate the sample data.")
def init(
    directory: Path | None,
    template: str | None,
    from_: str | None,
    rows: int | None,
    no_data: bool,
) -> None:
    """Create a project in DIRECTORY (default: the current folder) from a template, or from
    your own files with --from PATH.

    A template's project holds generated sample data under data/, so `medallion run` works at
    once. Without --template or --from, lists the templates.

    \b
    With --from, DIRECTORY must be new or empty; the project reads the files where they are
    (medallion.yml points at them) and its first `medallion run` loads them:
      medallion init sales --from exports/     one source per group of files, a typed and
                                               de-duplicated silver model per source, checks
                                               on keys and relationships
      medallion init shop --from postgresql://etl:pw@db/shop
                                               one source per table (the password is read
                                               from $PGPASSWORD, never written down)"""
    from medallion.cli import render

    if from_ is not None:
        if template is not None or rows is not None or no_data:
            used = "--template" if template is not None else "--rows" if rows else "--no-data"
            raise click.UsageError(f"--from and {used} cannot be combined")
        if directory is None:
            raise click.UsageError("--from needs a DIRECTORY for the new project")
        from medallion.project import init_from

        render.initialized_from(init_from(directory, from_))
        return

    from medallion.errors import TemplateError
    from medallion.templates import TEMPLATES, get_template

    if template is None:
        render.templates(TEMPLATES)
        return
    tpl = get_template(template)
    dest = directory or Path(".")
    tpl.scaffold(dest)
    counts: dict[str, int] = {}
    if not no_data:
        try:
            counts = tpl.generate(dest, rows=rows)
        except TemplateError as e:
            render.initialized(dest, tpl, counts, next_steps=False)
            if tpl.data_location:
                # a template whose sample data live in a database (oltp): the project is made;
                # the database is the user's to name before the first run, not an init failure
                render.database_first(dest, tpl, e)
                return
            render.error(e)  # the files could not be written: not all that was asked was done
            sys.exit(1)
    render.initialized(dest, tpl, counts, next_steps=not no_data)
    if no_data:
        render.no_data_yet(dest)


@cli.command(context_settings=CONTEXT)
@click.option("--rows", type=click.IntRange(min=1), help="Scale (the template's unit; see init).")
@click.option("--seed", type=int, default=None, help="Random seed (default 42: same data).")
@click.option(
    "--day",
    type=click.IntRange(min=2),
    help="Add day N's changes: a file drop next to the existing files (retail) or inserts and "
    "updates in the source database (oltp); --rows then counts the new order lines "
    "(default 1%).",
)
@click.pass_context
def generate(ctx: click.Context, rows: int | None, seed: int | None, day: int | None) -> None:
    """Regenerate the project's sample data at any scale (files under data/, or the source
    database of the oltp template), or add a later day's changes (--day) for incremental runs.

    Regenerated files are new files to the next run; `medallion run --full-refresh` rebuilds
    bronze from them alone (with --allow-missing-files if files of an earlier run were removed).
    A day's changes are new input: the next run reads only those."""
    from medallion.cli import render

    project = _project(ctx)
    counts = project.generate(rows=rows, seed=seed, day=day)
    render.generated(project, counts, day=day)


# -- running -------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option(
    "--select",
    "-s",
    "select",
    multiple=True,
    help="Models/sources to run: NAME, +NAME (with upstream), NAME+ (with downstream), "
    "layer:LAYER. Repeatable.",
)
@_full_refresh_option
@click.option(
    "--allow-missing-files",
    is_flag=True,
    help="With --full-refresh: rebuild a file source even if files it holds rows of are gone "
    "from its landing folder (their rows are deleted). Without it such a refresh is refused.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Seconds to wait for another running writer to finish.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: poll the sources and run whenever new input lands (or the project's "
    "files change), until Ctrl-C or SIGTERM.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="With --watch: seconds between polls.",
)
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=None,
    help="With --watch: stop after this many runs of new input or of an edit (an attempt "
    "that fails to run counts; the catch-up run at start that found nothing new does not).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the run result as JSON (--watch: one per line)."
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask before rebuilding a changed model's table; a rebuild may then leave "
    "fewer than half of its rows, or drop an scd2 model's closed versions.",
)
@click.option(
    "--trigger",
    type=click.Choice(["manual", "api", "airflow", "external"]),
    default="manual",
    show_default=True,
    help="Who started the run, as the run log records it: the HTTP API, an orchestrator "
    "running medallion (the DAGs of `medallion export airflow` say airflow).",
)
@click.option(
    "--pipeline",
    metavar="NAME",
    help="Record the run as a run of this pipeline of medallion.yml (an orchestrator running "
    "it); the selection is still --select's.",
)
@click.option(
    "--scheduled-for",
    metavar="TIME",
    help="With --pipeline: the scheduled time the run is for (ISO 8601, e.g. an Airflow "
    "logical date), as the run log records it.",
)
@click.option(
    "--attempt",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --pipeline: which attempt of that scheduled time this is (the orchestrator's "
    "try number).",
)
@engine_option
@click.pass_context
def run(
    ctx: click.Context,
    select: tuple[str, ...],
    full_refresh: tuple[str, ...],
    allow_missing_files: bool,
    wait: float,
    watch: bool,
    interval: float,
    max_runs: int | None,
    as_json: bool,
    yes: bool,
    trigger: str,
    pipeline: str | None,
    scheduled_for: str | None,
    attempt: int,
) -> None:
    """Ingest sources and build models in dependency order; log every step.

    A changed model is rebuilt from all its input, with what depends on it (`medallion plan`
    shows what and why before). A rebuild or full refresh that would leave fewer than half of a
    table's rows, drop closed versions of an scd2 history (its inputs do not hold them), or undo
    a change another Delta writer made to a table (a row it deleted comes back), is asked about
    on a terminal, and fails its step (writing nothing) in a script, unless --yes.
    A "y" on the terminal covers the tables listed: one that becomes such a rebuild only during
    the run fails its step as in a script.

    A failing step leaves its table at its previous version and skips what depends on it; the
    command then exits with status 1.

    With --watch it keeps running (continuous mode): each poll looks for new files (and new
    rows in database sources) and, when there are some, makes one ordinary incremental run —
    exactly once, logged like any run; each run's one-line summary goes to stdout. Ctrl-C or
    SIGTERM stops it after the current run."""
    from medallion.cli import progress, render

    project = _project(ctx)
    if watch:
        if full_refresh:
            raise click.UsageError(
                "--watch runs incrementally; run --full-refresh on its own first"
            )
        if pipeline is not None:
            raise click.UsageError("--pipeline records one run; it does not go with --watch")
        _watch(project, list(select) or None, interval, max_runs, as_json)
        return
    if max_runs is not None:
        raise click.UsageError("--max-runs goes with --watch")
    refresh = _refresh(full_refresh)
    confirmed: bool | frozenset[str] = yes
    if not yes and not as_json and sys.stdin.isatty() and sys.stderr.isatty():
        asked = _confirm_rebuilds(project, list(select) or None, refresh)
        if asked is None:
            render.err().print("Nothing was run (`medallion plan` shows what a run would do).")
            ctx.exit(1)
        confirmed = asked or False
    reporter = None if as_json else progress.RunReporter(project)
    result = project.run(
        list(select) or None,
        full_refresh=refresh,
        trigger=trigger,
        command=_command_line(),
        reporter=reporter,
        wait=wait,
        yes=confirmed,
        allow_missing_files=allow_missing_files,
        control=_provenance(project, pipeline, scheduled_for, attempt),
    )
    if as_json:
        render.print_json(render.run_result_dict(result))
    ctx.exit(0 if result.ok else 1)


def _confirm_rebuilds(
    project: Any, select: list[str] | None, refresh: bool | list[str]
) -> frozenset[str] | None:
    """On a terminal: the tables a run would rebuild whole (a changed model, a full refresh,
    another Delta writer's change to undo) listed before it starts, and the user asked. The
    tables confirmed (empty: nothing to confirm), or None: declined. A "y" covers only those:
    a table that turns into a rebuild during the run (see `execute`) still needs --yes."""
    from medallion.cli import render

    rebuilt = [
        e
        # the question lists rebuilds: no need to read rewritten files to count new rows
        for e in project.plan(select, full_refresh=refresh, count_rows=False).entries
        if e.confirm
        or (e.action in ("rebuild", "full refresh") and e.rows and e.why != "new data upstream")
    ]
    if not rebuilt:
        return frozenset()
    for e in rebuilt:
        render.err().print(f"  {e.node}: {e.action}, {render.plan_reason(e)}", markup=False)
    if not click.confirm("Rebuild these tables from their inputs?", err=True):
        return None
    return frozenset(e.node for e in rebuilt)


def _watch(
    project: Any, select: list[str] | None, interval: float, max_runs: int | None, as_json: bool
) -> None:
    """Continuous mode: the first Ctrl-C or SIGTERM lets the current run finish, the second
    interrupts it (its table keeps its last committed version; the next run redoes the step)."""
    import signal
    import threading

    from medallion.cli import progress
    from medallion.orchestrate.watch import watch

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            progress.watch_stopping(second=True)
            raise KeyboardInterrupt
        stop.set()
        progress.watch_stopping(second=False)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not as_json:
            progress.watch_started(project, interval, select)
        results = watch(
            project,
            select=select,
            interval=interval,
            max_runs=max_runs,
            stop=stop,
            command=_command_line(),
            on_event=lambda event: progress.watch_event(event, as_json),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # stopped on request: the status of the last run (a watcher that ran nothing is fine)
    sys.exit(0 if not results or results[-1].ok else 1)


@cli.command("plan", context_settings=CONTEXT)
@click.option(
    "--select", "-s", "select", multiple=True, help="Models/sources, as for run. Repeatable."
)
@_full_refresh_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@engine_option
@click.pass_context
def plan_command(
    ctx: click.Context, select: tuple[str, ...], full_refresh: tuple[str, ...], as_json: bool
) -> None:
    """Show what `medallion run` would do now, without doing it: per source the new files
    waiting; per model `up to date`, `incremental` (new rows upstream), `rebuild` (the model, a
    model it reads, or an input's columns changed; the model's diff is shown) or `refused` (a
    change that would lose what only the table holds). A source whose path matches no file
    `fails` (what reads it is `skipped`) and the exit status is 1. Reads only the Delta logs
    and the landing folders (and, for a full refresh of an scd2 model, the keys of its closed
    versions, to say how many it would drop)."""
    from medallion.cli import render

    project = _project(ctx)
    result = project.plan(list(select) or None, full_refresh=_refresh(full_refresh))
    if as_json:
        render.print_json(result.to_dict())
    else:
        render.plan(result)
    ctx.exit(1 if result.failing else 0)


@cli.command(context_settings=CONTEXT)
@click.option(
    "--select", "-s", "select", multiple=True, help="Tables whose checks to run (as for run)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@engine_option
@click.pass_context
def test(ctx: click.Context, select: tuple[str, ...], as_json: bool) -> None:
    """Run the checks (table-level and singular) on the current tables, without rebuilding.

    Results are stored with the run; exit status 1 if an error-severity check fails."""
    from medallion.cli import progress, render

    project = _project(ctx)
    result = project.test(
        list(select) or None,
        trigger="manual",
        command=_command_line(),
        reporter=None if as_json else progress.RunReporter(project, verb="test"),
    )
    if as_json:
        render.print_json(
            {**render.run_result_dict(result), "checks": project.check_results(result.run_id)}
        )
    ctx.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.option(
    "--runs",
    "-n",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many recent runs that built tables to check (test, optimize, publish build none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def verify(ctx: click.Context, runs: int, as_json: bool) -> None:
    """Check the row ledger: for every step of the last runs, rows in = written + dropped +
    quarantined, and the Delta commits hold those rows; then run every reconciliation check.
    Exit status 1 on any mismatch."""
    from medallion.cli import render

    project = _project(ctx)
    result = project.verify(runs)
    if as_json:
        render.print_json(render.verification_dict(result))
    else:
        render.verification(result)
    ctx.exit(0 if result.ok else 1)


cli.add_command(quarantine)
cli.add_command(importer)
cli.add_command(export)
cli.add_command(users)
cli.add_command(tokens)
cli.add_command(audit)
cli.add_command(serve)
cli.add_command(pipelines)
cli.add_command(scheduler)


@cli.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@click.option("--table", "-t", "tables", multiple=True, help="Only this table (repeatable).")
@click.option("--force", is_flag=True, help="Publish even versions already published.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--print-grants",
    is_flag=True,
    help="Print the SQL that turns access: into roles, grants, row security policies and masked "
    "views in the targets (and the logins a DBA makes), without publishing anything.",
)
@click.pass_context
def publish(
    ctx: click.Context,
    targets: tuple[str, ...],
    tables: tuple[str, ...],
    force: bool,
    as_json: bool,
    print_grants: bool,
) -> None:
    """Copy tables to the publish targets of medallion.yml (all, or TARGETS): each table is
    loaded and swapped in atomically (or merged by key), so BI tools never see half a table.
    With access: in medallion.yml, the same transaction gives each table its grants, row
    filter and masks as PostgreSQL roles, row security policies and masked views."""
    from medallion.cli import progress, render

    project = _project(ctx)
    if print_grants:
        click.echo(project.publish_grants(list(targets) or None), nl=False)
        return
    result = project.publish(
        list(targets) or None,
        list(tables) or None,
        force=force,
        command=_command_line(),
        reporter=None if as_json else progress.RunReporter(project, verb="publish"),
    )
    if as_json:
        render.print_json(render.run_result_dict(result))
    ctx.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def reset(ctx: click.Context, names: tuple[str, ...], yes: bool) -> None:
    """Forget the checkpoints of sources or models: their next run rebuilds them from all input
    (a source re-ingests every file). Nothing is deleted now."""
    from medallion.cli import render

    project = _project(ctx)
    nodes = [project.graph.resolve(n) for n in names]
    if not yes:
        click.confirm(
            f"Reset {', '.join(nodes)}? Their next run rebuilds them from all input",
            abort=True,
            err=True,
        )
    for node in nodes:
        project.reset(node)
    render.reset_done(nodes)


@cli.command(context_settings=CONTEXT)
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Load the project and every model without running anything: config, headers, SQL syntax,
    table references and cycles; check that each file source's path matches a file; then bind
    each SQL model and its expectations against the tables built so far, so an unknown column,
    a type error or a header key (unique_key, order_by, partition_by, ...) naming a column the
    SELECT does not output shows before a run."""
    from medallion.cli import render
    from medallion.errors import MedallionError

    project = _project(ctx)
    project.validate()
    for problem in project.unmatched_sources().values():
        raise problem  # the first: as `run` would stop on it
    found: list[MedallionError] = []
    bound = project.bind(found)
    warnings = [str(w) for w in found] + project.access_warnings()
    render.validated(project, bound, warnings)


# -- looking at things ---------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The last run and its steps (status, rows, Delta versions, durations, errors) and its
    checks; the last `medallion test` and its checks apart, so a test does not hide the run."""
    from medallion.cli import render

    project = _project(ctx)
    run_ = project.last_run("run")
    steps = project.steps(run_["run_id"]) if run_ else []
    checks = project.check_results(run_["run_id"]) if run_ else []
    test_ = project.last_run("test")
    test_checks = project.check_results(test_["run_id"]) if test_ else []
    checkpoints = project.checkpoints()
    if as_json:
        render.print_json(
            {
                "run": run_,
                "steps": steps,
                "checks": checks,
                "test": {"run": test_, "checks": test_checks} if test_ else None,
                "checkpoints": checkpoints,
            }
        )
    else:
        render.status(project, run_, steps, checks, checkpoints, test_, test_checks)


@cli.command(context_settings=CONTEXT)
@click.argument("table", required=False)
@click.option("--runs", "-n", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def history(ctx: click.Context, table: str | None, runs: int, as_json: bool) -> None:
    """Recent runs, newest first; with TABLE, that table's Delta versions and the run that wrote
    each (for `query --as-of` and `restore`)."""
    from medallion.cli import render

    project = _project(ctx)
    if table:
        fqn, versions = project.table_history(table, runs)
        if as_json:
            render.print_json({"table": fqn, "versions": versions})
        else:
            render.table_history(fqn, versions)
        return
    rows = project.run_history(runs)
    if as_json:
        render.print_json(rows)
    else:
        render.history(rows)


@cli.command(context_settings=CONTEXT)
@click.argument("table")
@click.option(
    "--to", "to", required=True, help="A version number, or a time (2026-11-20T08:00, local)."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def restore(ctx: click.Context, table: str, to: str, yes: bool) -> None:
    """Make TABLE's current content that of an earlier version. The restore is a new version,
    so it can itself be undone; downstream tables are not changed until the next run."""
    from medallion.cli import render

    project = _project(ctx)
    target = project.parse_as_of(to, "--to")
    table = project.resolve_table(table)  # an unknown table fails before the question
    if not yes:
        click.confirm(f"Restore {table} to {to}?", abort=True, err=True)
    result = project.restore(table, target, command=_command_line())
    render.maintenance(result)
    ctx.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.argument("tables", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def drop(ctx: click.Context, tables: tuple[str, ...], yes: bool) -> None:
    """Remove orphan TABLES from storage: tables whose model was removed (`medallion tables`
    shows them as orphan), with their quarantine tables and every version (no undo). A table
    the project defines (a model or a source) is refused. Orphans are not served to readers
    other than admins until then."""
    from medallion.cli import render

    project = _project(ctx)
    found = project.orphans_named(list(tables))  # a defined table fails before the question
    if not yes:
        click.confirm(
            f"Drop {', '.join(found)} and every version of it (no undo)?", abort=True, err=True
        )
    result = project.drop(list(tables), command=_command_line())
    render.maintenance(result)
    ctx.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.argument("tables", nargs=-1)
@click.option("--zorder", help="Comma-separated columns to Z-order by (co-locates similar values).")
@click.pass_context
def optimize(ctx: click.Context, tables: tuple[str, ...], zorder: str | None) -> None:
    """Compact the small files of TABLES (default: every table) into fewer large ones."""
    from medallion.cli import render

    columns = [c.strip() for c in zorder.split(",") if c.strip()] if zorder else None
    result = _project(ctx).optimize(list(tables) or None, columns, command=_command_line())
    render.maintenance(result)
    ctx.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.argument("tables", nargs=-1)
@click.option("--dry-run", is_flag=True, help="List the files that would be deleted.")
@click.pass_context
def vacuum(ctx: click.Context, tables: tuple[str, ...], dry_run: bool) -> None:
    """Delete data files older than each layer's `retention` (medallion.yml; default 7 days)
    that the current version of their table no longer uses. Time travel to versions older than
    the retention stops working; the current version is never affected."""
    from medallion.cli import render

    result = _project(ctx).vacuum(list(tables) or None, dry_run, command=_command_line())
    render.maintenance(result)
    ctx.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--as", "as_user", metavar="USER", help="Only the tables USER may read.")
@click.pass_context
def tables(ctx: click.Context, as_json: bool, as_user: str | None) -> None:
    """Every table: layer, kind, rows, Delta version, last written, size."""
    from medallion.cli import render

    project = _project(ctx)
    rows = project.tables(project.identities.require(as_user) if as_user else None)
    if as_json:
        render.print_json([render.table_row_dict(r) for r in rows])
        return
    render.tables(rows)
    orphans = [f"{r.layer}.{r.name}" for r in rows if r.kind == "orphan"]
    if orphans:
        click.echo(
            f"orphan: no model defines {', '.join(orphans)} any more; only admins read it "
            "(`medallion drop TABLE` removes it)",
            err=True,
        )


@cli.command(context_settings=CONTEXT)
@click.argument("sql")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows to FILE (format: --format, else the file's suffix .csv/.json/.parquet).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Rows shown by --format table (0: all). Other formats write every row.",
)
@click.option(
    "--as-of",
    "as_of",
    help="Read the tables as they were: a version (one table) or a time (2026-11-20T08:00).",
)
@click.option(
    "--as",
    "as_user",
    metavar="USER",
    help="Read as USER (medallion users): their grants, row filters and masks; audited.",
)
@click.pass_context
def query(
    ctx: click.Context,
    sql: str,
    fmt: str,
    output: Path | None,
    limit: int,
    as_of: str | None,
    as_user: str | None,
) -> None:
    """Run a read-only SQL query (DuckDB SQL) over the lakehouse.

    Tables are addressed as <layer>.<name>, e.g.
    medallion query "select * from gold.sales_summary_daily order by order_date desc limit 7"

    With --as USER the query is that user's, as `medallion serve` runs it: one SELECT over the
    tables their grants allow, masks and row filters applied, recorded in the access audit
    (`medallion audit`). Without it, queries read as the project (everything).
    """
    from medallion.cli import render

    project = _project(ctx)
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if output is not None:
        if fmt == "table":  # a file gets data, not a drawn table: its format from its suffix
            fmt = {".csv": "csv", ".json": "json", ".parquet": "parquet"}.get(
                output.suffix.lower(), ""
            )
            if not fmt:
                raise click.UsageError(
                    f"--output {output}: say the file's format with --format csv|json|parquet "
                    "(or name it .csv, .json or .parquet)"
                )
        if not output.parent.is_dir():
            raise click.UsageError(f"--output {output}: folder {output.parent} does not exist")
    user = project.identities.require(as_user) if as_user else None
    try:
        reader = project.query_reader(sql, as_of, user)
        render.query_result(reader, fmt=fmt, output=output, limit=limit)
    finally:
        if user is not None:
            project.audit_log.flush()


@cli.command(context_settings=CONTEXT)
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--as", "as_user", metavar="USER", help="Only the tables USER may read.")
@click.pass_context
def lineage(ctx: click.Context, model: str | None, as_json: bool, as_user: str | None) -> None:
    """The dependency graph as text: every table and what it reads, or one model's upstream and
    downstream trees. Tables a check reads (relationships, reconciliation) are shown apart:
    they are built first, and `--select +MODEL` includes them."""
    from medallion.cli import render

    project = _project(ctx)
    user = project.identities.require(as_user) if as_user else None
    data = project.lineage(model, user)
    if as_json:
        render.print_json(data)
    elif model is None:
        render.lineage(project, data, model, data)
    else:
        # the trees are drawn from the graph USER sees, as the API's and the UI's are
        render.lineage(project, data, model, project.lineage(None, user))


@cli.command(context_settings=CONTEXT)
@click.option(
    "--dialect",
    "-d",
    required=True,
    help="Target engine: spark, databricks, snowflake, bigquery or postgres.",
)
@click.option(
    "--select", "-s", "select", multiple=True, help="Models to compile (as for run). Repeatable."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write (default: target/compiled/DIALECT).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def compile(
    ctx: click.Context,
    dialect: str,
    select: tuple[str, ...],
    output: Path | None,
    as_json: bool,
) -> None:
    """Transpile every SQL model to another engine's SQL (SQLGlot): one file per model under
    target/compiled/DIALECT/<layer>/, plus manifest.json (kinds, keys, dependencies).

    Constructs the dialect cannot express are errors naming the model and line — never
    silently wrong SQL; then nothing is written."""
    from medallion.cli import render

    project = _project(ctx)
    result = project.compile(dialect.lower(), list(select) or None, output)
    if as_json:
        render.print_json(
            {
                "dialect": result.dialect,
                "output": str(result.output),
                "setup": str(result.setup) if result.setup else None,
                "models": [
                    {"model": m.model, "path": str(m.path) if m.path else None, "note": m.note}
                    for m in result.models
                ],
            }
        )
    else:
        render.compiled(result)


# -- demo ----------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--template", "-t", default="retail", show_default=True)
@click.option("--rows", type=click.IntRange(min=1), help="Scale of the generated data.")
@click.option("--list", "list_", is_flag=True, help="List the templates and exit.")
def demo(directory: Path | None, template: str, rows: int | None, list_: bool) -> None:
    """Scaffold a template in DIRECTORY (default: a new temporary folder), generate its data,
    run it, and print each gold table's first rows and the run summary."""
    import tempfile

    from medallion.cli import progress, render
    from medallion.project import Project
    from medallion.templates import TEMPLATES, get_template

    if list_:
        render.templates(TEMPLATES)
        return
    tpl = get_template(template)
    if directory is None:
        dest = Path(tempfile.mkdtemp(prefix=f"medallion-demo-{tpl.name}-"))
        dest.chmod(0o755)  # readable by a database server's own user (the OLTP demo's)
    else:
        dest = directory
    tpl.scaffold(dest)
    with tpl.demo_environment(dest) as env:
        counts = tpl.generate(dest, rows=rows)
        render.initialized(dest, tpl, counts, next_steps=False)
        project = Project.load(dest)
        result = project.run(
            trigger="demo", command=_command_line(), reporter=progress.RunReporter(project)
        )
        render.demo_summary(project, result, tpl.demo_afterwards(dest, env))
    sys.exit(0 if result.ok else 1)


# -- options every command takes -----------------------------------------------------------------


def _no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:  # before any console exists: they are made when first printed to
        os.environ["NO_COLOR"] = "1"


def _log_file(path: Path | None) -> None:
    if path is None:
        return
    from medallion.cli.render.console import log_to

    try:
        log_to(path)
    except OSError as e:
        raise click.BadParameter(
            f"cannot write {path}: {e.strerror}", param_hint="--log-file"
        ) from None


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.ensure_object(dict)[key] = value

    return store


def _add_common_options(group: click.Group) -> None:
    """`-p DIR` on every command too (`medallion run -p shop`, as well as `medallion -p shop
    run`), `--no-color` too, `--log-file` on the commands that make runs, and `--wait` on the
    commands that take the writer lock (run has its own)."""
    writers = {"restore", "optimize", "vacuum", "replay"}
    logged = writers | {"run", "test", "publish", "demo"}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            _add_common_options(command)
            continue
        command.params.append(
            click.Option(
                ["--no-color"],
                is_flag=True,
                expose_value=False,
                callback=_no_color,
                help="Plain output, no escape codes (also: NO_COLOR=1).",
            )
        )
        if name in logged:
            command.params.append(
                click.Option(
                    ["--log-file"],
                    type=click.Path(dir_okay=False, path_type=Path),
                    expose_value=False,
                    callback=lambda ctx, param, value: _log_file(value),
                    help="Append progress and errors to FILE instead of showing progress on "
                    "stderr (the summary stays on stdout).",
                )
            )
        if name in ("init", "demo"):  # they make a project folder: DIRECTORY says where
            continue
        command.params.append(
            click.Option(
                ["--project", "-p"],
                type=click.Path(file_okay=False, path_type=Path),
                expose_value=False,
                callback=_remember("project_dir"),
                help="Project folder (or any folder inside it).",
            )
        )
        if name in writers:
            command.params.append(
                click.Option(
                    ["--wait"],
                    type=click.FloatRange(min=0),
                    expose_value=False,
                    callback=_remember("wait"),
                    help="Seconds to wait for another running writer to finish.",
                )
            )


_add_common_options(cli)


# -- entry point ---------------------------------------------------------------------------------


def _interrupted() -> None:
    """Ctrl-C: a run has said what it committed (progress); any other command changed nothing
    that it had not finished."""
    from medallion.cli import progress

    if not progress.interruption_reported():
        click.echo("interrupted (Ctrl-C)", err=True)
    sys.exit(130)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: one readable message and a non-zero exit for every known error."""
    from medallion.errors import MedallionError
    from medallion.faults import watch_interrupts

    watch_interrupts()  # Ctrl-C reaches the threads that stream rows into a table
    try:
        return cli.main(args=argv, prog_name="medallion", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:
        # click turns Ctrl-C into Abort; a question answered "no" is one too
        if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt):
            _interrupted()
        click.echo("aborted", err=True)
        sys.exit(130)
    except MedallionError as e:
        from medallion.cli import render

        render.error(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        # `medallion query ... | head`: the reader went away; not an error
        sys.stderr.close()
        sys.exit(0)
    except OSError as e:
        # a folder that cannot be created or written (a read-only place, a missing parent):
        # the user's environment, not a bug
        from medallion.cli import render
        from medallion.errors import MedallionError, permission_problem

        where = f"{e.filename}: " if e.filename else ""
        denied = permission_problem(e) is not None
        render.error(
            MedallionError(
                f"{where}{e.strerror or e}",
                hint="make it writable for the user running medallion"
                if denied
                else "check that the folder exists and that you may write to it",
            )
        )
        sys.exit(1)
    except Exception as e:
        if os.environ.get("MEDALLION_DEBUG"):
            # the traceback, and the same exit code as without it (a re-raise would exit 1)
            import traceback

            traceback.print_exc()
            sys.exit(70)
        click.echo(
            f"internal error: {type(e).__name__}: {e}\n"
            "  this is a bug in medallion; run again with MEDALLION_DEBUG=1 for the traceback",
            err=True,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
