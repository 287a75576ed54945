"""`type: slack`: a Slack incoming webhook (https://hooks.slack.com/services/T…/B…/…).

The message is `{"text": ...}`: the summary as plain lines (Slack's mrkdwn, its three special
characters escaped), the headline in bold and a link to the run when `scheduler.ui_url` is set.
The webhook URL is the secret: it is logged as `https://hooks.slack.com/…`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medallion.orchestrate.notify.base import Settings, register, safe_url, url_secrets
from medallion.orchestrate.notify.message import Facts
from medallion.orchestrate.notify.post import encode, post_json, url_problem


def _escape(text: str) -> str:
    """Slack's escaping: the only characters mrkdwn reserves in plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@register("slack")
class SlackChannel:
    def __init__(self, name: str, target: Any, settings: Settings) -> None:
        self.name = name
        self.url = str(getattr(target, "url", "") or "")
        self.settings = settings

    def values(self) -> Iterable[str]:
        return [self.url]

    def secrets(self) -> Iterable[str]:
        return url_secrets(self.url)

    def describe(self) -> str:
        return safe_url(self.url)

    def problem(self) -> str | None:
        return url_problem(self.url)

    def render(self, facts: Facts) -> bytes:
        headline, *rest = facts.summary()
        lines = [f"*{_escape(headline)}*", *(_escape(line) for line in rest)]
        if facts.url:
            lines.append(f"<{facts.url}|Open run {_escape(facts.run_id or '')} in medallion>")
        return encode({"text": "\n".join(lines)})

    def deliver(self, message: bytes) -> None:
        post_json(self.url, message, {}, self.settings, body_errors=True)
