"""Runs: a run's result, the last run's status, the run history, checkpoints and
maintenance runs."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medallion.cli.render.checks import _checks_table
from medallion.cli.render.console import _escape, _num, _secs, _status, _table, _when, out

if TYPE_CHECKING:
    from medallion.project import Project
    from medallion.state.records import RunResult


def run_result_dict(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "duration_s": round(result.duration_s, 3),
        "error": result.error,
        "steps": [
            {**asdict(s), "layer": s.layer, "table": s.table, "duration_s": round(s.duration_s, 3)}
            for s in result.steps
        ],
    }


def _removed(step: dict[str, Any]) -> int | None:
    """Rows a step's commit removed (a source replacing rewritten files), if it says."""
    details = step.get("details")
    return details.get("rows_removed") if isinstance(details, dict) else None


def _steps_table(steps: list[dict[str, Any]]):
    # rows removed only where a step removed some (`on_rewrite: replace`)
    removed = ("removed",) if any(_removed(s) is not None for s in steps) else ()
    t = _table(
        "#",
        "step",
        "table",
        "status",
        "read",
        "written",
        *removed,
        "quarantined",
        "version",
        "time",
        right=("#", "read", "written", "removed", "quarantined", "version", "time"),
        # a table's name cut is no name at all: columns are left out before it is cut
        whole=("step", "table", "status"),
        drop=(*removed, "read", "time", "quarantined", "#", "version", "written"),
    )
    for s in steps:
        t.add_row(
            str(s["step_no"]),
            s["step"],
            f"{s['layer']}.{s['table_name']}",
            _status(s["status"]),
            _num(s.get("rows_read")),
            _num(s.get("rows_written")),
            *([_num(_removed(s))] if removed else []),
            _num(s.get("rows_quarantined")),
            "" if s.get("delta_version") is None else f"v{s['delta_version']}",
            _secs(s.get("duration_s")),
        )
    return t


def _run_line(name: str, what: str, run: dict[str, Any]) -> str:
    duration = ""
    if run.get("ended_at"):
        d = datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])
        duration = f" in {_secs(d.total_seconds())}"
    return (
        f"[bold]{_escape(name)}[/] · {what} [bold]{run['run_id']}[/] "
        f"{_status(run['status'])}{duration} · started {_when(run['started_at'])} · "
        f"{run['trigger']}"
    )


def status(
    project: Project,
    run: dict[str, Any] | None,
    steps: list[dict[str, Any]],
    checks: list[dict[str, Any]] | None = None,
    checkpoints: list[dict[str, Any]] | None = None,
    test: dict[str, Any] | None = None,
    test_checks: list[dict[str, Any]] | None = None,
) -> None:
    """The last build run (its steps, checks, errors), the last test run apart, the
    checkpoints: `medallion test` is not the last run that built the tables."""
    console = out()
    name = project.config.name
    if run is None:
        console.print(f"{_escape(name)}: no runs yet — try `medallion run`")
    else:
        console.print(_run_line(name, "last run", run))
        if run.get("command"):
            console.print(f"  [dim]{_escape(run['command'])}[/]")
        console.print(_steps_table(steps))
        if checks:
            console.print(_checks_table(checks))
        for s in steps:
            if s["status"] in ("failed", "aborted") and s.get("error"):
                console.print(f"[red]{s['layer']}.{s['table_name']}[/]:")
                for line in s["error"].splitlines():
                    console.print(f"  {line}", markup=False)
        if run.get("error") and not any(s["status"] == "failed" for s in steps):
            console.print(f"[red]{_escape(run['error'])}[/]")
    if test is not None:
        before = run is not None and test["started_at"] < run["started_at"]
        console.print(
            "\n"
            + _run_line(name, "last test", test)
            + (" [dim](before the last run)[/]" if before else "")
        )
        if test_checks:
            console.print(_checks_table(test_checks))
        elif test.get("error"):
            console.print(f"[red]{_escape(test['error'])}[/]")
    if checkpoints:
        console.print(_checkpoints_table(checkpoints))


def _checkpoints_table(rows: list[dict[str, Any]]):
    t = _table(
        "table",
        "reads",
        "checkpoint",
        "at version",
        "set by run",
        "updated",
        whole=("table", "at version", "set by run", "updated"),
        drop=("set by run", "updated", "at version"),
    )
    for r in rows:
        t.add_row(
            r["node"],
            r["input"],
            r["value"],
            "" if r["delta_version"] is None else f"v{r['delta_version']}",
            r["run_id"] or "",
            _when(r["updated_at"]),
        )
    t.title = "checkpoints (what each table has consumed)"
    return t


def reset_done(nodes: list[str]) -> None:
    for node in nodes:
        out().print(f"reset {node}: its next run rebuilds it from all input")


def maintenance(result: RunResult) -> None:
    console = out()
    for s in result.steps:
        mark = "[green]✓[/]" if s.status == "success" else "[red]✗[/]"
        version = f" v{s.delta_version}" if s.delta_version is not None else ""
        detail = s.note if s.status == "success" else (s.error or "")
        console.print(f"  {mark} {s.step:<8} {s.node:<36}{version}  {_escape(detail)}")
    verdict = "[green]done[/]" if result.ok else "[red]failed[/]"
    console.print(f"{verdict} (run {result.run_id}, {_secs(result.duration_s)})")


def history(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out().print("no runs yet — try `medallion run`")
        return
    t = _table(
        "run",
        "started",
        "duration",
        "status",
        "trigger",
        "steps",
        "failed",
        "rows written",
        "command",
        right=("duration", "steps", "failed", "rows written"),
        whole=("run", "started", "status"),
        wrap=("command",),
        drop=("trigger", "failed", "steps", "duration", "command", "started"),
    )
    for r in rows:
        duration = None
        if r.get("ended_at"):
            duration = (
                datetime.fromisoformat(r["ended_at"]) - datetime.fromisoformat(r["started_at"])
            ).total_seconds()
        t.add_row(
            r["run_id"],
            _when(r["started_at"]),
            _secs(duration),
            _status(r["status"]),
            r["trigger"],
            _num(r.get("steps")),
            _num(r.get("failed_steps")) if r.get("failed_steps") else "",
            _num(r.get("rows_written")),
            r.get("command") or "",
        )
    out().print(t)
