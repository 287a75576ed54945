"""What a notification is, what a channel must do to deliver one, and the registry by `type`.

A `Notice` is what the scheduler says happened (a run failed, a tick was missed, an SLA was
breached). Each target under `notifications:` in medallion.yml becomes a `Channel` of its
`type` (slack.py, webhook.py, email.py: a new type is a new file that registers itself here),
which renders the notice into its own message and delivers it. The `Notifier` (notifier.py)
decides who hears what and retries.

Secrets: a channel names the strings that must never be logged (`secrets()`), and says where it
delivers in a form safe to log (`describe()`: a URL's scheme and host only). Every line the
notifier logs about a channel passes through `scrub` with that channel's secrets, so even an
unexpected library message cannot leak a webhook token or a password.
"""

from __future__ import annotations

import re
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from medallion.errors import MedallionError

if TYPE_CHECKING:
    from medallion.orchestrate.notify.message import Facts
    from medallion.state.records import RunResult, StepResult

#: what a target can listen to (`on:`), as medallion.yml spells them
EVENTS = ("success", "failure", "retry", "missed", "check", "sla")


@dataclass
class Notice:
    """One thing the scheduler tells the targets of a pipeline about.

    `event`: success | failure | retry | missed | check | sla. `targets`: the names under
    `notifications:` to tell (each still filters by its `on:`). `run`: the run it is about
    (None for a missed tick or an SLA breach). `table`: the table an SLA or a check is about.
    `details`: anything else worth showing (an SLA's age, the checks of a `check` event as
    CheckResults or dicts). `step`: for a `retry`, the step that failed and runs again."""

    event: str
    targets: Sequence[str] = ()
    pipeline: str | None = None
    run: RunResult | None = None
    trigger: str | None = None
    attempt: int = 1
    scheduled_for: datetime | None = None
    message: str = ""
    table: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    #: a `retry` told before its run ends (RunControl.on_retry): the step that failed
    step: StepResult | None = None


class DeliveryError(MedallionError):
    """A message could not be delivered. Its text is safe to log: no URL path, header value,
    user or password. `permanent`: trying again cannot help (the configuration must change)."""

    def __init__(self, message: str, *, permanent: bool = False, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.permanent = permanent


@dataclass(frozen=True)
class Settings:
    """What every channel is given besides its target."""

    #: seconds a connection or a response may take
    timeout: float = 10.0
    #: trusts the servers' certificates (https, smtps, STARTTLS); verification is never off
    ssl_context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()


class Channel(Protocol):
    """One configured target, ready to deliver. Built from the target object of medallion.yml
    (duck-typed: `type`, `on` and the type's own keys); building one never raises."""

    name: str

    def values(self) -> Iterable[str]:
        """The target's strings that may hold a `${VAR}` (left as written when it is unset)."""
        ...

    def secrets(self) -> Iterable[str]:
        """Strings that must never appear in a log line (URL paths, header values, passwords)."""
        ...

    def describe(self) -> str:
        """Where the messages go, safe to log (`https://hooks.slack.com/…`)."""
        ...

    def problem(self) -> str | None:
        """A configuration no delivery can succeed with (a URL that is not http), or None."""
        ...

    def render(self, facts: Facts) -> Any:
        """The message, rendered once: every retry sends the same."""
        ...

    def deliver(self, message: Any) -> None:
        """Send it; raise DeliveryError (with safe text) when it did not arrive."""
        ...


ChannelType = Callable[[str, Any, Settings], Channel]

#: channel types by the `type:` of a target
CHANNELS: dict[str, ChannelType] = {}


def register(type_name: str) -> Callable[[ChannelType], ChannelType]:
    """Class decorator: the channel for targets of `type: <type_name>`."""

    def add(cls: ChannelType) -> ChannelType:
        CHANNELS[type_name] = cls
        return cls

    return add


# what the loader leaves in a lazy section when the variable is unset: ${VAR} (a default,
# ${VAR:-x}, is always resolved, so only the bare form can remain)
_UNSET_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unset_variables(values: Iterable[str]) -> list[str]:
    """The `${VAR}` names still written in `values`, in order, once each."""
    names: list[str] = []
    for value in values:
        for name in _UNSET_RE.findall(value or ""):
            if name not in names:
                names.append(name)
    return names


def safe_url(url: str) -> str:
    """A URL as it may be logged: scheme, host and port, never user, password, path or query
    (a Slack webhook's path is its secret)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an invalid URL)"
    if not parts.scheme or not host:
        return "(an invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    where = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return where + ("/…" if parts.path.strip("/") or parts.query else "")


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that are secret: its user and password, its path and query (raw and
    decoded). Scheme, host and port are not: they are what a log line shows."""
    try:
        parts = urllib.parse.urlsplit(url)
        out = [parts.netloc.rpartition("@")[0], parts.username or "", parts.password or ""]
    except ValueError:
        return [url]  # not a URL at all: keep the whole of it out of the logs
    for part in (parts.path, parts.query):
        if part.strip("/"):
            out += [part, part.strip("/")]
    return out + [urllib.parse.unquote(s) for s in out]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (longest first) replaced by '…'. Strings under three characters
    are left alone: they would blank out ordinary words and say nothing about a secret."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "…")
    return text
