"""Deliver notices in the background, with retries, without ever failing or blocking a run.

`Notifier.send` decides which targets hear a notice (the notice's `targets` that list its event
under `on:`), renders each target's message at once and queues it; one daemon thread delivers.
A failed delivery is logged at WARNING and tried again after each of `retry_delays` (a heap
ordered by due time, so a message waiting 30 s for its retry does not hold up the next
notice); after the last it is logged at ERROR and dropped. A target whose configuration cannot
work (an unset `${VAR}`, a URL that is not http) is logged once and never attempted.

Every line goes to the `medallion.notify` logger and passes through the channel's `scrub`:
no webhook path, header value, SMTP user or password is ever logged.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from medallion.orchestrate.notify.base import (
    CHANNELS,
    EVENTS,
    Channel,
    DeliveryError,
    Notice,
    Settings,
    scrub,
    unset_variables,
)
from medallion.orchestrate.notify.message import Facts

log = logging.getLogger("medallion.notify")


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    channel: Channel = field(compare=False)
    message: Any = field(compare=False)
    #: what the message is about, for log lines: "failure of pipeline ingestion (run r1)"
    about: str = field(compare=False)
    attempt: int = field(default=1, compare=False)


class Notifier:
    """Sends notices to the targets under `notifications:` (name -> target object).

    `retry_delays`: seconds to wait before each further attempt (so len + 1 attempts in all).
    `ssl_context`: what https, smtps and STARTTLS trust (default: the system's trust store;
    tests give one that trusts their self-signed certificate). `timeout`: seconds a connection
    or an answer may take."""

    def __init__(
        self,
        targets: Mapping[str, Any] | None,
        project: str,
        ui_url: str | None = None,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.targets = dict(targets or {})
        self.project = project
        self.ui_url = ui_url
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.settings = Settings(timeout=timeout, ssl_context=ssl_context)
        self._channels: dict[str, Channel | None] = {}
        #: target names already reported as missing
        self._told: set[str] = set()
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._busy = 0
        self._closed = False
        self._cond = threading.Condition()
        #: the scheduler may send from several threads: a channel is made (and logged) once
        self._prepare = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the scheduler's side -------------------------------------------------------------

    def send(self, notice: Notice) -> int:
        """Queue the notice for each of its targets listening to its event; how many were
        queued. Never raises, never waits on the network."""
        try:
            return self._send(notice)
        except Exception:
            log.exception("a notification could not be prepared (this is a bug in medallion)")
            return 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message is delivered or given up, at most `timeout` seconds;
        whether everything was done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Stop the delivery thread; messages still waiting (for a retry) are logged and
        dropped. Call `flush` first to give them time. A delivery under way is waited for at
        most `timeout` seconds (it cannot be cut short; the thread is a daemon)."""
        with self._cond:
            self._closed = True
            dropped, self._heap = self._heap, []
            self._cond.notify_all()
        for job in sorted(dropped):
            self._log(
                logging.WARNING,
                job.channel,
                f"notification {job.channel.name!r} ({job.about}) to "
                f"{job.channel.describe()} dropped: the notifier stopped before it was "
                f"delivered (attempt {job.attempt} was due)",
            )
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- preparing ---------------------------------------------------------------------------

    def _send(self, notice: Notice) -> int:
        if notice.event not in EVENTS:
            log.warning(
                "notification of an unknown event %r is not sent (events: %s)",
                notice.event,
                ", ".join(EVENTS),
            )
            return 0
        with self._cond:
            if self._closed:
                log.warning("notification of %s is not sent: the notifier is closed", notice.event)
                return 0
        names = [notice.targets] if isinstance(notice.targets, str) else notice.targets
        facts: Facts | None = None
        queued = 0
        for name in dict.fromkeys(names):
            target = self.targets.get(name)
            if target is None:
                with self._prepare:
                    self._once(
                        name,
                        f"notification {name!r} is not sent: there is no such target under "
                        f"notifications: ({', '.join(sorted(self.targets)) or 'none'})",
                    )
                continue
            if notice.event not in (getattr(target, "on", None) or ()):
                continue
            with self._prepare:
                channel = self._channel(name, target)
            if channel is None:
                continue
            facts = facts or Facts.of(notice, self.project, self.ui_url)
            try:
                message = channel.render(facts)
            except Exception:
                log.exception("notification %r could not be rendered (a bug in medallion)", name)
                continue
            self._enqueue(_Job(time.monotonic(), 0, channel, message, _about(facts)))
            queued += 1
        return queued

    def _channel(self, name: str, target: Any) -> Channel | None:
        """The target's channel, or None (logged once) when it cannot deliver."""
        if name in self._channels:
            return self._channels[name]
        channel, problem, level = self._diagnose(name, target)
        if problem is not None:
            log.log(level, scrub(problem, channel.secrets()) if channel else problem)
            channel = None
        self._channels[name] = channel
        return channel

    def _diagnose(self, name: str, target: Any) -> tuple[Channel | None, str | None, int]:
        """(the target's channel, why it cannot deliver or None, the level to log that at)."""
        kind = str(getattr(target, "type", "") or "")
        make = CHANNELS.get(kind)
        if make is None:
            types = ", ".join(sorted(CHANNELS))
            return (
                None,
                f"notification {name!r} is not sent: unknown type {kind!r} ({types})",
                logging.ERROR,
            )
        channel = make(name, target, self.settings)
        unset = unset_variables(channel.values())
        if unset:
            one = len(unset) == 1
            return (
                channel,
                f"notification {name!r} is not sent: {', '.join(unset)} "
                f"{'is' if one else 'are'} not set (export {'it' if one else 'them'} where the "
                "scheduler runs)",
                logging.WARNING,
            )
        problem = channel.problem()
        if problem:
            return channel, f"notification {name!r} is not sent: {problem}", logging.ERROR
        return channel, None, logging.INFO

    def problems(self) -> dict[str, str]:
        """Why each target that cannot deliver cannot (an unset `${VAR}`, a bad URL), by name:
        for the scheduler to say at start, before any event. Logs nothing."""
        out = {}
        for name, target in self.targets.items():
            try:
                problem = self._diagnose(name, target)[1]
            except Exception as e:
                problem = f"notification {name!r} cannot be prepared: {type(e).__name__}"
            if problem:
                out[name] = problem
        return out

    def _once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            log.warning(text)

    # -- delivering --------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        with self._cond:
            job.seq = next(self._seq)
            heapq.heappush(self._heap, job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="medallion-notify", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        job = heapq.heappop(self._heap)
                        self._busy += 1
                        break
                    self._cond.wait(self._heap[0].due - now if self._heap else None)
            try:
                self._attempt(job)
            except Exception:
                log.exception("notification delivery failed unexpectedly (a bug in medallion)")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, job: _Job) -> None:
        channel = job.channel
        where = f"notification {channel.name!r} ({job.about}) to {channel.describe()}"
        try:
            channel.deliver(job.message)
        except Exception as e:
            if isinstance(e, DeliveryError):
                reason = e.message + (f" ({e.hint})" if e.hint else "")
            else:
                reason = f"{type(e).__name__}: {e}"
            permanent = isinstance(e, DeliveryError) and e.permanent
            total = len(self.retry_delays) + 1
            if permanent or job.attempt >= total:
                self._log(
                    logging.ERROR,
                    channel,
                    f"{where} not delivered (attempt {job.attempt} of {total}): {reason}; "
                    + ("not retried, the configuration must change" if permanent else "given up"),
                )
                return
            delay = self.retry_delays[job.attempt - 1]
            self._log(
                logging.WARNING,
                channel,
                f"{where} failed (attempt {job.attempt} of {total}): {reason}; "
                f"retrying in {delay:g} s",
            )
            job.attempt += 1
            job.due = time.monotonic() + delay
            with self._cond:
                closed = self._closed
                if not closed:
                    job.seq = next(self._seq)
                    heapq.heappush(self._heap, job)
            if closed:
                self._log(logging.WARNING, channel, f"{where} dropped: the notifier stopped")
            return
        self._log(logging.INFO, channel, f"{where} delivered (attempt {job.attempt})")

    def _log(self, level: int, channel: Channel, text: str) -> None:
        log.log(level, scrub(text, channel.secrets()))


def _about(facts: Facts) -> str:
    """`failure of pipeline ingestion (run r1)`: what a log line's message is about."""
    return f"{facts.event} of {facts.subject}" + (
        f" (run {facts.run_id})" if facts.run_id and facts.pipeline else ""
    )
