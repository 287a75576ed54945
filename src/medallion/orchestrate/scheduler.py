"""`medallion scheduler`: run a project's pipelines on their clocks, one run at a time.

What it guarantees:
- **One per project.** It holds `<state>/scheduler.lock` (an flock the kernel drops when the
  process dies); a second scheduler refuses to start, naming the first.
- **A tick is neither lost nor repeated.** Every tick (pipeline, scheduled_for) is recorded in
  the state database before it runs and never twice (state/schedule.py). A scheduler restarted
  at any instant finds its ticks: a pending one runs; one whose run was cut off (kill -9) runs
  again as the next attempt if its retries allow, else ends failed; one whose run had ended is
  closed with that run's status.
- **Missed ticks.** When the scheduler was down across a tick, the newest such tick runs once
  if it is younger than the pipeline's `grace`; the older ones, and a newest one past its grace,
  are recorded `missed` and notified. Ticks that come due while a run keeps the scheduler busy
  are queued, and only the newest of a pipeline's queued ticks runs (the others are recorded
  `skipped`, superseded): a pipeline never runs twice back to back to catch up.
- **Time zones.** Fire times come from orchestrate/schedule.py: a daily job runs once per local
  day across daylight-saving changes.
- **One writer.** A run takes the project's writer lock, waiting (not failing) while a manual
  `medallion run` holds it.
- **`after:`** When a pipeline's run ends, the pipelines that follow it get a tick for the same
  scheduled time (`on: success`: only if it succeeded, else the tick is recorded `skipped`); a
  pipeline after several waits until each of them that has a tick at that time has ended.
- **Stopping.** `stop` (SIGTERM, Ctrl-C) lets the running step finish, skips the steps left
  (the run ends `interrupted`), puts its tick back to pending for the next start, and returns.
- **Paused** pipelines (`medallion pipelines pause`) record their ticks as `skipped` (paused),
  so resuming does not run the days they were paused.

The clock is injectable (`Clock`): tests drive a day, a DST change or a restart in
milliseconds, with real runs of a real project.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from medallion.errors import LockError, MedallionError
from medallion.orchestrate.schedule import local_text, schedule, shown_zone
from medallion.orchestrate.watch import code_stamp
from medallion.state.records import RunControl, RunResult, StepResult

if TYPE_CHECKING:
    from medallion.orchestrate.notify import Notifier
    from medallion.project import Project
    from medallion.state.schedule import ScheduleLog, Tick

log = logging.getLogger("medallion.scheduler")

#: longest sleep between wake-ups with nothing due: pause/resume, edits and a manual
#: `pipelines run` are noticed within it
IDLE_POLL = 30.0


class Clock:
    """Real time. A test's clock returns its own `now()` and advances on `sleep`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait `seconds` or until `stop` is set; whether it was set."""
        return stop.wait(max(0.0, seconds))


@dataclass
class Outcome:
    """What one wake-up of the scheduler did (for tests and the CLI's log)."""

    ran: list[Tick] = field(default_factory=list)
    #: (pipeline, scheduled_for) of ticks recorded missed or skipped
    missed: list[tuple[str, datetime]] = field(default_factory=list)
    skipped: list[tuple[str, datetime]] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        project: Project,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        stop: threading.Event | None = None,
        lock_wait: float = 1.0,
        on_run: Callable[[Tick, RunResult | None], None] | None = None,
        idle_poll: float = IDLE_POLL,
    ) -> None:
        self.project = project
        self.idle_poll = idle_poll
        self.clock = clock or Clock()
        self.notifier = notifier
        self.stop = stop or threading.Event()
        #: seconds each try for the writer lock waits (tries go on until stopped)
        self.lock_wait = lock_wait
        self.on_run = on_run
        self.started = self.clock.now()
        self._stamp = code_stamp(project.root, project.config.models)
        self._recovered = False
        self._next_sla: datetime | None = None

    @property
    def ticks(self) -> ScheduleLog:
        return self.project.schedule_log()

    @property
    def pipelines(self) -> dict[str, Any]:
        return dict(self.project.config.pipelines)

    # -- one wake-up -------------------------------------------------------------------------

    def step(self) -> Outcome:
        """Everything due now: recover a previous scheduler's ticks (first wake-up), record the
        ticks that came due, run the open ones (and what follows them), check SLAs."""
        out = Outcome()
        self._reload_if_changed()
        if not self._recovered:
            self._recover(out)
            self._recovered = True
        self._record_due(self.clock.now(), out)
        self._run_open(out)
        self._check_slas(self.clock.now(), out)
        return out

    def next_wake(self) -> datetime:
        """When something may next be due: the next fire of any pipeline, the next SLA check,
        or IDLE_POLL from now."""
        now = self.clock.now()
        wake = now + timedelta(seconds=self.idle_poll)
        for name, p in self.pipelines.items():
            if p.cron:
                wake = min(wake, schedule(p.cron, p.timezone).next_after(self._last(name, now)))
        if self._next_sla is not None:
            wake = min(wake, self._next_sla)
        return wake

    def serve(self) -> None:
        """The daemon loop: until `stop` is set."""
        while not self.stop.is_set():
            try:
                self.step()
            except MedallionError as e:  # a broken project or state: said, then tried again
                log.error("%s", e)
            wait = (self.next_wake() - self.clock.now()).total_seconds()
            if self.clock.sleep(max(0.0, wait), self.stop):
                break
        if self.notifier is not None:
            self.notifier.flush(timeout=10.0)

    # -- ticks -------------------------------------------------------------------------------

    def _last(self, name: str, now: datetime) -> datetime:
        """The scheduled time after which the pipeline's next tick is owed."""
        last = self.ticks.last(name, "schedule")
        first_seen = self.ticks.first_seen(name, now)
        return max(last.scheduled_for, first_seen) if last else first_seen

    def _record_due(self, now: datetime, out: Outcome) -> None:
        paused = self.ticks.paused()
        for name, p in self.pipelines.items():
            if not p.cron:
                continue
            due = schedule(p.cron, p.timezone).between(self._last(name, now), now)
            if not due:
                continue
            if name in paused:
                for when in due:
                    self.ticks.add(name, when, "schedule", "skipped", note="paused")
                continue
            newest = due[-1]
            # the scheduler was running when the tick came due (a run kept it busy): queued
            came_while_up = newest >= self.started
            late = (now - newest).total_seconds()
            for when in due[:-1]:
                status = "skipped" if when >= self.started else "missed"
                note = (
                    f"superseded by the tick of {local_text(newest, p.timezone)}"
                    if status == "skipped"
                    else "the scheduler was not running"
                )
                if self.ticks.add(name, when, "schedule", status, note=note):
                    (out.skipped if status == "skipped" else out.missed).append((name, when))
            if came_while_up or late <= p.grace_s:
                self.ticks.add(name, newest, "schedule")
            else:
                note = f"the scheduler was not running; {_ago(late)} late, past grace {p.grace}"
                if self.ticks.add(name, newest, "schedule", "missed", note=note):
                    out.missed.append((name, newest))
            missed = [w for w in due if w < self.started and (w != newest or late > p.grace_s)]
            if missed:
                self._notify_missed(name, p, missed, now)

    def _run_open(self, out: Outcome) -> None:
        """Run the open ticks, oldest first, and those their ends start, until none is left
        (or the scheduler is stopped)."""
        while not self.stop.is_set():
            open_ticks = [t for t in self.ticks.open() if t.status == "pending"]
            if not open_ticks:
                return
            # a pipeline's older pending ticks are superseded by its newest one
            newest: dict[str, Tick] = {}
            for t in open_ticks:
                newest[t.pipeline] = t
            for t in open_ticks:
                if newest[t.pipeline] is not t:
                    after = f"{newest[t.pipeline].scheduled_for:%Y-%m-%d %H:%M:%S} UTC"
                    self.ticks.end(t, "skipped", note=f"superseded by the tick of {after}")
                    out.skipped.append((t.pipeline, t.scheduled_for))
            tick = min(newest.values(), key=lambda t: t.scheduled_for)
            why = (
                "the pipeline is no longer declared"
                if tick.pipeline not in self.pipelines
                else "paused"
                if tick.pipeline in self.ticks.paused()
                else None
            )
            if why:
                self.ticks.end(tick, "skipped", note=why)
                out.skipped.append((tick.pipeline, tick.scheduled_for))
                continue
            self.run_tick(tick)
            out.ran.append(tick)

    def run_tick(self, tick: Tick) -> RunResult | None:
        """Run one tick's pipeline (waiting for the writer lock), record and notify its end,
        and add the ticks of the pipelines that follow it."""
        p = self.pipelines[tick.pipeline]
        attempt = tick.attempt + 1
        if not self.ticks.start(tick, attempt):
            return None  # another process (a manual run, another scheduler) took it
        control = RunControl(
            pipeline=tick.pipeline,
            attempt=attempt,
            scheduled_for=_iso(tick.scheduled_for),
            retries=p.retries,
            retry_delay=p.retry_delay_s,
            retry_on=p.retry_on,
            timeout=p.timeout_s,
            stop=self.stop,
            on_retry=lambda res, n, delay, error: self._notify_retry(tick, p, res, n, delay),
            sleep=lambda seconds: self.clock.sleep(seconds, self.stop),
        )
        log.info(
            "running pipeline %s (tick %s, attempt %d)",
            tick.pipeline,
            local_text(tick.scheduled_for, shown_zone(self.pipelines, tick.pipeline)),
            attempt,
        )
        result: RunResult | None = None
        error: str | None = None
        try:
            result = self._run_with_lock(tick, p, control)
        except MedallionError as e:
            error = str(e)
        if result is None and error is None:  # stopped while waiting for the lock
            self.ticks.end(tick, "pending", note="the scheduler stopped before it ran")
            return None
        if result is not None and result.status == "interrupted":
            # stopped by SIGTERM: the next scheduler runs the rest (an incremental run)
            self.ticks.end(tick, "pending", result.run_id, note=result.error)
            return result
        status = result.status if result is not None else "failed"
        note = (result.error if result is not None else error) or None
        self.ticks.end(tick, status, result.run_id if result else None, note=note)
        log.info("pipeline %s %s%s", tick.pipeline, status, f": {note}" if note else "")
        self._notify_end(tick, p, result, error)
        self._follow(tick, status)
        if self.on_run is not None:
            self.on_run(tick, result)
        return result

    def _run_with_lock(self, tick: Tick, p: Any, control: RunControl) -> RunResult | None:
        waiting_said = False
        while not self.stop.is_set():
            try:
                return self.project.run(
                    p.select or None,
                    trigger=tick.trigger,
                    command=f"pipeline {tick.pipeline}",
                    wait=self.lock_wait,
                    control=control,
                )
            except LockError as e:
                if not waiting_said:
                    log.info("pipeline %s waits for the writer lock: %s", tick.pipeline, e.message)
                    waiting_said = True
        return None

    def _follow(self, tick: Tick, status: str) -> None:
        """A tick ended: each pipeline that follows it gets its tick for the same scheduled time
        once every upstream with a tick at that time has ended (a pipeline after two others
        reads what both wrote). Upstreams with no tick then (a manual run of one of them) are
        not waited for. `on: success` needs every upstream that ran then to have succeeded."""
        for name, q in self.pipelines.items():
            if tick.pipeline not in q.after:
                continue
            ended = {tick.pipeline: status}
            waiting = []
            for up in q.after:
                if up == tick.pipeline:
                    continue
                other = self.ticks.at(up, tick.scheduled_for)
                if other is None:
                    continue
                if other.status in ("pending", "running"):
                    waiting.append(up)
                else:
                    ended[up] = other.status
            if waiting:
                log.info("pipeline %s waits for %s", name, ", ".join(waiting))
                continue
            unsuccessful = [f"{up} ended {s}" for up, s in ended.items() if s != "success"]
            if not unsuccessful or q.on == "completion":
                self.ticks.add(name, tick.scheduled_for, "after", upstream=tick.pipeline)
            else:
                self.ticks.add(
                    name,
                    tick.scheduled_for,
                    "after",
                    "skipped",
                    upstream=tick.pipeline,
                    note=f"{'; '.join(unsuccessful)} (on: success)",
                )

    def _recover(self, out: Outcome) -> None:
        """Ticks a previous scheduler left open: a run that ended closes its tick; one cut off
        runs again while its retries allow."""
        for tick in self.ticks.open():
            if tick.status != "running" or tick.pipeline not in self.pipelines:
                continue
            p = self.pipelines[tick.pipeline]
            if self.ticks.owner_alive(tick):
                continue  # a manual `pipelines run` (or a run still going) owns it
            run = self.ticks.run_of(tick)
            if run and run["status"] == "running":
                continue  # its process is alive (the dead ones were just marked aborted)
            if run and run["status"] in ("success", "failed"):
                self.ticks.end(tick, run["status"], run["run_id"], note=run["error"])
                self._follow(tick, run["status"])
            elif tick.attempt <= max(p.retries, 1):  # a crash is not the run's failure: once more
                self.ticks.end(
                    tick,
                    "pending",
                    run["run_id"] if run else None,
                    note="the scheduler stopped during its run; it runs again",
                )
            else:
                self.ticks.end(
                    tick,
                    "failed",
                    run["run_id"] if run else None,
                    note="the scheduler stopped during its run, and its retries are used up",
                )

    # -- reload ------------------------------------------------------------------------------

    def _reload_if_changed(self) -> None:
        stamp = code_stamp(self.project.root, self.project.config.models)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.project = self.project.reload()
            log.info("medallion.yml or a model changed: project loaded again")
        except MedallionError as e:
            log.error("the project no longer loads; keeping the previous one: %s", e)

    # -- SLAs --------------------------------------------------------------------------------

    def _check_slas(self, now: datetime, out: Outcome) -> None:
        if self._next_sla is not None and now < self._next_sla:
            return
        self._next_sla = now + timedelta(seconds=self.project.config.scheduler.sla_interval_s)
        slas = self.project.slas()
        if not slas:
            return
        known = self.ticks.breaches()
        for table, seconds in slas.items():
            written = self.ticks.last_written(table)
            # never written: owed since the project's scheduler first ran
            since = written or min(
                [self.ticks.first_seen(n, now) for n in self.pipelines] or [self.started]
            )
            age = (now - since).total_seconds()
            if age <= seconds:
                if table in known:
                    self.ticks.clear_breach(table)
                continue
            if table in known:
                continue
            self.ticks.set_breached(table, now, written, notified=True)
            out.breaches.append(table)
            what = f"last written {_ago(age)} ago" if written else "never written"
            self._send(
                "sla",
                None,
                [n for n, t in self.project.config.notifications.items() if "sla" in t.on],
                message=f"{table} breached its freshness SLA of {_ago(seconds)}: {what}",
                table=table,
                details={
                    "sla_s": seconds,
                    "age_s": round(age),
                    "last_written": _iso(written) if written else None,
                },
            )

    # -- notifications -----------------------------------------------------------------------

    def _send(self, event: str, tick: Tick | None, targets: list[str], **fields: Any) -> None:
        if self.notifier is None or not targets:
            return
        from medallion.orchestrate.notify import Notice

        notice_fields: dict[str, Any] = {
            "event": event,
            "targets": targets,
            "pipeline": tick.pipeline if tick else fields.pop("pipeline", None),
            "trigger": tick.trigger if tick else fields.pop("trigger", "schedule"),
            "attempt": tick.attempt if tick else 1,
            "scheduled_for": tick.scheduled_for if tick else fields.pop("scheduled_for", None),
        }
        notice_fields.update(fields)
        self.notifier.send(Notice(**notice_fields))

    def _notify_end(self, tick: Tick, p: Any, result: RunResult | None, error: str | None) -> None:
        ok = result is not None and result.ok
        when = local_text(tick.scheduled_for, shown_zone(self.pipelines, tick.pipeline))
        if ok:
            message = f"pipeline {tick.pipeline} succeeded (tick {when})"
        else:
            why = error or (result.error if result else None) or "failed"
            message = f"pipeline {tick.pipeline} failed (tick {when}): {why.splitlines()[0]}"
        self._send("success" if ok else "failure", tick, p.notify, run=result, message=message)
        if result is not None:
            checks = [c for s in result.steps for c in s.checks if c.status in ("warn", "fail")]
            if checks:
                self._send(
                    "check",
                    tick,
                    p.notify,
                    run=result,
                    message=f"{len(checks)} check(s) warned or failed in pipeline {tick.pipeline}",
                    details={"checks": [c.to_dict() for c in checks]},
                )

    def _notify_retry(
        self, tick: Tick, p: Any, res: StepResult, attempt: int, delay: float
    ) -> None:
        log.info(
            "pipeline %s: %s failed (attempt %d), retried in %s",
            tick.pipeline,
            res.node,
            attempt,
            _ago(delay),
        )
        self._send(
            "retry",
            tick,
            p.notify,
            message=f"{res.node} failed (attempt {attempt} of {p.retries + 1}); retried in "
            f"{_ago(delay)}: {(res.error or '').splitlines()[0] if res.error else ''}",
            details={"node": res.node, "error": res.error, "delay_s": delay},
            step=res,
        )

    def _notify_missed(self, name: str, p: Any, missed: list[datetime], now: datetime) -> None:
        first, last = missed[0], missed[-1]
        span = (
            local_text(first, p.timezone)
            if first == last
            else f"{len(missed)} ticks, {local_text(first, p.timezone)} to "
            f"{local_text(last, p.timezone)}"
        )
        log.warning("pipeline %s missed %s", name, span)
        self._send(
            "missed",
            None,
            p.notify,
            pipeline=name,
            scheduled_for=last,
            message=f"pipeline {name} missed {span}: the scheduler was not running",
            details={"missed": [_iso(w) for w in missed]},
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds / size
            return f"{n:.3g} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:.3g} s"


def run_pipeline(
    project: Project,
    name: str,
    *,
    follow: bool = True,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    lock_wait: float = 1.0,
    trigger: str = "manual",
) -> list[tuple[Tick, RunResult | None]]:
    """`medallion pipelines run NAME`: a tick of the pipeline now (`trigger`: manual, or api
    when the HTTP API asked), run here with its retries and timeout, then (with `follow`) the
    pipelines that follow it. Returns each tick run with its result."""
    from medallion.errors import ConfigError

    pipelines = project.config.pipelines
    if name not in pipelines:
        raise ConfigError(
            f"no pipeline {name!r}",
            hint=f"pipelines: {', '.join(sorted(pipelines)) or 'none declared in medallion.yml'}",
        )
    done: list[tuple[Tick, RunResult | None]] = []
    scheduler = Scheduler(
        project,
        clock=clock,
        notifier=notifier,
        stop=stop,
        lock_wait=lock_wait,
        on_run=lambda tick, result: done.append((tick, result)),
    )
    ticks = scheduler.ticks
    when = scheduler.clock.now()
    ticks.add(name, when, trigger)
    queue = [t for t in ticks.open() if t.pipeline == name and t.scheduled_for == when]
    while queue and not scheduler.stop.is_set():
        tick = queue.pop(0)
        scheduler.run_tick(tick)
        if follow:
            queue += [
                t
                for t in ticks.open()
                if t.status == "pending" and t.trigger == "after" and t.scheduled_for == when
            ]
    return done
