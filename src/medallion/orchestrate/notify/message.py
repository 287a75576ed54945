"""The facts of a notice, taken once, and the plain-text summary every channel starts from.

`Facts` is what any message says: the project, pipeline, run id, trigger, failed steps with
their error and hint, rows written and quarantined, checks that warned or failed, and a link to
the run in the web UI when `scheduler.ui_url` is set. `Facts.to_dict` is the webhook payload
(stable keys, documented in docs/notifications.md); `summary` is the text of Slack and email.
Error, check and detail texts go out without the data values they may carry (`redact`,
`_without_sample`): a notification reaches people the read policy does not cover.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from medallion.errors import display_value

if TYPE_CHECKING:
    from medallion.orchestrate.notify.base import Notice
    from medallion.state.records import RunResult, StepResult

# MedallionError's text: the message, then its hint on a line of its own (errors.py)
_HINT = "\n  hint: "
#: a step's error as shown in Slack and email (the webhook carries it whole)
_SHORT_ERROR = 600
#: failed steps and checks listed in Slack and email before "and N more"
_LISTED = 10


@dataclass(frozen=True)
class FailedStep:
    node: str
    step: str
    error: str
    hint: str | None = None


@dataclass(frozen=True)
class CheckLine:
    table: str
    name: str
    status: str
    message: str
    failing_rows: int | None = None


@dataclass(frozen=True)
class Facts:
    """What a message says, taken from a notice when it is sent (a run result that changes
    afterwards does not change a message waiting for a retry)."""

    id: str
    event: str
    project: str
    pipeline: str | None
    run_id: str | None
    status: str | None
    trigger: str | None
    attempt: int
    scheduled_for: str | None
    message: str
    failed_steps: tuple[FailedStep, ...]
    rows_written: int | None
    rows_quarantined: int | None
    checks: tuple[CheckLine, ...]
    table: str | None
    url: str | None
    sent_at: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, notice: Notice, project: str, ui_url: str | None) -> Facts:
        run = notice.run
        details = dict(notice.details or {})
        extra = details.pop("checks", None) or ()
        checks = dict.fromkeys(
            c for c in (*_checks(run), *(_check_line(c) for c in extra)) if c is not None
        )
        url = None
        if ui_url and run is not None:
            url = run_page(ui_url, run.run_id)
        return cls(
            id=uuid.uuid4().hex,
            event=notice.event,
            project=project,
            pipeline=notice.pipeline,
            run_id=run.run_id if run else None,
            status=run.status if run else None,
            trigger=notice.trigger,
            attempt=notice.attempt,
            scheduled_for=notice.scheduled_for.isoformat() if notice.scheduled_for else None,
            message=redact(notice.message or (run.error or "" if run else "")),
            failed_steps=_failed_steps(run) or _failed_steps_of([notice.step]),
            rows_written=_total(run, "rows_written"),
            rows_quarantined=_total(run, "rows_quarantined"),
            checks=tuple(checks),
            table=notice.table,
            url=url,
            sent_at=datetime.now(UTC).isoformat(timespec="seconds"),
            details={k: _redacted(_plain(v)) for k, v in details.items()},
        )

    @property
    def subject(self) -> str:
        """What the event is about: the pipeline, else the run, else the table."""
        if self.pipeline:
            return f"pipeline {self.pipeline}"
        if self.run_id:
            return f"run {self.run_id}"
        return self.table or "the lakehouse"

    @property
    def headline(self) -> str:
        """One line: `retail: pipeline ingestion failed` (an email's subject, Slack's title)."""
        return f"{self.project}: {_HEADLINES.get(self.event, _other)(self)}"

    def to_dict(self) -> dict[str, Any]:
        """The webhook payload."""
        return {
            "id": self.id,
            "event": self.event,
            "project": self.project,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "status": self.status,
            "trigger": self.trigger,
            "attempt": self.attempt,
            "scheduled_for": self.scheduled_for,
            "message": self.message,
            "headline": self.headline,
            "failed_steps": [
                {"node": s.node, "step": s.step, "error": s.error, "hint": s.hint}
                for s in self.failed_steps
            ],
            "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined,
            "checks": [
                {
                    "table": c.table,
                    "name": c.name,
                    "status": c.status,
                    "message": c.message,
                    "failing_rows": c.failing_rows,
                }
                for c in self.checks
            ],
            "table": self.table,
            "url": self.url,
            "sent_at": self.sent_at,
            "details": self.details,
        }

    def summary(self) -> list[str]:
        """The facts as plain-text lines, headline first (Slack and email bodies)."""
        lines = [self.headline]
        if self.message:
            lines.append(self.message)
        run = []
        if self.run_id:
            run.append(f"run {self.run_id}" + (f" ({self.status})" if self.status else ""))
        if self.trigger:
            run.append(f"trigger: {self.trigger}")
        if self.attempt > 1 or self.event == "retry":
            run.append(f"attempt {self.attempt}")
        if self.scheduled_for:
            run.append(f"scheduled for {self.scheduled_for}")
        if run:
            lines.append(", ".join(run))
        if self.table:
            lines.append(f"table: {self.table}")
        if self.rows_written is not None or self.rows_quarantined is not None:
            lines.append(
                f"rows written: {self.rows_written or 0}, quarantined: {self.rows_quarantined or 0}"
            )
        if self.failed_steps:
            lines.append("failed steps:")
            for s in self.failed_steps[:_LISTED]:
                lines.append(f"  {s.node} ({s.step}): {_short(s.error)}")
                if s.hint:
                    lines.append(f"    hint: {_short(s.hint)}")
            if len(self.failed_steps) > _LISTED:
                lines.append(f"  and {len(self.failed_steps) - _LISTED} more")
        if self.checks:
            lines.append("checks:")
            for c in self.checks[:_LISTED]:
                rows = f" ({c.failing_rows} rows)" if c.failing_rows else ""
                text = f": {_short(c.message)}" if c.message else ""
                lines.append(f"  {c.table} {c.name}: {c.status}{rows}{text}")
            if len(self.checks) > _LISTED:
                lines.append(f"  and {len(self.checks) - _LISTED} more")
        for key, value in self.details.items():
            lines.append(f"{key}: {value}")
        return lines


def _other(f: Facts) -> str:
    return f"{f.event} of {f.subject}"


def _check_headline(f: Facts) -> str:
    failed = any(c.status in ("fail", "error") for c in f.checks)
    where = f"on {f.table}" if f.table else f"in {f.subject}"
    return f"checks {'failed' if failed else 'warned'} {where}"


_HEADLINES = {
    "success": lambda f: f"{f.subject} succeeded",
    "failure": lambda f: f"{f.subject} failed",
    "retry": lambda f: f"{f.subject} failed, retrying (attempt {f.attempt})",
    "missed": lambda f: f"{f.subject} missed a scheduled run",
    "check": _check_headline,
    "sla": lambda f: f"SLA breached on {f.table}" if f.table else f"SLA breached in {f.subject}",
}


def _failed_steps(run: RunResult | None) -> tuple[FailedStep, ...]:
    return _failed_steps_of(run.steps) if run is not None else ()


def _failed_steps_of(steps: list[StepResult | None]) -> tuple[FailedStep, ...]:
    out = []
    for s in steps:
        if s is None or s.status != "failed":
            continue
        error, _, hint = (s.error or "failed").partition(_HINT)
        out.append(FailedStep(s.node, s.step, redact(error), redact(hint) or None))
    return tuple(out)


def run_page(ui_url: str, run_id: str) -> str:
    """The run's page in the web UI of `medallion serve --http-port` at `ui_url` (the server's
    address as serve prints it; an address ending in /ui is taken as the UI's own)."""
    base = ui_url.rstrip("/")
    if not base.endswith("/ui"):
        base += "/ui"  # the web UI's prefix (serve/web/pages/common.py UI)
    return f"{base}/runs/{run_id}"


#: a quoted literal in an error text: DuckDB's and medallion's messages quote the data value
#: they stumbled on ('Éric Blanc'), SQL doubling a quote inside one
_QUOTED = re.compile(r"'(?:[^']|'')*'")
#: the rows an expectation with `action: fail` shows (quality/expectations.py): an indented
#: block of whole rows, bare numbers and dates included, up to a hint line
_SAMPLE_ROWS = re.compile(r"sample rows:(?:\n[ \t]+(?!hint: ).*)*")
#: a bare number an engine names as the value it stumbled on (DuckDB: "Type INT64 with value
#: 3000000000 can't be cast", medallion: "its value 1e40 is out of BIGINT's range")
_BARE_VALUE = re.compile(r"\b(values?) (-?[0-9][0-9_.,eE+-]*)")


def redact(text: str) -> str:
    """`text` without the data values it may carry: every single-quoted literal replaced by
    '…', the sample rows of a failed expectation dropped, a bare number named as a value
    replaced by …. A failing model's error may quote a row's value, of a masked column too,
    and a channel's members are not the people the `access:` policy lets read it; the full
    text stays in the run log (`medallion status`, the run's page), read under the usual
    grants."""
    text = _QUOTED.sub("'…'", text)
    text = _SAMPLE_ROWS.sub("sample rows: in the run log", text)
    return _BARE_VALUE.sub(r"\1 …", text)


def _without_sample(text: str, sample: Any) -> str:
    """A check's message without the values of its sample rows: a check lists the values it
    found (accepted_values: `2 rows with values not accepted: 7, 9`), numbers and dates bare,
    so quotes alone do not find them. Each value is removed where it stands as a whole token
    (a count that happens to equal one goes too: safe, and `failing_rows` still says it)."""
    values: set[str] = set()
    for row in sample or ():
        if not isinstance(row, dict):
            continue
        for key, value in row.items():
            if key == "n" or key.startswith("__medallion") or value is None:
                continue
            if isinstance(value, bool):
                continue  # says nothing
            if isinstance(value, str):
                # a date, timestamp or decimal the sample keeps as text (quality/checks.py
                # _jsonable) is shown bare, a timestamp with a space; a text value is quoted
                # (redact() takes it) but may stand bare too
                values.update({value, value.replace("T", " ", 1)} - {""})
            else:
                values.add(display_value(value))
    for shown in sorted(values, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.'…-]){re.escape(shown)}(?![\w.'…-])", "…", text)
    return text


def _redacted(value: Any) -> Any:
    """A detail with every text in it redacted (a retry's `error` is a step's whole error)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _total(run: RunResult | None, attr: str) -> int | None:
    if run is None:
        return None
    values = [getattr(s, attr) for s in run.steps if getattr(s, attr) is not None]
    return sum(values) if values else 0


def _checks(run: RunResult | None) -> tuple[CheckLine | None, ...]:
    if run is None:
        return ()
    return tuple(_check_line(c) for s in run.steps for c in s.checks)


def _check_line(check: Any) -> CheckLine | None:
    """A check that warned or failed (a CheckResult or its dict), None for one that passed."""
    get = check.get if isinstance(check, dict) else lambda k, d=None: getattr(check, k, d)
    status = str(get("status", "") or "")
    if status in ("", "pass"):
        return None
    return CheckLine(
        table=str(get("table", "") or ""),
        name=str(get("name", "") or ""),
        status=status,
        message=redact(_without_sample(str(get("message", "") or ""), get("sample"))),
        failing_rows=get("failing_rows"),
    )


def _plain(value: Any) -> Any:
    """A detail as JSON can carry it."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SHORT_ERROR else text[: _SHORT_ERROR - 1] + "…"
