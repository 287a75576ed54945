"""The `serve:` block of medallion.yml: where `medallion serve` listens and the limits of a
statement, for everyone and per role.

```yaml
serve:
  host: 127.0.0.1
  sql_port: 5433
  http_port: 8080                # the HTTP API (and UI); none (the default): no HTTP
  statement_timeout: 5 minutes   # a duration; none: no limit (the default)
  max_rows: 1000000              # most rows one statement returns; 0: no cap (the default)
  roles:                         # per role (admin | member | contributor | viewer)
    viewer: {statement_timeout: 30 seconds, max_rows: 10000}
    admin: {statement_timeout: none, max_rows: 0}
  trust: [ops]                   # these users log in without a password from 127.0.0.1/::1
```

A role's value replaces the block's own for users of that role (their effective role, the
highest of their groups'); what a role leaves out is the block's. `medallion serve`'s flags
replace the file's values for every role.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medallion.config.durations import duration_seconds

Role = Literal["admin", "member", "contributor", "viewer"]
_NO_LIMIT = ("none", "0", "off", "unlimited")


class Limits(NamedTuple):
    """One user's limits: seconds a statement may run, rows it may return (None: none)."""

    statement_timeout: float | None
    max_rows: int | None


def _timeout(value: object) -> str | None:
    """'30 seconds' (checked now, so the error names its line) or none."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in _NO_LIMIT:
        return "none"
    seconds = duration_seconds(text)  # ValueError: the loader says the line and the key
    if seconds <= 0:
        raise ValueError(f"statement_timeout {text!r} must be longer than 0 (none: no limit)")
    return text


class RoleLimits(BaseModel):
    """A role's own limits; a key left out is the serve: block's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    statement_timeout: str | None = None
    max_rows: int | None = Field(default=None, ge=0)

    @field_validator("statement_timeout", mode="before")
    @classmethod
    def _check_timeout(cls, v: object) -> str | None:
        return _timeout(v)


class ServeConfig(BaseModel):
    """`medallion serve`: the address of its SQL endpoint and the limits of a statement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    sql_port: int = Field(default=5433, ge=0, le=65535)
    #: the HTTP API's port (`medallion serve --http-port`); None: no HTTP server
    http_port: int | None = Field(default=None, ge=0, le=65535)
    #: how long a statement may run (a duration: '30 seconds', '5 minutes'); none: no limit
    statement_timeout: str | None = None
    #: most rows one statement may return, a larger result is an error; 0: no cap
    max_rows: int = Field(default=0, ge=0)
    roles: dict[Role, RoleLimits] = Field(default_factory=dict)
    #: users who log in without a password, and only from loopback (127.0.0.1, ::1): from any
    #: other address they need their password. Empty (the default): nobody is trusted.
    trust: list[str] = Field(default_factory=list)

    @field_validator("statement_timeout", mode="before")
    @classmethod
    def _check_timeout(cls, v: object) -> str | None:
        return _timeout(v)

    def limits(self, role: str) -> Limits:
        """The limits of a user whose effective role is `role`."""
        own = self.roles.get(role)  # type: ignore[call-overload]
        timeout = self.statement_timeout
        rows = self.max_rows
        if own is not None:
            timeout = own.statement_timeout if own.statement_timeout is not None else timeout
            rows = own.max_rows if own.max_rows is not None else rows
        seconds = None if timeout in (None, "none") else duration_seconds(timeout)
        return Limits(seconds, rows or None)
