"""The one interface between the wire server and medallion.

The server asks eight things of medallion: a login exchange for a user, a user's limits
(statement timeout, row cap), a query's rows, the tables a user may see (for the catalog
clients probe), a private engine for that catalog and whether it is still current, and where
to record a login or a statement it refused itself. `ProjectBackend` answers them from the
`Project` façade with the project's users, read policy and access audit; nothing else in
`serve/` touches the project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from medallion.errors import AccessDeniedError
from medallion.serve.live import LiveProject

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.project import Interrupt, LoginExchange, Project

#: (schema, table, [(column, arrow type)]): one table as the catalog shows it
TableInfo = tuple[str, str, list[tuple[str, "pa.DataType"]]]


class Backend(Protocol):
    @property
    def database(self) -> str:
        """The database name clients must give (the project's name)."""
        ...

    def login_exchange(self, user: str, secret: bytes, peer: str) -> LoginExchange:
        """The server side of a login as `user` from address `peer` (SCRAM-SHA-256, md5 for a
        user who opted in, trust when configured for loopback); an unknown user's exchange
        (derived from `secret`) fails like a wrong password."""
        ...

    def limits(self, user: str) -> tuple[float | None, int | None]:
        """`user`'s statement timeout (seconds) and row cap; None: no limit."""
        ...

    def execute(
        self,
        user: str,
        sql: str,
        params: Sequence[Any],
        session: Mapping[str, Any],
        interrupt: Interrupt | None = None,
    ) -> pa.RecordBatchReader:
        """Run one read-only statement as `user`, `params` filling its $1, $2...; rows
        stream. `session` has the client's settings (application_name), `peer`, `session_id`.
        Pressing `interrupt` (from another thread) stops the statement inside the engine."""
        ...

    def signals_any(self, user: str) -> bool:
        """Whether `user` may cancel any session's statement, not only their own (an admin,
        as PostgreSQL's pg_signal_backend)."""
        ...

    def tables(self, user: str) -> Sequence[TableInfo]:
        """The tables `user` may read, with their columns, for the catalog."""
        ...

    def new_session_engine(self) -> Any:
        """A private in-memory SQL engine for a session's catalog (a façade Engine)."""
        ...

    def catalog_stamp(self) -> object:
        """What a session's catalog was built from: a different stamp means the project was
        loaded again (an edit), and the catalog is built anew."""
        ...

    def log_login(
        self,
        user: str,
        ok: bool,
        peer: str,
        client: str,
        method: str = "SCRAM-SHA-256",
        error: str | None = None,
    ) -> None:
        """Record a login (`error`: why a failed one failed; default: a wrong password)."""
        ...

    def log_refused(self, user: str, sql: str, error: str, session: Mapping[str, Any]) -> None:
        """Record a statement the endpoint itself refused (a write) as a denied query."""
        ...


class ProjectBackend:
    """The Backend of a real project: its users (state database), its `access:` policy (grants,
    masks, row filters, enforced by the façade's user-aware `query_reader`) and its audit.
    Every call answers from the project as its files are now (`LiveProject`): an edit of
    `access:` applies to the next login or statement, of every session."""

    def __init__(self, project: Project | LiveProject) -> None:
        self.live = project if isinstance(project, LiveProject) else LiveProject(project)

    @property
    def project(self) -> Project:
        return self.live.current()

    @property
    def database(self) -> str:
        return self.project.config.name

    def _identity(
        self, project: Project, user: str, stamp: str | None = None
    ) -> Any:  # an Identity (through the façade)
        """`user` as the project knows them now; `stamp`: the password_stamp the session's login
        proved, which must still hold (a password set or cleared since ends what it allowed,
        as it signs a web session out)."""
        identity = project.authenticate(user)
        if identity is None:  # removed since the login
            raise AccessDeniedError(f"user {user} no longer exists")
        if stamp is not None and identity.password_stamp != stamp:
            raise AccessDeniedError(
                f"the password of {user} changed since this session signed in",
                hint="connect again with the new password",
            )
        return identity

    def login_exchange(self, user: str, secret: bytes, peer: str) -> LoginExchange:
        return self.project.login_exchange(user, secret, peer)

    def limits(self, user: str) -> tuple[float | None, int | None]:
        # medallion.yml's serve: block, its roles: entry for the user's effective role first
        project = self.project
        return project.config.serve.limits(self._identity(project, user).role)

    def execute(
        self,
        user: str,
        sql: str,
        params: Sequence[Any],
        session: Mapping[str, Any],
        interrupt: Interrupt | None = None,
    ) -> pa.RecordBatchReader:
        project = self.project  # one look at the files per statement
        return project.query_reader(
            sql,
            None,
            self._identity(project, user, session.get("password_stamp")),
            service="sql",
            client=session.get("application_name") or None,
            session=session.get("session_id"),
            source=session.get("peer"),
            params=list(params) or None,
            interrupt=interrupt,
        )

    def signals_any(self, user: str) -> bool:
        project = self.project
        return bool(self._identity(project, user).is_admin)

    def tables(self, user: str) -> list[TableInfo]:
        project = self.project
        listed = project.readable_tables(self._identity(project, user))
        return [(*t["name"].split(".", 1), list(t["columns"])) for t in listed]

    def new_session_engine(self) -> Any:
        return self.project.read_engine()

    def catalog_stamp(self) -> object:
        self.live.current()  # an edit is seen here, as by a statement
        return self.live.generation

    def log_login(
        self,
        user: str,
        ok: bool,
        peer: str,
        client: str,
        method: str = "SCRAM-SHA-256",
        error: str | None = None,
    ) -> None:
        self.project.audit_login(
            user,
            ok,
            peer,
            client or None,
            service="sql",
            error=None if ok else (error or "password authentication failed"),
            method=method,
        )

    def log_refused(self, user: str, sql: str, error: str, session: Mapping[str, Any]) -> None:
        self.project.audit_refused(
            user,
            sql,
            error,
            service="sql",
            client=session.get("application_name") or None,
            session=session.get("session_id"),
            source=session.get("peer"),
        )
