"""The `pipelines:`, `notifications:` and `scheduler:` blocks of medallion.yml.

```yaml
pipelines:
  ingestion:
    select: [layer:bronze]          # the run selection syntax (default: everything)
    schedule: "0 2 * * *"           # cron (5 fields; a 6th is seconds) or @daily, @hourly, ...
    timezone: Europe/London         # default UTC
    retries: 2                      # a failed step is run again, up to 2 more times
    retry_delay: 5 minutes          # before the first retry; doubled each attempt
    retry_on: any                   # any | transient (connections, I/O, timeouts only)
    timeout: 30 minutes             # the run is stopped cleanly past it
    grace: 1 hour                   # a tick missed by less than this still runs once
    notify: [ops]
  transformation:
    select: [layer:silver, layer:gold]
    after: [ingestion]              # starts when ingestion ends
    on: success                     # success (the default) | completion (whatever its status)
notifications:
  ops:  {type: slack, url: "${SLACK_WEBHOOK_URL}", on: [failure, retry, missed]}
  team: {type: email, to: [data-team@example.com], smtp: "${SMTP_URL}", on: [success, failure]}
  hook: {type: webhook, url: "https://...", headers: {Authorization: "Bearer ${TOKEN}"}}
scheduler:
  ui_url: http://localhost:8080     # messages link to the run's page there
```

A pipeline with neither `schedule:` nor `after:` runs only when asked (`medallion pipelines run`).
An expectation with `action: fail` or a failing check is never retried: data does not change by
waiting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from medallion.config.durations import duration_seconds

#: what a notification target may be told about
EVENTS = ("success", "failure", "retry", "missed", "check", "sla")
Event = Literal["success", "failure", "retry", "missed", "check", "sla"]

#: cron shorthands croniter understands, spelled out so the error can list them
SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare `on:` key as the boolean true: take it back as 'on'."""
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


def _duration(value: object, what: str) -> float:
    try:
        seconds = duration_seconds(str(value))
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if seconds <= 0:
        raise ValueError(f"{what} must be more than 0 seconds")
    return seconds


def cron_expression(schedule: str) -> str:
    """The cron text croniter is given: a shorthand spelled out, spaces normalised."""
    text = " ".join(schedule.split())
    return SHORTHANDS.get(text.lower(), text)


class Pipeline(_Strict):
    """A named selection that runs on a clock, after another pipeline, or when asked."""

    description: str | None = None
    #: the run selection (as `medallion run --select`); empty: the whole project
    select: list[str] = Field(default_factory=list)
    schedule: str | None = None
    timezone: str = "UTC"
    after: list[str] = Field(default_factory=list)
    #: with `after:`: start when the upstream pipeline succeeded, or whatever its status
    on: Literal["success", "completion"] = "success"
    retries: int = Field(default=0, ge=0, le=20)
    retry_delay: str = "5 minutes"
    retry_on: Literal["any", "transient"] = "any"
    timeout: str | None = None
    #: a tick missed by less than this (the scheduler was down) runs once when it comes back;
    #: an older one is recorded and notified as missed
    grace: str = "1 hour"
    notify: list[str] = Field(default_factory=list)

    @field_validator("select", "after", "notify", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        if isinstance(v, str):
            return v.split() if v.strip() else []
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from croniter import croniter

        text = cron_expression(v)
        if text.startswith("@"):
            raise ValueError(
                f"schedule {v!r}: unknown shorthand; use one of {', '.join(SHORTHANDS)} "
                "or a cron expression like '0 2 * * *'"
            )
        fields = text.split()
        if len(fields) not in (5, 6) or not croniter.is_valid(text):
            raise ValueError(
                f"schedule {v!r} is not a cron expression: five fields (minute hour "
                "day-of-month month day-of-week, e.g. '0 2 * * *' for 02:00 daily), a sixth "
                "for seconds, or a shorthand like @daily"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {v!r} is not an IANA time zone name (like UTC, Europe/London, "
                "America/New_York)"
            ) from None
        return v

    @field_validator("retry_delay", "grace")
    @classmethod
    def _durations(cls, v: str, info: Any) -> str:
        _duration(v, info.field_name)
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: str | None) -> str | None:
        if v is not None:
            _duration(v, "timeout")
        return v

    @property
    def cron(self) -> str | None:
        return cron_expression(self.schedule) if self.schedule else None

    @property
    def retry_delay_s(self) -> float:
        return duration_seconds(self.retry_delay)

    @property
    def timeout_s(self) -> float | None:
        return duration_seconds(self.timeout) if self.timeout else None

    @property
    def grace_s(self) -> float:
        return duration_seconds(self.grace)


def _listed(v: object) -> object:
    """`on: failure` as `on: [failure]`."""
    return [v] if isinstance(v, str) else v


class _Target(_Strict):
    #: the events this target hears
    on: Annotated[list[Event], BeforeValidator(_listed)] = Field(
        default_factory=lambda: ["failure", "missed", "sla"]
    )


class SlackTarget(_Target):
    """A Slack incoming webhook (https://hooks.slack.com/services/...)."""

    type: Literal["slack"] = "slack"
    url: str


class WebhookTarget(_Target):
    """A JSON POST of the event to any URL."""

    type: Literal["webhook"] = "webhook"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class EmailTarget(_Target):
    """Email over SMTP: `smtp` is smtp://user:password@host:587 (STARTTLS when the server offers
    it), smtps://... (TLS from the start) or smtp://host:25 (no login)."""

    type: Literal["email"] = "email"
    to: Annotated[list[str], BeforeValidator(_listed)]
    smtp: str
    from_: str | None = Field(default=None, alias="from")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("to needs at least one address")
        for a in v:
            if "@" not in a:
                raise ValueError(f"{a!r} is not an email address")
        return v


def _target_kind(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("type", ""))
    return str(getattr(value, "type", ""))


NotificationTarget = Annotated[
    Annotated[SlackTarget, Tag("slack")]
    | Annotated[WebhookTarget, Tag("webhook")]
    | Annotated[EmailTarget, Tag("email")],
    Discriminator(_target_kind),
]


class SchedulerConfig(_Strict):
    """How `medallion scheduler` behaves for this project."""

    #: the web UI's address: messages link to a run's page there
    ui_url: str | None = None
    #: how often freshness SLAs are checked
    sla_interval: str = "5 minutes"

    @field_validator("sla_interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        _duration(v, "sla_interval")
        return v

    @property
    def sla_interval_s(self) -> float:
        return duration_seconds(self.sla_interval)


def sla_seconds(value: str | None) -> float | None:
    """A table's `sla:` ('26 hours') in seconds, checked when the file is loaded."""
    return None if value is None else _duration(value, "sla")


def _sla(value: str | None) -> str | None:
    sla_seconds(value)
    return value


#: a freshness promise on a source or model ('26 hours'): the table gets new rows at least this
#: often; `medallion scheduler` notifies when it is breached
Sla = Annotated[str | None, AfterValidator(_sla)]


def check_pipelines(
    pipelines: dict[str, Pipeline], notifications: dict[str, Any]
) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-references: `after:` names a pipeline, `notify:` a notification, and `after:`
    has no cycle. Returns (location, message) pairs."""
    errors: list[tuple[tuple[Any, ...], str]] = []
    for name, p in pipelines.items():
        for i, up in enumerate(p.after):
            if up not in pipelines:
                errors.append(
                    (
                        ("pipelines", name, "after", i),
                        f"after names {up!r}, which is not a "
                        f"pipeline (pipelines: {', '.join(sorted(pipelines)) or 'none'})",
                    )
                )
            elif up == name:
                errors.append(
                    (("pipelines", name, "after", i), f"pipeline {name!r} cannot follow itself")
                )
        for i, target in enumerate(p.notify):
            if target not in notifications:
                errors.append(
                    (
                        ("pipelines", name, "notify", i),
                        f"notify names {target!r}, which is not "
                        f"under notifications: ({', '.join(sorted(notifications)) or 'none'})",
                    )
                )
    if errors:
        return errors
    # a cycle through after: would never start
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> list[str] | None:
        state[n] = 1
        for up in pipelines[n].after:
            if state.get(up) == 1:
                return [*path, n, up]
            if up not in state and (cycle := visit(up, [*path, n])):
                return cycle
        state[n] = 2
        return None

    for n in pipelines:
        if n not in state and (cycle := visit(n, [])):
            start = cycle.index(cycle[-1])
            loop = " -> ".join(cycle[start:])
            return [
                (
                    ("pipelines", cycle[-1], "after"),
                    f"pipelines follow each other in a circle: {loop}",
                )
            ]
    return errors


def refuse_bad_references(pipelines: dict[str, Pipeline], notifications: dict[str, Any]) -> None:
    """check_pipelines' problems as one ValidationError that keeps each location (raised from
    a validator it is not flattened), so the message points at the pipeline's `after:` or
    `notify:` line and names the pipeline, not the top of the file."""
    errors = check_pipelines(pipelines, notifications)
    if errors:
        raise ValidationError.from_exception_data(
            "ProjectConfig",
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "pipeline_reference", "{message}", {"message": message}
                    ),
                    loc=loc,
                    input=None,
                )
                for loc, message in errors
            ],
        )
