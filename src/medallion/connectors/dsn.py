"""Connection strings carry passwords: every message shows them masked."""

from __future__ import annotations

import re

# user:password@ up to the last '@' of the authority: an unescaped '@' in the password (which
# should be written %40) must not leave the rest of the password shown
_PASSWORD_RE = re.compile(r"(://[^:/@]+:)([^/?#]*)(@)")


def mask(dsn: str) -> str:
    """The DSN with its password replaced by ***."""
    masked = _PASSWORD_RE.sub(r"\1***\3", dsn)
    return re.sub(r"(password=)\S+", r"\1***", masked)
