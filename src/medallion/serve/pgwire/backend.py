"""The one interface between the wire server and medallion.

The server asks four things of medallion: a user's SCRAM verifier, a query's rows, the tables a
user may see (for the catalog clients probe) and where to record a login. `ProjectBackend` answers
them from the `Project` façade; nothing else in `serve/` touches the project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.project import Project

#: (schema, table, [(column, arrow type)]): one table as the catalog shows it
TableInfo = tuple[str, str, list[tuple[str, "pa.DataType"]]]


class Backend(Protocol):
    @property
    def database(self) -> str:
        """The database name clients must give (the project's name)."""
        ...

    def lookup_verifier(self, user: str) -> str | None:
        """The user's SCRAM-SHA-256 verifier, None for an unknown user."""
        ...

    def execute(
        self, user: str, sql: str, params: Sequence[Any], session: Mapping[str, Any]
    ) -> pa.RecordBatchReader:
        """Run one read-only statement as `user`, `params` filling its $1, $2...; rows
        stream. `session` has the client's settings (application_name), `peer`, `session_id`."""
        ...

    def tables(self, user: str) -> Sequence[TableInfo]:
        """The tables `user` may read, with their columns, for the catalog."""
        ...

    def new_session_engine(self) -> Any:
        """A private in-memory SQL engine for a session's catalog (a façade Engine)."""
        ...

    def log_login(self, user: str, ok: bool, peer: str, client: str) -> None: ...


class ProjectBackend:
    """The Backend of a real project.

    With access control (the façade's `authenticate`, `readable_tables`, `audit_login` and the
    user-aware `query_reader`), users, their reads and their logins are the project's: the
    `_governed` branches. Without it (or when `verifiers` is given: name -> SCRAM verifier, as
    the tests and benchmarks do) every table is readable through the unrestricted read path."""

    def __init__(
        self,
        project: Project,
        verifiers: Mapping[str, str] | None = None,
    ) -> None:
        self.project = project
        self._verifiers = verifiers
        self._governed = verifiers is None and hasattr(project, "authenticate")

    @property
    def database(self) -> str:
        return self.project.config.name

    def _identity(self, user: str) -> Any:
        from medallion.errors import AccessDeniedError

        identity = self.project.authenticate(user)  # type: ignore[attr-defined]
        if identity is None:  # removed since the login
            raise AccessDeniedError(f"user {user} no longer exists")
        return identity

    def lookup_verifier(self, user: str) -> str | None:
        if not self._governed:
            return (self._verifiers or {}).get(user)
        identity = self.project.authenticate(user)  # type: ignore[attr-defined]
        return None if identity is None else identity.verifier

    def execute(
        self, user: str, sql: str, params: Sequence[Any], session: Mapping[str, Any]
    ) -> pa.RecordBatchReader:
        if self._governed:
            return self.project.query_reader(  # type: ignore[call-arg]
                sql,
                None,
                self._identity(user),
                service="sql",
                client=session.get("application_name") or None,
                session=session.get("session_id"),
                source=session.get("peer"),
                params=list(params) or None,
            )
        from medallion.serve.pgwire.statements import bind

        return self.project.query_reader(bind(sql, list(params), "duckdb"))

    def tables(self, user: str) -> list[TableInfo]:
        if self._governed:
            listed = self.project.readable_tables(self._identity(user))  # type: ignore[attr-defined]
            return [(*t["name"].split(".", 1), list(t["columns"])) for t in listed]
        out: list[TableInfo] = []
        for row in self.project.tables():
            if row.kind == "unreadable":
                continue
            fqn = f"{row.layer}.{row.name}"
            try:
                schema = self.project.preview(fqn, 0).schema
            except Exception:  # a view that does not bind now is left out of the catalog
                continue
            out.append((row.layer, row.name, [(f.name, f.type) for f in schema]))
        return out

    def new_session_engine(self) -> Any:
        return self.project.new_engine()

    def log_login(self, user: str, ok: bool, peer: str, client: str) -> None:
        if self._governed:
            self.project.audit_login(  # type: ignore[attr-defined]
                user,
                ok,
                peer,
                client or None,
                service="sql",
                error=None if ok else "password authentication failed",
            )
