"""Users, groups and API tokens for access control, in the state database (never in the
repository: medallion.yml says what a group may read, the state database who is in it).

A password is stored only as a SCRAM-SHA-256 verifier (governance/scram.py makes it): the
server proves a login without the password ever being kept. An API token's secret is shown
once, when it is made; only its sha256 is stored, so a stolen state database holds no usable
token. Roles are seed 000's workspace roles: admin, member and contributor read every table;
a viewer reads what the `access.grants` of its groups give. A group may carry a role too; the
highest of the user's own and its groups' roles wins.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medallion.errors import StateError

if TYPE_CHECKING:
    from medallion.state.store import StateStore

#: lowest to highest
ROLES = ("viewer", "contributor", "member", "admin")
#: roles that read every table whatever the grants say (seed 000's access matrix)
READ_ALL_ROLES = ("contributor", "member", "admin")
TOKEN_PREFIX = "mdl_"
#: the shortest password a user may be given (the CLI and the HTTP API alike)
MIN_PASSWORD_LENGTH = 8


def check_password_length(password: str) -> None:
    """StateError unless `password` is MIN_PASSWORD_LENGTH characters or more."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StateError(
            f"a password needs {MIN_PASSWORD_LENGTH} characters or more (this one has "
            f"{len(password)})",
            hint="choose a longer one, or none: the user then signs in with API tokens only",
        )


@dataclass(frozen=True)
class Identity:
    """Who is reading: a user's name, effective role and groups, and its password verifier
    (None: the user has no password and logs in with a token only)."""

    name: str
    role: str
    groups: tuple[str, ...] = ()
    verifier: str | None = field(default=None, repr=False)
    #: PostgreSQL's md5 form of the password when the user opted in for old drivers
    md5: str | None = field(default=None, repr=False)

    def is_member(self, group: str) -> bool:
        """In `group`, or `group` names the user's role (is_member('admin'))."""
        return group in self.groups or group == self.role

    @property
    def reads_everything(self) -> bool:
        return self.role in READ_ALL_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def password_stamp(self) -> str:
        """A digest of the stored password forms: it changes whenever the password is set
        (a verifier has a fresh salt) or cleared, so a session signed in with the password
        can tell that the password it proved no longer holds."""
        forms = f"{self.verifier or ''}\0{self.md5 or ''}"
        return hashlib.sha256(forms.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    user: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise StateError(
            f"role {role!r} is not one of {', '.join(ROLES)}",
            hint="admin, member and contributor read every table; a viewer reads its grants",
        )
    return role


def highest(roles: list[str]) -> str:
    return max(roles, key=ROLES.index)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Identities:
    """The users, groups and tokens of one project's state database."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    # -- users ----------------------------------------------------------------------------

    def add(
        self,
        name: str,
        role: str,
        groups: list[str],
        verifier: str | None,
        md5: str | None = None,
    ) -> Identity:
        from medallion.state.store import utcnow

        check_role(role)
        if not name or not name.strip() or any(c.isspace() for c in name):
            raise StateError(f"user name {name!r} must be one word")
        now = utcnow()
        with self.store.connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute(
                    "INSERT INTO users (name, role, verifier, md5, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (name, role, verifier, md5, now, now),
                )
                con.executemany(
                    "INSERT OR IGNORE INTO user_groups VALUES (?, ?)", [(name, g) for g in groups]
                )
                con.execute("COMMIT")
            except sqlite3.IntegrityError:
                con.rollback()
                raise StateError(
                    f"user {name!r} exists already",
                    hint=f"medallion users groups {name} / users passwd {name} change it",
                ) from None
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> Identity | None:
        """The user `name` with its effective role (the highest of its own and its groups')."""
        with self.store.connect() as con:
            row = con.execute(
                "SELECT role, verifier, md5 FROM users WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                return None
            groups = [
                r[0]
                for r in con.execute(
                    "SELECT group_name FROM user_groups WHERE user_name = ? ORDER BY group_name",
                    (name,),
                )
            ]
            roles = [row["role"]] + [
                r[0]
                for r in con.execute(
                    "SELECT g.role FROM group_roles g JOIN user_groups u"
                    " ON u.group_name = g.group_name WHERE u.user_name = ?",
                    (name,),
                )
            ]
        return Identity(name, highest(roles), tuple(groups), row["verifier"], row["md5"])

    def require(self, name: str) -> Identity:
        found = self.get(name)
        if found is None:
            known = [u.name for u in self.list()]
            raise StateError(
                f"no user {name!r}",
                hint=f"users: {', '.join(known)}" if known else "medallion users add NAME --role R",
            )
        return found

    def list(self) -> list[Identity]:
        with self.store.connect() as con:
            names = [r[0] for r in con.execute("SELECT name FROM users ORDER BY name")]
        return [u for u in (self.get(n) for n in names) if u is not None]

    def remove(self, name: str) -> None:
        self.require(name)
        with self.store.connect() as con:
            con.execute("DELETE FROM users WHERE name = ?", (name,))

    def set_verifier(self, name: str, verifier: str | None, md5: str | None = None) -> None:
        """Replace the password forms of `name`; md5 None clears the md5 opt-in."""
        from medallion.state.store import utcnow

        self.require(name)
        with self.store.connect() as con:
            con.execute(
                "UPDATE users SET verifier = ?, md5 = ?, updated_at = ? WHERE name = ?",
                (verifier, md5, utcnow(), name),
            )

    def set_role(self, name: str, role: str) -> None:
        from medallion.state.store import utcnow

        check_role(role)
        self.require(name)
        with self.store.connect() as con:
            con.execute(
                "UPDATE users SET role = ?, updated_at = ? WHERE name = ?", (role, utcnow(), name)
            )

    def change_groups(self, name: str, add: list[str], remove: list[str]) -> Identity:
        self.require(name)
        with self.store.connect() as con:
            con.executemany(
                "INSERT OR IGNORE INTO user_groups VALUES (?, ?)", [(name, g) for g in add]
            )
            con.executemany(
                "DELETE FROM user_groups WHERE user_name = ? AND group_name = ?",
                [(name, g) for g in remove],
            )
        return self.require(name)

    def set_group_role(self, group: str, role: str | None) -> None:
        """Members of `group` have at least `role` (None: the group carries no role)."""
        with self.store.connect() as con:
            if role is None:
                con.execute("DELETE FROM group_roles WHERE group_name = ?", (group,))
            else:
                check_role(role)
                con.execute(
                    "INSERT INTO group_roles VALUES (?, ?)"
                    " ON CONFLICT (group_name) DO UPDATE SET role = excluded.role",
                    (group, role),
                )

    def group_roles(self) -> dict[str, str]:
        with self.store.connect() as con:
            return {r[0]: r[1] for r in con.execute("SELECT group_name, role FROM group_roles")}

    # -- tokens ---------------------------------------------------------------------------

    def create_token(self, name: str) -> tuple[str, str]:
        """A new API token for `name`: (token id, secret). The secret is not stored (only its
        sha256): show it once."""
        from medallion.state.store import utcnow

        self.require(name)
        token_id = secrets.token_hex(4)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.connect() as con:
            con.execute(
                "INSERT INTO api_tokens (token_id, user_name, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (token_id, name, hash_secret(secret), utcnow()),
            )
        return token_id, secret

    def verify_token(self, secret: str) -> Identity | None:
        """The user whose live token `secret` is (None: unknown or revoked)."""
        from medallion.state.store import utcnow

        digest = hash_secret(secret)
        with self.store.connect() as con:
            row = con.execute(
                "SELECT token_id, user_name FROM api_tokens"
                " WHERE secret_hash = ? AND revoked_at IS NULL",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            if not self.store.read_only:
                con.execute(
                    "UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?",
                    (utcnow(), row["token_id"]),
                )
        return self.get(row["user_name"])

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        query = "SELECT token_id, user_name, created_at, last_used_at, revoked_at FROM api_tokens"
        args: tuple[str, ...] = ()
        if name is not None:
            query += " WHERE user_name = ?"
            args = (name,)
        with self.store.connect() as con:
            return [TokenInfo(*row) for row in con.execute(query + " ORDER BY created_at", args)]

    def revoke_token(self, token_id: str) -> str:
        """Revoke a token; returns its user."""
        from medallion.state.store import utcnow

        with self.store.connect() as con:
            row = con.execute(
                "SELECT user_name FROM api_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
            if row is None:
                raise StateError(f"no token {token_id!r}", hint="medallion tokens list")
            con.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (utcnow(), token_id),
            )
        return str(row[0])
