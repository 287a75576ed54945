"""POST a JSON body over HTTP(S) with the standard library, failures as safe DeliveryErrors.

Redirects are not followed: a webhook that answers 3xx is misconfigured (a POST turned into a
GET elsewhere would look delivered and be lost), so it is a failed delivery naming the status.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from medallion import __version__
from medallion.orchestrate.notify.base import DeliveryError, Settings


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")


def post_json(
    url: str, body: bytes, headers: Mapping[str, str], settings: Settings, *, body_errors: bool
) -> None:
    """POST `body` (JSON) to `url`; raise DeliveryError unless the answer is 2xx.

    `body_errors`: put the start of an error answer in the message (Slack answers with a short
    code like `invalid_token`; a generic endpoint might echo the request, headers and all)."""
    request_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"medallion/{__version__}",
        **headers,
    }
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=settings.context())
    )
    try:
        request = urllib.request.Request(url, data=body, headers=request_headers, method="POST")
        with opener.open(request, timeout=settings.timeout) as response:
            response.read()
    except urllib.error.HTTPError as e:
        text = f"HTTP {e.code} {e.reason}".rstrip()
        if body_errors:
            answer = _first_line(e)
            if answer:
                text += f": {answer}"
        if 300 <= e.code < 400:
            text += " (a redirect, which medallion does not follow: configure the final URL)"
        raise DeliveryError(text) from None
    except urllib.error.URLError as e:
        raise DeliveryError(_reason(e.reason, settings.timeout)) from None
    except TimeoutError:
        raise DeliveryError(f"no answer within {settings.timeout:g} s") from None
    except (OSError, http.client.HTTPException) as e:
        raise DeliveryError(_reason(e, settings.timeout)) from None
    except ValueError:
        # urllib and http.client put the offending URL or header value in the text
        raise DeliveryError(
            "the URL or a header is not valid (a header value may not hold a line break)",
            permanent=True,
        ) from None


def _first_line(e: urllib.error.HTTPError) -> str:
    try:
        raw = e.read(200)
    except OSError:
        return ""
    return raw.decode("utf-8", "replace").strip().splitlines()[0][:120] if raw.strip() else ""


def _reason(reason: object, timeout: float) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted: {reason.verify_message}"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def url_problem(url: str) -> str | None:
    """Why `url` cannot be posted to (not http(s), no host), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "url must start with https:// (or http://)"
    if not host:
        return "url has no host"
    return None
