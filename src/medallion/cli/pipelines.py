"""`medallion pipelines` (list, run, pause, resume, history) and `medallion scheduler`: the
project's `pipelines:` on their clocks."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from medallion.cli.common import CONTEXT, _project

if TYPE_CHECKING:
    from medallion.orchestrate.notify import Notifier
    from medallion.project import Project


def notifier_for(project: Project) -> Notifier | None:
    """The project's notification targets, or None when it declares none."""
    if not project.config.notifications:
        return None
    from medallion.orchestrate.notify import Notifier

    return Notifier(
        targets=project.config.notifications,
        project=project.config.name,
        ui_url=project.config.scheduler.ui_url,
    )


def _declared(project: Project) -> dict[str, Any]:
    pipelines = dict(project.config.pipelines)
    if not pipelines:
        raise click.ClickException(
            "medallion.yml declares no pipelines: add a `pipelines:` block (see "
            "`medallion scheduler --help`)"
        )
    return pipelines


def _one(project: Project, name: str) -> Any:
    pipelines = _declared(project)
    if name not in pipelines:
        raise click.ClickException(
            f"no pipeline {name!r} in medallion.yml; pipelines: {', '.join(sorted(pipelines))}"
        )
    return pipelines[name]


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.pass_context
def pipelines(ctx: click.Context) -> None:
    """The pipelines medallion.yml declares: named selections run on a schedule, after each
    other, or when asked. `medallion scheduler` runs them on their clocks. Without a command:
    `pipelines list`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(pipelines_list)


@pipelines.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def pipelines_list(ctx: click.Context, as_json: bool) -> None:
    """Each pipeline: its selection, schedule, what it follows, next and last tick, status.
    Times are in the pipeline's timezone (an `after:` pipeline's in its upstream's); ISO
    UTC with --json."""
    from medallion.cli import render
    from medallion.orchestrate.schedule import schedule, shown_zone, utcnow

    project = _project(ctx)
    log = project.schedule_log()
    paused = log.paused()
    now = utcnow()
    declared = _declared(project)
    rows = []
    for name, p in declared.items():
        last = log.last(name)
        if last is not None:
            last = _as_seen(log, last)
        next_at = schedule(p.cron, p.timezone).next_after(now) if p.cron else None
        rows.append(
            {
                "pipeline": name,
                "select": " ".join(p.select) or "(everything)",
                "schedule": f"{p.schedule} {p.timezone}" if p.schedule else None,
                "after": ", ".join(p.after) or None,
                "paused": name in paused,
                "next_tick": None if next_at is None or name in paused else next_at,
                "last_tick": last.scheduled_for if last else None,
                "last_status": last.status if last else None,
            }
        )
    if as_json:  # times as ISO UTC, as `pipelines history --json` and the HTTP API give them
        render.print_json([{k: _iso(v) for k, v in r.items()} for r in rows])
        return
    table = render.console._table(*rows[0].keys(), wrap=("select",))
    seconds = _seconds_shown(declared)
    for r in rows:
        zone = shown_zone(declared, r["pipeline"])
        table.add_row(*[_cell(v, zone, seconds) for v in r.values()])
    render.out().print(table)


@pipelines.command("run", context_settings=CONTEXT)
@click.argument("name")
@click.option("--no-follow", is_flag=True, help="Do not run the pipelines that follow it (after:).")
@click.option(
    "--trigger",
    type=click.Choice(["manual", "api"]),
    default="manual",
    show_default=True,
    help="Who asked for it, as the tick and the run log record it (the HTTP API says api).",
)
@click.pass_context
def pipelines_run(ctx: click.Context, name: str, no_follow: bool, trigger: str) -> None:
    """Run pipeline NAME now, with its retries and timeout, then the pipelines that follow it
    (`after:`), each recorded as a tick (trigger manual, then after) and notified. Waits while
    another writer holds the project. Exit status 1 if a run failed."""
    import threading

    from medallion.orchestrate.scheduler import run_pipeline

    project = _project(ctx)
    _one(project, name)
    notifier = notifier_for(project)
    stop = threading.Event()
    try:
        done = run_pipeline(
            project, name, follow=not no_follow, notifier=notifier, stop=stop, trigger=trigger
        )
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        if notifier is not None:
            notifier.flush(timeout=15.0)
            notifier.close()
    failed = False
    for tick, result in done:
        status = result.status if result else tick.status
        failed |= status != "success"
        run = f" (run {result.run_id}, {result.duration_s:.1f} s)" if result else ""
        click.echo(f"{tick.pipeline}: {status}{run}")
        if result is not None and result.error:
            click.echo(f"  {result.error}")
    sys.exit(1 if failed else 0)


@pipelines.command("pause", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
def pipelines_pause(ctx: click.Context, name: str) -> None:
    """Pause pipeline NAME: the scheduler records its ticks as skipped (paused) until resumed,
    and does not run them afterwards."""
    _set_paused(ctx, name, True)


@pipelines.command("resume", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
def pipelines_resume(ctx: click.Context, name: str) -> None:
    """Resume pipeline NAME from its next tick."""
    _set_paused(ctx, name, False)


def _set_paused(ctx: click.Context, name: str, paused: bool) -> None:
    import getpass

    from medallion.orchestrate.schedule import utcnow

    project = _project(ctx)
    _one(project, name)
    project.schedule_log().set_paused(name, paused, utcnow(), getpass.getuser())
    click.echo(f"{name}: {'paused' if paused else 'resumed'}")


@pipelines.command("history", context_settings=CONTEXT)
@click.argument("name", required=False)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def pipelines_history(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """Ticks of pipeline NAME (default: every pipeline), newest first: when it was due, how it
    was started, its status, its run and attempt, and why it was missed or skipped."""
    from medallion.cli import render
    from medallion.orchestrate.schedule import shown_zone

    project = _project(ctx)
    declared = project.config.pipelines
    if name is not None:
        _one(project, name)
    log = project.schedule_log()
    ticks = [_as_seen(log, t) for t in log.history(name, limit)]
    if as_json:
        render.print_json([t.to_dict() for t in ticks])
        return
    if not ticks:
        click.echo("no ticks yet")
        return
    cols = ("pipeline", "scheduled_for", "trigger", "status", "attempt", "run_id", "note")
    table = render.console._table(*cols, wrap=("note",))
    seconds = _seconds_shown(declared)
    for t in ticks:
        zone = shown_zone(declared, t.pipeline)
        table.add_row(*[_cell(getattr(t, c), zone, seconds) for c in cols])
    render.out().print(table)


def _as_seen(log: Any, tick: Any) -> Any:
    """A tick as it stands: one left `running` by a process that is gone (a scheduler or a
    `pipelines run` killed with kill -9) is shown `aborted`, with the run it started, until a
    scheduler starts and settles it (runs it again, or records it failed). The state database
    is not changed here: that is the next scheduler's decision."""
    if tick.status != "running" or log.owner_alive(tick):
        return tick
    run = log.run_of(tick)  # marks the dead process's run aborted
    if run and run["status"] == "running":
        return tick
    tick.status = "aborted"
    tick.run_id = run["run_id"] if run else tick.run_id
    tick.note = (
        "its process is gone (killed?); the next `medallion scheduler` start runs it again, "
        "or records it failed if its retries are used up"
    )
    return tick


def _seconds_shown(declared: Any) -> bool | None:
    """Times in a table with seconds when a pipeline's schedule has a seconds field (every time
    alike: 22:50:00 beside 22:50:10), else only where they are not zero."""
    from medallion.orchestrate.schedule import has_seconds

    return True if any(has_seconds(p.cron) for p in declared.values()) else None


def _cell(value: Any, zone: str = "UTC", seconds: bool | None = None) -> str:
    """A value as a table shows it: a time in the pipeline's zone, as its schedule reads."""
    from datetime import datetime

    if isinstance(value, datetime):
        from medallion.orchestrate.schedule import local_text

        return local_text(value, zone, seconds)
    if value is True:
        return "yes"
    return "" if value is None or value is False else str(value)


def _iso(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


@click.command(context_settings=CONTEXT)
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the project's pipelines on their schedules until SIGTERM or Ctrl-C (a foreground
    daemon for systemd, Docker or a terminal; also `medallion serve --scheduler`).

    One scheduler per project: a second one refuses to start, naming the first. Each tick is
    recorded in the state database before it runs, so a restart neither loses nor repeats one;
    a tick missed while the scheduler was down runs once if within the pipeline's grace, else
    it is recorded and notified as missed. A daily schedule runs once per local day across
    daylight-saving changes. Runs wait for the writer lock while a manual run holds it.
    SIGTERM lets the running step finish, then exits (the rest of that run happens at the next
    start).

    \b
      pipelines:
        ingestion:
          select: [layer:bronze]
          schedule: "0 2 * * *"        # cron (a 6th field: seconds), or @daily, @hourly
          timezone: Europe/London      # default UTC
          retries: 2                   # a failed step runs again (retry_on: any | transient)
          retry_delay: 5 minutes       # doubled each attempt
          timeout: 30 minutes
          grace: 1 hour                # a missed tick younger than this still runs
          notify: [ops]
        transformation:
          select: [layer:silver, layer:gold]
          after: [ingestion]           # on: success (default) | completion
          notify: [ops]
      notifications:
        ops: {type: slack, url: "${SLACK_WEBHOOK_URL}", on: [failure, retry, missed, sla]}
    """
    import logging
    import signal
    import threading

    from medallion.orchestrate.scheduler import Scheduler

    project = _project(ctx)
    _declared(project)
    project.validate()  # a pipeline selecting nothing fails now, not at 02:00
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("stopping: the running step finishes first (again to interrupt it)", err=True)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    with project.scheduler_lock():
        notifier = notifier_for(project)
        for problem in (notifier.problems() if notifier is not None else {}).values():
            click.echo(f"warning: {problem}", err=True)
        sched = Scheduler(project, notifier=notifier, stop=stop)
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            names = ", ".join(project.config.pipelines)
            click.echo(
                f"medallion scheduler: project {project.config.name}, pipelines {names}",
                err=True,
            )
            sched.serve()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if notifier is not None:
                notifier.close()
    click.echo("scheduler stopped", err=True)
