"""`type: email`: a plain-text email over SMTP (`smtplib`).

`smtp:` is one of
- `smtp://host:25` — no login; STARTTLS when the server offers it;
- `smtp://user:password@host:587` — STARTTLS when the server offers it, then a login. A
  password is never sent over a connection that did not start TLS, except to a server on this
  machine (localhost, 127.0.0.1, ::1), where nothing crosses a network: a server that offers no
  STARTTLS gets a permanent failure saying so;
- `smtps://user:password@host:465` — TLS from the first byte.
The port defaults to 25 (smtp) and 465 (smtps). A user or password holding `@`, `:` or `/` is
percent-encoded in the URL (`p%40ss`). TLS verifies the server's certificate against the
system's trust store (or the context the Notifier was given); when STARTTLS fails the message
is not sent in the clear instead.

The URL's user and password are secrets: the server is logged as `smtp://host:port`.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from medallion.orchestrate.notify.base import DeliveryError, Settings, register
from medallion.orchestrate.notify.message import Facts

_PORTS = {"smtp": 25, "smtps": 465}


def _local(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@register("email")
class EmailChannel:
    def __init__(self, name: str, target: Any, settings: Settings) -> None:
        self.name = name
        self.smtp = str(getattr(target, "smtp", "") or "")
        self.to = [str(a) for a in getattr(target, "to", None) or ()]
        self.from_ = getattr(target, "from_", None) or f"medallion@{socket.gethostname()}"
        self.settings = settings
        self.scheme = self.host = self.user = self.password = ""
        self.port = 0
        try:
            parts = urllib.parse.urlsplit(self.smtp)
            self.scheme = parts.scheme.lower()
            self.host = parts.hostname or ""
            self.port = parts.port or _PORTS.get(self.scheme, 0)
            self.user = urllib.parse.unquote(parts.username or "")
            self.password = urllib.parse.unquote(parts.password or "")
        except ValueError:
            self.host = ""  # problem() says so

    def values(self) -> Iterable[str]:
        return [self.smtp, *self.to, self.from_]

    def secrets(self) -> Iterable[str]:
        try:
            parts = urllib.parse.urlsplit(self.smtp)
            userinfo = parts.netloc.rpartition("@")[0]
        except ValueError:
            userinfo = ""
        return [userinfo, self.password, urllib.parse.quote(self.password, safe="")]

    def describe(self) -> str:
        if not self.host:
            return "(an invalid smtp URL)"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def problem(self) -> str | None:
        if self.scheme not in _PORTS:
            return "smtp must start with smtp:// or smtps:// (smtp://user:password@host:587)"
        if not self.host:
            return "smtp has no host (smtp://user:password@host:587)"
        if self.password and not self.user:
            return "smtp has a password but no user (smtp://user:password@host:587)"
        if not self.to:
            return "to has no address"
        return None

    def render(self, facts: Facts) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[medallion] {facts.headline}"
        msg["From"] = self.from_
        msg["To"] = ", ".join(self.to)
        msg["Date"] = format_datetime(datetime.now(UTC))
        domain = self.from_.rpartition("@")[2] or "medallion"
        msg["Message-ID"] = make_msgid("medallion", domain=domain)
        msg["X-Medallion-Event"] = facts.event
        if facts.run_id:
            msg["X-Medallion-Run-Id"] = facts.run_id
        body = facts.summary()[1:] or [facts.headline]
        if facts.url:
            body += ["", f"The run in medallion: {facts.url}"]
        msg.set_content("\n".join(body) + "\n")
        return msg

    def deliver(self, message: EmailMessage) -> None:
        context = self.settings.context()
        timeout = self.settings.timeout
        try:
            if self.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=timeout, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=timeout)
            with client:
                client.ehlo()
                secure = self.scheme == "smtps"
                if not secure and client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                    secure = True
                if self.user:
                    if not secure and not _local(self.host):
                        raise DeliveryError(
                            f"{self.describe()} offers no STARTTLS, and medallion does not "
                            "send a password over a connection without TLS",
                            permanent=True,
                            hint="use smtps://, a port where the server offers STARTTLS "
                            "(usually 587), or a server without login",
                        )
                    client.login(self.user, self.password)
                client.send_message(message, self.from_, self.to)
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(
                f"the server refused the login: {_answer(e)}", permanent=True
            ) from None
        except smtplib.SMTPRecipientsRefused as e:
            refused = ", ".join(f"{a} ({_answer(r)})" for a, r in e.recipients.items())
            raise DeliveryError(f"the server refused the recipients {refused}") from None
        except smtplib.SMTPResponseException as e:
            raise DeliveryError(f"the server answered {_answer(e)}") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(
                "the server offers no login (AUTH) on this connection", permanent=True
            ) from None
        except smtplib.SMTPException as e:
            raise DeliveryError(f"SMTP: {type(e).__name__}: {e}") from None
        except ssl.SSLCertVerificationError as e:
            raise DeliveryError(
                f"the server's certificate is not trusted: {e.verify_message}"
            ) from None
        except TimeoutError:
            raise DeliveryError(f"no answer within {timeout:g} s") from None
        except OSError as e:
            raise DeliveryError(e.strerror or f"{type(e).__name__}: {e}") from None


def _answer(e: Any) -> str:
    """`535 authentication failed` from an SMTP error or a (code, text) pair."""
    code, text = (e.smtp_code, e.smtp_error) if hasattr(e, "smtp_code") else e
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()
