"""`type: webhook`: the notice as a JSON object, POSTed to any URL with the configured headers.

The payload's keys are stable (docs/notifications.md has an example); `id` is the same for
every retry of one message, so a receiver can drop a duplicate. Header values (tokens) and the
URL's path and query are secrets: never logged, and an error answer's body is not quoted (an
endpoint may echo the request, headers and all).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medallion.orchestrate.notify.base import Settings, register, safe_url, url_secrets
from medallion.orchestrate.notify.message import Facts
from medallion.orchestrate.notify.post import encode, post_json, url_problem


@register("webhook")
class WebhookChannel:
    def __init__(self, name: str, target: Any, settings: Settings) -> None:
        self.name = name
        self.url = str(getattr(target, "url", "") or "")
        self.headers = {str(k): str(v) for k, v in (getattr(target, "headers", None) or {}).items()}
        self.settings = settings

    def values(self) -> Iterable[str]:
        return [self.url, *self.headers.values()]

    def secrets(self) -> Iterable[str]:
        out = url_secrets(self.url)
        for value in self.headers.values():
            # `Bearer abc123`: the whole value and each word of it past the scheme
            out += [value, *value.split()[1:]]
        return out

    def describe(self) -> str:
        return safe_url(self.url)

    def problem(self) -> str | None:
        return url_problem(self.url)

    def render(self, facts: Facts) -> bytes:
        return encode(facts.to_dict())

    def deliver(self, message: bytes) -> None:
        post_json(self.url, message, self.headers, self.settings, body_errors=False)
