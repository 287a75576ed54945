"""The one interface between the wire server and medallion.

The server asks four things of medallion: a user's SCRAM verifier, a query's rows, the tables a
user may see (for the catalog clients probe) and where to record a login. `ProjectBackend` answers
them from the `Project` façade; nothing else in `serve/` touches the project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

    def execute(self, user: str, sql: str, session: Mapping[str, Any]) -> pa.RecordBatchReader:
        """Run one read-only statement (parameters already bound) as `user`; rows stream."""
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

    Until access control lands, reads go through the unrestricted `Project.query_reader` and
    every table is listed; `verifiers` supplies users (name -> verifier). With the governance
    façade (`Project.authenticate`, the user-aware `query_reader`, `readable_tables`,
    `audit_login`) each method below becomes its one call: see the `_governed` checks."""

    def __init__(
        self,
        project: Project,
        verifiers: Mapping[str, str] | Callable[[str], str | None] | None = None,
    ) -> None:
        self.project = project
        self._verifiers = verifiers
        self._governed = hasattr(project, "authenticate")

    @property
    def database(self) -> str:
        return self.project.config.name

    def lookup_verifier(self, user: str) -> str | None:
        if callable(self._verifiers):
            return self._verifiers(user)
        if self._verifiers is not None:
            return self._verifiers.get(user)
        if self._governed:
            identity = self.project.authenticate(user)  # type: ignore[attr-defined]
            return None if identity is None else identity.verifier
        return None

    def execute(self, user: str, sql: str, session: Mapping[str, Any]) -> pa.RecordBatchReader:
        if self._governed:
            return self.project.query_reader(  # type: ignore[call-arg]
                sql,
                None,
                user,
                client=session.get("application_name") or "pgwire",
                session=str(session.get("session_id", "")),
                source=str(session.get("peer", "")),
            )
        return self.project.query_reader(sql)

    def tables(self, user: str) -> list[TableInfo]:
        if self._governed:
            return list(self.project.readable_tables(user))  # type: ignore[attr-defined]
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
            self.project.audit_login(user, ok, peer, client)  # type: ignore[attr-defined]
