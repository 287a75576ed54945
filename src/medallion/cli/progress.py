"""Live output of long-running commands: a run's progress step by step, and continuous mode.

Progress goes to stderr (or the `--log-file`), the run's summary — failures and the final
line — to stdout, so `medallion run > run.log` keeps the outcome and a terminal shows both. On
a terminal the current step has a spinner (not with NO_COLOR: no escape codes); piped output
gets one plain line per finished step.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medallion.cli.render.console import (
    _escape,
    _json_default,
    _secs,
    log,
    logging_to_file,
    out,
    plain,
)
from medallion.cli.render.runs import run_result_dict

if TYPE_CHECKING:
    from medallion.orchestrate.watch import WatchEvent
    from medallion.project import Project
    from medallion.state.records import RunResult, StepResult


class RunReporter:
    """Live progress on a terminal (a spinner on the current step), one line per finished step."""

    def __init__(self, project: Project, verb: str = "run") -> None:
        self.project = project
        self.verb = verb
        self.console = log()
        self.total = 0
        self._status: Any = None
        self._started = 0.0

    def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None:
        self.total = len(plan)
        self._started = time.perf_counter()
        self.console.print(
            f"[bold]medallion {self.verb}[/] {self.project.config.name} · run {run_id} · "
            f"{self.total} steps"
        )

    def step_started(self, step_no: int, node: str, step: str) -> None:
        if self.console.is_terminal and not plain():
            verb = {
                "ingest": "ingesting",
                "model": "building",
                "view": "defining",
                "check": "checking",
                "test": "testing",
                "publish": "publishing",
            }[step]
            text = f"[{step_no}/{self.total}] {verb} {node} ..."
            if self._status is None:
                self._status = self.console.status(text)
                self._status.start()
            else:
                self._status.update(text)

    def step_finished(self, r: StepResult) -> None:
        mark = {
            "success": "[green]✓[/]",
            "failed": "[red]✗[/]",
            "skipped": "[yellow]-[/]",
            "interrupted": "[yellow]![/]",
        }[r.status]
        detail = ""
        if r.status == "success":
            parts = []
            if r.step == "view":
                parts.append("view")
            if r.rows_written is not None:
                parts.append(f"{r.rows_written:,} rows")
            if r.rows_quarantined:
                parts.append(f"[yellow]{r.rows_quarantined:,} quarantined[/]")
            if r.delta_version is not None:
                parts.append(f"v{r.delta_version}")
            if r.note and r.step != "view":
                parts.append(f"[dim]{_escape(r.note)}[/]")
            detail = ", ".join(parts)
        elif r.status == "skipped":
            detail = f"[yellow]skipped[/]: {_escape(r.error or '')}"
        elif r.status == "interrupted":
            detail = "[yellow]interrupted[/]"
        else:
            detail = "[red]failed[/]"
        self.console.print(
            f"  {mark} {r.step:<6} {r.node:<36} {detail}  [dim]{_secs(r.duration_s)}[/]"
        )
        for c in r.checks:
            if c.status == "pass":
                continue
            sign = "[yellow]![/]" if c.status == "warn" else "[red]✗[/]"
            kind = "expectation" if c.kind == "expectation" else f"check {c.kind}"
            self.console.print(f"      {sign} {kind} [bold]{c.name}[/]: {_escape(c.message)}")

    def run_finished(self, result: RunResult) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if result.status == "interrupted":
            self._interrupted(result)
            return
        failed = [s for s in result.steps if s.status == "failed"]
        lines: list[str] = []  # markup
        for s in failed:
            lines.append(f"\n[bold red]{s.node} failed:[/]")
            lines.extend(f"  {_escape(line)}" for line in (s.error or "").splitlines())
        checks = [c for s in result.steps for c in s.checks]
        ok = sum(1 for s in result.steps if s.status == "success")
        skipped = sum(1 for s in result.steps if s.status == "skipped")
        written = sum(s.rows_written or 0 for s in result.steps)
        quarantined = sum(s.rows_quarantined or 0 for s in result.steps)
        verdict = "[green]succeeded[/]" if result.ok else "[red]failed[/]"
        extra = f", {quarantined:,} rows quarantined" if quarantined else ""
        if checks:
            warned = sum(1 for c in checks if c.status == "warn")
            bad = sum(1 for c in checks if c.status in ("fail", "error"))
            extra += f"; checks: {len(checks) - warned - bad} passed"
            extra += f", {warned} warned" if warned else ""
            extra += f", [red]{bad} failed[/]" if bad else ""
        lines.append(
            f"\n{self.verb} {verdict} in {_secs(result.duration_s)}: {ok} ok, {len(failed)} "
            f"failed, {skipped} skipped; {written:,} rows written{extra}"
        )
        _summary(lines)

    def _interrupted(self, result: RunResult) -> None:
        """What a run stopped by Ctrl-C leaves: what it committed, where it stopped (did that
        step commit? the Delta log says: its last commit carries the run id), and that the
        next run carries on from there."""
        global _reported_interruption
        _reported_interruption = True
        committed = [s for s in result.steps if s.delta_version is not None]
        cut = next((s for s in result.steps if s.status == "interrupted"), None)
        lines = [f"\n[yellow]{self.verb} {result.run_id} interrupted[/] (Ctrl-C)"]
        if cut is not None:
            lines.append(
                f"  stopped in step {cut.step_no} of {self.total}, {cut.step} {cut.node}: "
                + _escape(self._left(cut.node, result.run_id))
            )
        if committed:
            tables = ", ".join(f"{s.node} v{s.delta_version}" for s in committed)
            lines.append(f"  committed before that: {_escape(tables)}")
        else:
            lines.append("  nothing was committed before that")
        again = "medallion run" if self.verb == "run" else f"medallion {self.verb}"
        lines.append(
            f"  `{again}` carries on from there: what was committed is not done again "
            "(recorded as interrupted: `medallion history`)"
        )
        _summary(lines)

    def _left(self, node: str, run_id: str) -> str:
        """What the interrupted step left of its table."""
        from medallion.errors import MedallionError

        try:
            _, versions = self.project.table_history(node, 1)
        except MedallionError:  # no such table (a view, a table never built)
            return "nothing of it was committed"
        if not versions:
            return "nothing of it was committed"
        last = versions[0]
        if last.get("run_id") == run_id:
            return f"its commit v{last['version']} was made, its checks did not run"
        return f"nothing of it was committed; the table stays at v{last['version']}"


_reported_interruption = False


def interruption_reported() -> bool:
    """Whether a run's interruption was explained already (the entry point need not)."""
    return _reported_interruption


def _summary(lines: list[str]) -> None:
    """A command's outcome: on stdout, and in the log file too when there is one."""
    for console in (out(), log()) if logging_to_file() else (out(),):
        for line in lines:
            console.print(line)


# -- continuous mode (run --watch) -------------------------------------------------------------


def watch_started(project: Project, interval: float, select: list[str] | None) -> None:
    what = f"selection {' '.join(select)}" if select else f"{len(project.config.sources)} sources"
    log().print(
        f"[bold]medallion run --watch[/] {project.config.name}: {what}, every {interval:g}s "
        "[dim](Ctrl-C or SIGTERM stops after the current run; twice aborts it)[/]"
    )


def _pending_text(pending: dict[str, int | None]) -> str:
    if not pending:
        return "catching up"
    parts = [
        f"{name} ({n} new file{'s' if n != 1 else ''})" if n is not None else name
        for name, n in pending.items()
    ]
    return "new input: " + ", ".join(parts)


def watch_event(event: WatchEvent, as_json: bool) -> None:
    """One line per event; with --json, one JSON object per line (JSON Lines)."""
    import sys

    now = datetime.now().astimezone()
    if as_json:
        data: dict[str, Any] = {"event": event.kind, "at": now.isoformat(timespec="seconds")}
        if event.pending:
            data["pending"] = event.pending
        if event.result is not None:
            data["run"] = run_result_dict(event.result)
        if event.message:
            data["message"] = event.message
        sys.stdout.write(json.dumps(data, default=_json_default) + "\n")
        sys.stdout.flush()
        return
    stamp = f"[dim]{now:%H:%M:%S}[/]"
    console = log()
    if event.kind == "run" and event.result is not None:
        # a run's summary goes to stdout (and the log file), as `medallion run`'s does; waits
        # and errors are progress (stderr, or the --log-file)
        r = event.result
        landed = sum(s.rows_written or 0 for s in r.steps if s.step == "ingest")
        verdict = "[green]ok[/]" if r.ok else "[red]failed[/]"
        lines = [
            f"{stamp} run {r.run_id} {verdict} in {_secs(r.duration_s)}: "
            f"{_pending_text(event.pending)}; {landed:,} rows landed, "
            f"{sum(1 for s in r.steps if s.delta_version is not None)} tables written"
        ]
        for s in r.steps:
            if s.status == "failed":
                first = (s.error or "").splitlines()[0] if s.error else ""
                lines.append(f"    [red]✗[/] {s.node}: {_escape(first)}")
        _summary(lines)
    elif event.kind == "busy":
        console.print(f"{stamp} [yellow]waiting[/]: {_escape(event.message)}")
    else:
        console.print(f"{stamp} [red]error[/]: {_escape(event.message)}")


def watch_stopping(second: bool) -> None:
    if second:
        log().print("\n[red]stopping now[/] (a run cut short commits nothing for its step)")
    else:
        log().print("\n[yellow]stopping after the current run[/] (again to abort it)")
