"""The façade: what users (the CLI, the server, tests) ask of a project, each a few lines.

`Project` holds a `Workspace` (the loaded project: config, models, checks, graph, catalog, state,
engines) and wires the runner, the writer lock and the read path for each verb. Nothing below
this module imports it: the layers beneath receive the Workspace. Heavy imports (DuckDB, Arrow,
deltalake) happen inside methods, so loading the CLI stays fast.

    project = Project.load("shop")
    result = project.run(select=["+gold.sales_summary_daily"])
    table = project.query("select * from gold.sales_summary_daily")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.config import PROJECT_FILE
from medallion.engine.base import Interrupt  # faces make a query's stop button from here
from medallion.errors import ConfigError, MedallionError
from medallion.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    import pyarrow as pa

    from medallion.config import ProjectConfig
    from medallion.engine.attach import ReadPolicy
    from medallion.engine.base import Engine
    from medallion.governance.audit import AuditLog
    from medallion.models.checks import ProjectChecks
    from medallion.models.compile import CompileResult
    from medallion.models.graph import Graph
    from medallion.models.loader import Model
    from medallion.onboard.dbt.report import DbtImport
    from medallion.onboard.files import InitFromResult
    from medallion.quality.ledger import Verification
    from medallion.quality.quarantine import QuarantineTable, ReplayResult
    from medallion.runner.lock import WriterLock
    from medallion.state.identities import Identities, Identity, TokenInfo
    from medallion.state.records import Reporter, RunControl, RunPlan, RunResult
    from medallion.state.schedule import ScheduleLog
    from medallion.state.store import StateStore
    from medallion.storage.catalog import Catalog


@dataclass
class TableRow:
    """One line of `medallion tables`."""

    name: str
    layer: str
    kind: str  # source | table | view | quarantine | unreadable (description: why)
    rows: int | None
    version: int | None
    last_written: datetime | None
    size_bytes: int | None
    partition_by: list[str]
    description: str | None = None


@dataclass(frozen=True)
class LoginExchange:
    """One login exchange as a server runs it. `mechanism` SCRAM-SHA-256: announce it, answer
    the client's first message with `server_first(data)`, its final one with
    `server_final(data)`. `md5` (a user who opted in): send `salt`, check the client's password
    message with `server_final(data)`. `trust` (configured, from loopback): no password.
    `stamp`: the user's `password_stamp` when a password is proved (a session checks it holds)."""

    mechanism: str
    server_first: Callable[[bytes], str]
    server_final: Callable[[bytes], str]
    salt: bytes = b""
    stamp: str | None = None


def _no_step(_data: bytes) -> str:
    """A step a trust or md5 login does not have."""
    return ""


class Project:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._audit: AuditLog | None = None
        #: seconds a writer command (restore, optimize, vacuum, replay) waits for the lock
        self.lock_wait = 0.0

    @classmethod
    def load(
        cls,
        path: str | Path = ".",
        env: Mapping[str, str] | None = None,
        *,
        policy: ReadPolicy | None = None,
        environment: str | None = None,
    ) -> Project:
        """Load the project whose medallion.yml is in `path` or the nearest parent folder.
        `policy` decides which tables may be read (default: all); `environment` names an
        overlay under `environments:` (default: $MEDALLION_ENV, else none)."""
        return cls(Workspace.load(path, env, policy=policy, environment=environment))

    def reload(self) -> Project:
        """The project as its files are now (a new snapshot; this one is unchanged). Its own
        folder's medallion.yml only: one moved away for a moment (a checkout, an editor's save)
        must not make a server or scheduler take a parent folder's project instead."""
        if not (self.root / PROJECT_FILE).exists():
            raise ConfigError(f"{PROJECT_FILE} not found", file=self.root / PROJECT_FILE)
        project = Project(
            Workspace.load(
                self.root, policy=self.workspace.policy, environment=self.config.environment
            )
        )
        project.lock_wait = self.lock_wait
        if project.state_dir == self.state_dir:
            # one audit buffer per state folder: two would commit to its table side by side
            project._audit = self._audit
        return project

    # -- what the project is ---------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.workspace.root

    @property
    def config(self) -> ProjectConfig:
        return self.workspace.config

    @property
    def storage_root(self) -> Path:
        return self.workspace.storage_root

    @property
    def state_dir(self) -> Path:
        return self.workspace.state_dir

    @property
    def models_dir(self) -> Path:
        return self.workspace.models_dir

    @property
    def catalog(self) -> Catalog:
        return self.workspace.catalog

    @property
    def state(self) -> StateStore:
        return self.workspace.state

    @property
    def source_tables(self) -> dict[str, str]:
        return self.workspace.source_tables

    @property
    def models(self) -> dict[str, Model]:
        return self.workspace.models

    @property
    def lineage_graph(self) -> Graph:
        return self.workspace.lineage_graph

    @property
    def checks(self) -> ProjectChecks:
        return self.workspace.checks

    @property
    def graph(self) -> Graph:
        return self.workspace.graph

    def kind(self, node: str) -> str:
        """`source`, or the model's kind."""
        return self.workspace.kind(node)

    def new_engine(self) -> Engine:
        return self.workspace.new_engine()

    def read_engine(self) -> Engine:
        """The engine of a person's queries: DuckDB whatever `engine:` says (see Workspace)."""
        return self.workspace.read_engine()

    def validate(self) -> None:
        """Load every model, check and the graph, and resolve every pipeline's selection;
        raises the first problem found."""
        from medallion.errors import MedallionError

        self.workspace.validate()
        for name, pipeline in self.config.pipelines.items():
            try:
                self.graph.select(pipeline.select)
            except MedallionError as e:
                raise ConfigError(
                    f"pipeline {name}: select {' '.join(pipeline.select)!r}: {e.message}",
                    file=self.root / PROJECT_FILE,
                    key=f"pipelines.{name}.select",
                    hint=e.hint,
                ) from None

    def unmatched_sources(self) -> dict[str, MedallionError]:
        """File sources whose path matches no file (a run would fail them): source -> why."""
        from medallion.runner.pending import unmatched_sources

        return unmatched_sources(self.workspace)

    def bind(self, warnings: list[MedallionError] | None = None) -> dict[str, str | None]:
        """Bind every SQL model and its expectations against the lakehouse, running nothing:
        model -> None if it binds, else why it was not bound (an input never built). Raises the
        first model that does not bind (an unknown column, a type error); with `warnings`, a
        column that files not ingested yet may bring is added there instead."""
        from medallion.runner.bind import bind_models

        return bind_models(self.workspace, warnings)

    # -- running ----------------------------------------------------------------------------

    def writer(self, command: str, wait: float | None = None) -> WriterLock:
        """The project's writer lock (a context manager); raises LockError naming the holder if
        another process keeps it longer than `wait` seconds (default: `lock_wait`)."""
        from medallion.runner.lock import WriterLock

        return WriterLock(self.state_dir, command, lakehouse=self.storage_root).acquire(
            self.lock_wait if wait is None else wait
        )

    def run(
        self,
        select: list[str] | None = None,
        *,
        full_refresh: bool | list[str] = False,
        trigger: str = "api",
        command: str | None = None,
        reporter: Reporter | None = None,
        wait: float = 0.0,
        yes: bool | Collection[str] = False,
        allow_missing_files: bool = False,
        control: RunControl | None = None,
    ) -> RunResult:
        """Ingest sources and build models (all, or the selection), logging every step; then,
        if the run succeeded, publish what it built to the targets that publish after runs.

        A changed model is rebuilt with what depends on it (see `plan`); unless `yes` (True, or
        the tables the user confirmed), a rebuild that would leave fewer than half of a table's
        rows, or drop an scd2 table's closed versions, fails its step, writing nothing. A
        full refresh of a file source whose landing folder lacks files bronze holds rows of
        fails, unless `allow_missing_files` (their rows are then deleted).
        Holds the writer lock for the whole run (waiting up to `wait` seconds for it).
        `control`: a pipeline's retries and timeout, a stop event (see RunControl)."""
        from medallion.publish import publish
        from medallion.runner.execute import execute
        from medallion.runner.plan import plan_run
        from medallion.state.runlog import RunLog

        ws = self.workspace
        ws.validate()  # a broken project fails before taking the lock
        ws.catalog.check_writable()  # so does a storage folder this user may not write
        ws.check_engine()  # and an engine that cannot start (no Java, a cluster unreachable)
        # one state-database connection for all of the run's bookkeeping
        with self.writer(command or "run", wait), ws.state.session():
            plan = plan_run(ws, select, full_refresh)
            selection = " ".join(select or []) or None
            with RunLog(
                ws.state,
                trigger=trigger,
                command=command or "run",
                selection=selection,
                reporter=reporter,
                control=control,
            ) as log:
                execute(ws, plan, log, confirmed=yes, allow_missing_files=allow_missing_files)
                if ws.config.publish and log.ok and not log.cut_short:
                    publish(ws, log, tables=plan.nodes, only_after_run=True)
                return log.finish()

    def plan(
        self,
        select: list[str] | None = None,
        *,
        full_refresh: bool | list[str] = False,
        count_rows: bool = True,
    ) -> RunPlan:
        """What `run` would do now, without doing it: per source its new input, per model
        whether its table is up to date, gets new rows, or is rebuilt and why (a changed model
        with its diff). Reads the Delta logs and the landing folders (and, with `count_rows`,
        the files an incremental input's rewrites touched, to count the rows really new or
        changed)."""
        from medallion.runner.plan import plan_run
        from medallion.runner.preview import preview

        ws = self.workspace
        ws.validate()
        return preview(ws, plan_run(ws, select, full_refresh, count_rows=count_rows))

    def pending_input(self, select: list[str] | None = None) -> dict[str, int | None]:
        """Sources with new input (new files per file source; None: a database or REST source
        that has or may have new rows), without running anything."""
        from medallion.runner.pending import pending_input

        return pending_input(self.workspace, select)

    def test(
        self,
        select: list[str] | None = None,
        *,
        trigger: str = "api",
        command: str | None = None,
        reporter: Reporter | None = None,
    ) -> RunResult:
        """Run the checks of the selected tables on their current data (nothing is rebuilt)."""
        from medallion.runner.plan import plan_test
        from medallion.runner.test import execute_test
        from medallion.state.runlog import RunLog

        ws = self.workspace
        plan = plan_test(ws, select)
        selection = " ".join(select or []) or None
        with RunLog(
            ws.state,
            trigger=trigger,
            command=command or "test",
            selection=selection,
            reporter=reporter,
            kind="test",
        ) as log:
            execute_test(ws, plan, log)
            return log.finish("{n} check step(s) failed: {nodes}")

    def verify(self, runs: int | None = 20) -> Verification:
        """The row ledger of recent runs against the Delta log, plus every reconciliation."""
        from medallion.quality.ledger import verify

        return verify(self.workspace, runs)

    def quarantines(self) -> list[QuarantineTable]:
        from medallion.quality import quarantine

        return quarantine.list_tables(self.workspace)

    def quarantined_rows(self, name: str, limit: int | None = None) -> pa.Table:
        from medallion.quality import quarantine

        return quarantine.rows(self.workspace, name, limit)

    def replay(self, name: str) -> ReplayResult:
        """Move quarantined rows of a model that now pass its expectations into the model."""
        from medallion.quality import quarantine
        from medallion.state.runlog import RunLog

        command = f"quarantine replay {name}"
        with (
            self.writer(command),
            RunLog(
                self.state, trigger="replay", command=command, selection=name, kind="replay"
            ) as log,
        ):
            result = quarantine.replay(self.workspace, name, log.run_id)
            log.finish()
        return result

    # -- time travel and maintenance --------------------------------------------------------

    def retention_hours(self) -> dict[str, int | None]:
        """Layer -> hours of history `vacuum` keeps (None: forever)."""
        return self.workspace.retention_hours()

    def resolve_table(self, name: str) -> str:
        """A stored table from `layer.name`, a bare name, or a quarantine table's name."""
        from medallion.runner.maintenance import resolve_table

        return resolve_table(self.workspace, name)

    @staticmethod
    def parse_as_of(value: int | str | datetime, option: str = "--as-of") -> int | datetime:
        """A version number (`3`, `v3`) or a time (ISO; local time without a zone)."""
        from medallion.engine.attach import parse_as_of

        return parse_as_of(value, option)

    def table_history(
        self, name: str, limit: int | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """A table's Delta versions, newest first, with the run that wrote each."""
        from medallion.runner.maintenance import history_rows

        return history_rows(self.workspace, name, limit)

    def restore(self, name: str, to: int | datetime, command: str | None = None) -> RunResult:
        """Make a table's current content that of an earlier version (a new version)."""
        from medallion.runner import maintenance

        return maintenance.restore(
            self.workspace, name, to, command or f"restore {name} --to {to}", self.lock_wait
        )

    def optimize(
        self,
        names: list[str] | None = None,
        zorder: list[str] | None = None,
        command: str | None = None,
    ) -> RunResult:
        """Compact small files (and Z-order by columns) of the given tables, or of all."""
        from medallion.runner import maintenance

        return maintenance.optimize(
            self.workspace, names, zorder, command or "optimize", self.lock_wait
        )

    def vacuum(
        self, names: list[str] | None = None, dry_run: bool = False, command: str | None = None
    ) -> RunResult:
        """Delete files older than each layer's retention that no current version uses."""
        from medallion.runner import maintenance

        return maintenance.vacuum(
            self.workspace, names, dry_run, command or "vacuum", self.lock_wait
        )

    def orphans_named(self, names: list[str]) -> list[str]:
        """The orphan tables `names` name (no model or source defines them any more), with
        their quarantine tables: what `drop` removes; SelectionError for a defined table."""
        from medallion.runner import maintenance

        return maintenance.orphans_named(self.workspace, names)

    def drop(self, names: list[str], command: str | None = None) -> RunResult:
        """Remove orphan tables from storage, every version (a logged run, under the writer
        lock); a table the project defines is refused. Audited as table_drop."""
        from medallion.runner import maintenance

        tables = self.orphans_named(names)
        result = maintenance.drop(self.workspace, names, command or "drop", self.lock_wait)
        self.audit_change(
            "table_drop",
            {"tables": tables, "run_id": result.run_id},
            status="ok" if result.ok else "error",
        )
        return result

    def checkpoints(self) -> list[dict[str, Any]]:
        """What each source and model has consumed (a mirror of their Delta commits)."""
        return self.state.checkpoints()

    def reset(self, name: str) -> str:
        """Forget a source's or model's checkpoint: its next run rebuilds it from all input."""
        node = self.graph.resolve(name)
        self.state.request_reset(node)
        if node in self.source_tables:
            self.state.forget_source(self.source_tables[node])
        return node

    def publish(
        self,
        targets: list[str] | None = None,
        tables: list[str] | None = None,
        *,
        force: bool = False,
        command: str | None = None,
        reporter: Reporter | None = None,
    ) -> RunResult:
        """Copy tables to the publish targets now (all, or the named ones), as a logged run.
        A table version already published to a target is skipped unless `force`."""
        from medallion.publish import publish
        from medallion.state.runlog import RunLog

        if not self.config.publish:
            raise ConfigError(
                "no publish targets in medallion.yml",
                file=self.root / PROJECT_FILE,
                hint="add publish: {warehouse: {type: postgres, dsn: ..., tables: [gold.*]}}",
            )
        with RunLog(
            self.state,
            trigger="publish",
            command=command or "publish",
            reporter=reporter,
            kind="publish",
        ) as log:
            publish(self.workspace, log, targets=targets, tables=tables, force=force)
            return log.finish("{n} table(s) not published")

    def publish_grants(self, targets: list[str] | None = None) -> str:
        """The SQL publishing sets `access:` up with in the targets, for review (not applied)."""
        from medallion.publish import grants_sql

        return grants_sql(self.workspace, targets)

    def check_results(self, run_id: str) -> list[dict[str, Any]]:
        return self.state.check_results(run_id)

    # -- reading --------------------------------------------------------------------------

    def query_reader(
        self,
        sql: str,
        as_of: int | str | datetime | None = None,
        user: Identity | None = None,
        *,
        service: str = "cli",
        client: str | None = None,
        session: str | None = None,
        source: str | None = None,
        params: Sequence[object] | None = None,
        interrupt: Interrupt | None = None,
    ) -> pa.RecordBatchReader:
        """Run a read-only query over the lakehouse; results stream as Arrow batches.

        `as_of` reads the tables as they were: a version number (the query must read exactly
        one table) or a time (every table at its last version committed by then).

        `user` None reads as the project (unrestricted, as pipelines do). With a user (from
        `authenticate` or `verify_token`) the query is theirs: one SELECT over the tables their
        grants allow (AccessDeniedError otherwise), masks and row filters applied (at every
        version), audited in system.access_audit with `service` (cli | sql | http), `client`
        (application name), `session` and `source` (client address); the audit row is
        written when the stream has been read to its end (rows counted) or failed. `params`
        (a user's query only) fill $1, $2 (or ?) as literals after the statement is checked:
        a parameter is a value, never SQL. `interrupt` (an `Interrupt` the caller keeps)
        stops the query inside the engine when pressed from another thread: the read then
        fails with a QueryError, as it would have at that point."""
        from medallion.governance.read import Context
        from medallion.runner.query import query_reader

        context = Context(service, client, session, source)
        audit = self.audit_log if user is not None else None
        return query_reader(
            self.workspace,
            sql,
            as_of,
            user=user,
            audit=audit,
            context=context,
            params=params,
            interrupt=interrupt,
        )

    def query(
        self,
        sql: str,
        as_of: int | str | datetime | None = None,
        user: Identity | None = None,
    ) -> pa.Table:
        return self.query_reader(sql, as_of, user).read_all()

    # -- access control (identities in the state database, policy in medallion.yml) --------

    @property
    def identities(self) -> Identities:
        from medallion.state.identities import Identities

        return Identities(self.state)

    @property
    def audit_log(self) -> AuditLog:
        """The project's access audit (one per Project: events are batched in it)."""
        if self._audit is None:
            from medallion.governance.audit import AuditLog

            self._audit = AuditLog(self.workspace.state_dir)
        return self._audit

    def authenticate(self, name: str) -> Identity | None:
        """The user `name` — effective role, groups, and SCRAM-SHA-256 `verifier` (None: the
        user has no password) — or None when there is no such user. The server runs the
        exchange with `login_exchange` and reports the outcome with `audit_login`."""
        return self.identities.get(name)

    def login_exchange(self, name: str, secret: bytes, peer: str | None = None) -> LoginExchange:
        """The server side of a login as `name` from address `peer`: trust when serve.trust
        names the user and `peer` is loopback (127.0.0.1, ::1), md5 when the user opted in
        (`users add|passwd --md5`), else SCRAM-SHA-256. For an unknown user or one without a
        password the SCRAM exchange runs over a verifier derived from `name` and the server's
        `secret` and fails like a wrong password, so a client cannot tell them apart.
        `server_final` raises errors.ScramError when the login fails (as does this method
        when the stored verifier is unreadable)."""
        import secrets as _secrets

        from medallion.governance.scram import (
            MD5_SALT_BYTES,
            MECHANISM,
            ScramServer,
            check_md5,
            mock_verifier,
        )

        identity = self.identities.get(name)
        # only an exact loopback address: a trusted name from any other host needs a password
        trusted = name in self.config.serve.trust and peer in ("127.0.0.1", "::1")
        if identity is not None and trusted:
            return LoginExchange("trust", _no_step, _no_step)
        if identity is not None and identity.md5 is not None:
            salt = _secrets.token_bytes(MD5_SALT_BYTES)
            stored = identity.md5

            def final(answer: bytes) -> str:
                check_md5(stored, salt, answer)
                return ""

            return LoginExchange("md5", _no_step, final, salt, identity.password_stamp)
        if identity is None or identity.verifier is None:
            server = ScramServer(mock_verifier(name, secret), mock=True)
            return LoginExchange(MECHANISM, server.server_first, server.server_final)
        server = ScramServer(identity.verifier)
        return LoginExchange(
            MECHANISM, server.server_first, server.server_final, stamp=identity.password_stamp
        )

    def verify_token(self, secret: str) -> Identity | None:
        """The user an API token belongs to (None: unknown or revoked token)."""
        return self.identities.verify_token(secret)

    def check_password(self, name: str, password: str, secret: bytes) -> Identity | None:
        """The user `name` when `password` is theirs (HTTP Basic: checked against the SCRAM
        verifier); None for a wrong password, an unknown user or one without a password. An
        unknown name costs the same work (a verifier derived from `secret`, the server's), so
        the answer's timing does not tell which names exist."""
        from medallion.governance.scram import check_password, mock_verifier

        identity = self.identities.get(name)
        if identity is None or identity.verifier is None:
            check_password(mock_verifier(name, secret), password)
            return None
        return identity if check_password(identity.verifier, password) else None

    def may_read(self, user: Identity, table: str) -> bool:
        """Whether `user`'s role and grants let them read `table` (`layer.name`, a quarantine
        table, a system table such as system.runs), as the read policy decides it (an orphan
        table, whose model is gone, only admins)."""
        from medallion.governance.read import policy_of

        return policy_of(self.workspace, user).readable(table)

    @staticmethod
    def role_at_least(user: Identity, role: str) -> bool:
        """Whether `user`'s effective role is `role` or higher (viewer < contributor < member
        < admin)."""
        from medallion.state.identities import ROLES

        return ROLES.index(user.role) >= ROLES.index(role)

    def readable_tables(self, user: Identity) -> list[dict[str, Any]]:
        """What a catalog listing may show `user`: one dict per table or view they may read,
        `{"name": "layer.table", "columns": [(column, pyarrow type), ...], "view": bool}`, the
        columns as the user sees them (a hashed column is text). System tables included when
        the user's role reads them."""
        from medallion.governance.read import readable_tables

        return readable_tables(self.workspace, user, self.audit_log)

    def audit_login(
        self,
        name: str,
        ok: bool,
        source: str | None = None,
        client: str | None = None,
        *,
        session: str | None = None,
        service: str = "sql",
        error: str | None = None,
        method: str | None = None,
    ) -> None:
        """Record a login attempt (ok or failed, with why, and by which `method`: SCRAM-SHA-256,
        md5, trust, token) in the access audit."""
        self.audit_log.record(
            user=name,
            action="login",
            status="ok" if ok else "failed",
            service=service,
            request={"method": method} if method else None,
            error=error,
            source=source,
            client=client,
            session=session,
        )

    def audit_refused(
        self,
        name: str,
        statement: str,
        error: str,
        *,
        service: str = "sql",
        client: str | None = None,
        session: str | None = None,
        source: str | None = None,
    ) -> None:
        """Record a statement a server refused before it reached the read path (a write
        through the SQL endpoint) as a denied query, like those the read policy refuses."""
        self.audit_log.record(
            user=name,
            action="query",
            status="denied",
            service=service,
            request={"statement": statement},
            error=error,
            source=source,
            client=client,
            session=session,
        )

    def audit_change(
        self,
        action: str,
        request: dict[str, Any],
        service: str = "cli",
        *,
        status: str = "ok",
        error: str | None = None,
    ) -> None:
        """Record a user, group, token or grant change, made by this OS user (`status`
        refused or denied, with the reason in `error`, for a request that was not carried
        out)."""
        import getpass

        self.audit_log.record(
            user=getpass.getuser(),
            action=action,
            status=status,
            service=service,
            request=request,
            error=error,
        )
        self.audit_log.flush()

    def add_user(
        self,
        name: str,
        role: str,
        groups: list[str],
        password: str | None = None,
        *,
        md5: bool = False,
    ) -> Identity:
        """`md5`: also keep PostgreSQL's md5 form, so old drivers can log in (opt-in). A
        password has MIN_PASSWORD_LENGTH characters or more (StateError)."""
        from medallion.governance.scram import make_md5, make_verifier
        from medallion.state.identities import check_password_length

        if password is not None:
            check_password_length(password)
        verifier = make_verifier(password) if password else None
        md5_form = make_md5(password, name) if password and md5 else None
        user = self.identities.add(name, role, groups, verifier, md5_form)
        self.audit_change(
            "user_add", {"name": name, "role": role, "groups": groups, "md5": bool(md5_form)}
        )
        return user

    def remove_user(self, name: str) -> None:
        self.identities.remove(name)
        self.audit_change("user_remove", {"name": name})

    def set_password(self, name: str, password: str | None, *, md5: bool = False) -> None:
        """A new password (None: none); without `md5` the md5 opt-in is cleared. The user's
        UI sessions signed in with the old password end at their next request (they hold the
        old `password_stamp`); API tokens are separate credentials and stay valid."""
        from medallion.governance.scram import make_md5, make_verifier
        from medallion.state.identities import check_password_length

        if password is not None:
            check_password_length(password)
        self.identities.set_verifier(
            name,
            make_verifier(password) if password else None,
            make_md5(password, name) if password and md5 else None,
        )
        # what happened, never the secret
        self.audit_change(
            "user_passwd",
            {
                "name": name,
                "password": "set" if password else "cleared",
                "md5": bool(password and md5),
                "sessions_ended": True,
            },
        )

    def change_groups(
        self, name: str, add: list[str], remove: list[str], role: str | None = None
    ) -> Identity:
        if role is not None:
            self.identities.set_role(name, role)
        user = self.identities.change_groups(name, add, remove)
        self.audit_change("user_groups", {"name": name, "add": add, "remove": remove, "role": role})
        return user

    def set_group_role(self, group: str, role: str | None) -> None:
        self.identities.set_group_role(group, role)
        self.audit_change("group_role", {"group": group, "role": role})

    def create_token(self, name: str) -> tuple[str, str]:
        """A new API token of `name`: (token id, secret); the secret is shown once."""
        token = self.identities.create_token(name)
        self.audit_change("token_create", {"name": name, "token_id": token[0]})
        return token

    def revoke_token(self, token_id: str) -> str:
        user = self.identities.revoke_token(token_id)
        self.audit_change("token_revoke", {"name": user, "token_id": token_id})
        return user

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        return self.identities.tokens(name)

    def audit(self, user: str | None = None, since: datetime | None = None) -> pa.Table:
        """The access audit's rows, oldest first (of one user, since a time)."""
        return self.audit_log.read(user, since)

    def access_warnings(self) -> list[str]:
        """Masked columns that flow unmasked into a column a viewer may read (lineage);
        ConfigError first when `access:` names a table or column that does not exist."""
        from medallion.governance.lineage import unmasked_flows
        from medallion.governance.read import check_policy

        check_policy(self.workspace)
        return unmasked_flows(self.workspace)

    def preview(self, table: str, limit: int = 5) -> pa.Table:
        """The first `limit` rows of a table or view (read like any query)."""

        from medallion.sqltree import render, select_star
        from medallion.sqltree import table as table_ref

        return self.query(render(select_star(table_ref(table)).limit(limit)))

    def row_count(self, table: str) -> int:
        """How many rows a table or view has (a view's are counted by running it)."""
        import sqlglot.expressions as exp

        from medallion.sqltree import render
        from medallion.sqltree import table as table_ref

        query = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(table_ref(table))
        return int(self.query(render(query)).column("n")[0].as_py())

    def tables(self, user: Identity | None = None) -> list[TableRow]:
        """Every table in storage and every view model, with size and version; with `user`,
        only those the user may read."""
        if user is not None:
            from medallion.governance.read import policy_of

            readable = policy_of(self.workspace, user).readable
            return [r for r in self.tables() if readable(f"{r.layer}.{r.name}")]
        from medallion.config.names import is_quarantine
        from medallion.errors import StorageError
        from medallion.storage import tables

        ws = self.workspace
        models = ws.models_or_empty()
        rows: list[TableRow] = []
        for fqn in ws.catalog.tables():
            layer, name = fqn.split(".", 1)
            try:
                info = tables.info(ws.catalog.path(fqn))
            except StorageError as e:  # listed, with why it cannot be read: never hidden
                rows.append(TableRow(name, layer, "unreadable", None, None, None, None, [], str(e)))
                continue
            if is_quarantine(fqn):
                kind = "quarantine"
            elif fqn in ws.source_tables:
                kind = "source"
            elif fqn in models:
                kind = models[fqn].kind
            else:
                kind = "orphan"  # in storage, but no longer defined by the project
            model = models.get(fqn)
            description = model.config.description if model else None
            if fqn in ws.source_tables:
                description = ws.config.sources[ws.source_tables[fqn]].description
            rows.append(
                TableRow(
                    name=name,
                    layer=layer,
                    kind=kind,
                    rows=info.rows,
                    version=info.version,
                    last_written=info.last_written,
                    size_bytes=info.size_bytes,
                    partition_by=info.partition_by,
                    description=description,
                )
            )
        for m in models.values():
            if m.kind == "view":
                rows.append(
                    TableRow(
                        m.name, m.layer, "view", None, None, None, None, [], m.config.description
                    )
                )
        order = {layer: i for i, layer in enumerate(ws.config.layers)}
        rows.sort(key=lambda r: (order.get(r.layer, 99), r.name))
        return rows

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        return self.state.runs(limit)

    def run_history(self, limit: int = 10) -> list[dict[str, Any]]:
        """Recent runs with their step counts and rows written, newest first."""
        return self.state.run_summaries(limit)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        return self.state.steps(run_id)

    def last_run(self, kind: str | None = None) -> dict[str, Any] | None:
        """The latest run; with `kind`, the latest of that kind ("run": ingest and build,
        "test", "publish", ...)."""
        runs = self.state.runs(1, kind)
        return runs[0] if runs else None

    def compile(
        self, dialect: str, select: list[str] | None = None, output: Path | None = None
    ) -> CompileResult:
        """Write the selected SQL models (all by default) transpiled to `dialect` into
        `output` (default target/compiled/<dialect>); raises CompileError listing every model
        the dialect cannot express, and then writes nothing."""
        from medallion.models.compile import compile_models

        graph = self.graph
        order = graph.select(select) if select else graph.order
        return compile_models(
            self.models,
            order,
            dialect,
            output or self.root / "target" / "compiled" / dialect,
            self.root,
        )

    def lineage_node(self, table: str) -> str:
        """The lineage node `table` belongs to: itself, or for a quarantine table the table whose
        rows it holds (quarantine tables are not nodes of the graph)."""
        from medallion.config.names import owner

        return owner(table)

    def lineage(self, node: str | None = None, user: Identity | None = None) -> dict[str, Any]:
        """The DAG: for each node its kind, upstream and the other tables its checks read
        (`relationships`, `reconciliation`: built before it, as `--select +X` follows); for one
        node, its ancestors and descendants, and the tables whose checks read it. With `user`,
        only the tables that user may read appear (AccessDeniedError for `node` itself)."""
        if user is not None:
            from medallion.config.names import is_quarantine, owner
            from medallion.errors import SelectionError
            from medallion.governance.read import visible_lineage

            try:
                whole = self.lineage(node)
            except SelectionError:
                # not the resolver's message: its suggestions name tables the user may not read.
                # Nothing is hidden by saying so: a node that exists but is not the user's to
                # read is refused (403) below, not reported missing
                if node and is_quarantine(node):
                    raise SelectionError(
                        f"{node} is a quarantine table: the lineage shows the table it belongs "
                        f"to, {owner(node)}",
                        hint=f"look up {owner(node)} in the lineage",
                    ) from None
                raise SelectionError(
                    f"{node!r} is not in the lineage: no source or model of that name",
                    hint="`medallion lineage` (or GET /api/v1/lineage) lists the tables you "
                    "may read",
                ) from None
            return visible_lineage(self.workspace, user, whole, node)
        g = self.lineage_graph
        checks_read = {n: [r for r in self.checks.refs(n) if r not in g.up[n]] for n in g.order}
        if node is None:
            return {
                n: {
                    "kind": self.kind(n),
                    "upstream": sorted(set(g.up[n])),
                    "checks_read": sorted(checks_read[n]),
                }
                for n in g.order
            }
        fqn = g.resolve(node)
        return {
            "node": fqn,
            "kind": self.kind(fqn),
            "upstream": [n for n in g.order if n in g.ancestors(fqn)],
            "downstream": [n for n in g.order if n in g.descendants(fqn)],
            "direct_upstream": sorted(set(g.up[fqn])),
            "direct_downstream": sorted(set(g.down.get(fqn, []))),
            "checks_read": sorted(checks_read[fqn]),
            "read_by_checks_of": [n for n in g.order if fqn in checks_read[n]],
        }

    # -- pipelines (medallion scheduler) ----------------------------------------------------

    def schedule_log(self) -> ScheduleLog:
        """The scheduler's records: ticks, paused pipelines, SLA breaches."""
        from medallion.state.schedule import ScheduleLog

        return ScheduleLog(self.state)

    def scheduler_lock(self) -> WriterLock:
        """One scheduler per project: raises LockError naming the running one."""
        from medallion.runner.lock import WriterLock

        return WriterLock(
            self.state_dir,
            "scheduler",
            file="scheduler.lock",
            what="a medallion scheduler is already running for this project",
            hint="stop it first (it exits cleanly on SIGTERM or Ctrl-C); one scheduler runs "
            "every pipeline of a project",
        ).acquire(0)

    def slas(self) -> dict[str, float]:
        """Tables with a freshness SLA (`sla:` on a source or in a model's header): table ->
        seconds it may go without new rows."""
        from medallion.config.durations import duration_seconds

        ws = self.workspace
        out: dict[str, float] = {}
        for fqn, source in ws.source_tables.items():
            sla = ws.config.sources[source].sla
            if sla:
                out[fqn] = duration_seconds(sla)
        for fqn, model in ws.models.items():
            if model.config.sla:
                out[fqn] = duration_seconds(model.config.sla)
        return out

    # -- data generation ------------------------------------------------------------------

    def generate(
        self, rows: int | None = None, seed: int | None = None, day: int | None = None
    ) -> dict[str, int]:
        """Regenerate the template's data files under data/ at the given scale; with `day`,
        add that day's file drop instead."""
        from medallion.templates import get_template

        if not self.config.template:
            from medallion.errors import TemplateError

            raise TemplateError(
                "this project has no `template:` in medallion.yml, so there is no generator",
                file=self.root / PROJECT_FILE,
                hint="generate applies to projects created by `medallion init --template NAME`",
            )
        return get_template(self.config.template).generate(self.root, rows=rows, seed=seed, day=day)


# -- a project from what a user already has ------------------------------------------------------


def init_from(dest: Path, source: str) -> InitFromResult:
    """`medallion init DEST --from SOURCE`: a new project (DEST new or empty) whose sources,
    silver staging models and checks are inferred from SOURCE: a folder of CSV, JSON and
    Parquet files, or a postgresql:// or mysql:// DSN (its tables). The result says what was
    inferred and why."""
    from medallion.onboard.files import init_from as infer_and_write

    return infer_and_write(dest, source)


def import_dbt(
    path: str | Path,
    dest: str | Path,
    *,
    layers: list[str] | dict[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> DbtImport:
    """`medallion import dbt`: the dbt project in `path` written as a medallion project in
    `dest` (a new folder). `layers` maps dbt folders to layers (`marts=gold`), `variables`
    overrides the dbt vars. Returns the import's report (tables, notes, TODOs, whether the new
    project loads: the import parses each model and loads the project as validate does)."""
    from medallion.onboard.dbt import import_project

    return import_project(
        Path(path), Path(dest), layer_mapping=layers or {}, variables=dict(variables or {})
    )
