"""The façade: one object that loads a project and does everything users ask of it.

The CLI, the tests and (later) the HTTP API call `Project` and nothing else; it owns the config,
the model graph, the catalog of Delta tables, the engine and the state database. Heavy imports
(DuckDB, Arrow, deltalake) happen inside methods, so loading the CLI stays fast.

    project = Project.load("shop")
    result = project.run(select=["+gold.sales_summary_daily"])
    table = project.query("select * from gold.sales_summary_daily")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.config import PROJECT_FILE, ProjectConfig, find_project_root, load_project_config
from medallion.errors import (
    ConfigError,
    ModelError,
    ProjectNotFoundError,
    QueryError,
    StorageError,
)
from medallion.storage.catalog import QUARANTINE_SUFFIX

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Mapping

    import pyarrow as pa

    from medallion.engine.duckdb_engine import Engine
    from medallion.models.compile import CompileResult
    from medallion.models.graph import Graph
    from medallion.models.loader import Model
    from medallion.quality.ledger import Verification
    from medallion.quality.quarantine import QuarantineTable, ReplayResult
    from medallion.quality.registry import ProjectChecks
    from medallion.runner.base import Reporter, RunResult
    from medallion.runner.lock import WriterLock
    from medallion.runner.watch import WatchEvent
    from medallion.state.store import StateStore
    from medallion.storage.catalog import Catalog


@dataclass
class TableRow:
    """One line of `medallion tables`."""

    name: str
    layer: str
    kind: str  # source | table | view | quarantine
    rows: int | None
    version: int | None
    last_written: datetime | None
    size_bytes: int | None
    partition_by: list[str]
    description: str | None = None


class Project:
    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root
        self.config = config
        #: seconds a writer command (restore, optimize, vacuum, replay) waits for the lock
        self.lock_wait = 0.0

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path = ".", env: Mapping[str, str] | None = None) -> Project:
        """Load the project whose medallion.yml is in `path` or the nearest parent folder."""
        start = Path(path)
        root = find_project_root(start)
        if root is None:
            raise ProjectNotFoundError(
                f"no {PROJECT_FILE} in {start.resolve()} or any parent folder",
                hint="cd into a medallion project, or create one: "
                "medallion init DIR --template retail",
            )
        project = cls(root, load_project_config(root, env))
        for key, folder in (("storage", project.storage_root), ("state", project.state_dir)):
            if folder.exists() and not folder.is_dir():
                raise ConfigError(
                    f"{key}: {folder} is a file, not a folder",
                    file=root / PROJECT_FILE,
                    key=key,
                    hint=f"point `{key}:` at a folder (it is created if missing)",
                )
        return project

    def _path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.root / p)

    @property
    def storage_root(self) -> Path:
        return self._path(self.config.storage)

    @property
    def state_dir(self) -> Path:
        return self._path(self.config.state)

    @property
    def models_dir(self) -> Path:
        return self._path(self.config.models)

    @cached_property
    def catalog(self) -> Catalog:
        from medallion.storage.catalog import Catalog

        return Catalog(self.storage_root, self.config.layers)

    @cached_property
    def state(self) -> StateStore:
        from medallion.state.store import StateStore

        return StateStore(self.state_dir)

    @property
    def source_tables(self) -> dict[str, str]:
        """`<landing layer>.<source>` -> source name."""
        layer = self.config.landing_layer
        return {f"{layer}.{name}": name for name in self.config.sources}

    @cached_property
    def models(self) -> dict[str, Model]:
        """Every model, loaded and validated (header, SQL syntax, table references)."""
        from medallion.models.loader import load_models

        if "models" in self.config.model_fields_set and not self.models_dir.is_dir():
            # a project may have no models (sources only), but a folder named that is missing
            # is a typo or a move: building nothing without a word would hide it
            raise ConfigError(
                f"the models folder {self.config.models!r} does not exist",
                file=self.root / PROJECT_FILE,
                key="models",
                hint=f"create {self.models_dir}, or fix `models:` in {PROJECT_FILE}",
            )
        return load_models(self.models_dir, self.config.layers, set(self.source_tables))

    @cached_property
    def lineage_graph(self) -> Graph:
        """What reads what: the DAG of sources and models from their SQL / depends_on."""
        from medallion.models.graph import Graph

        upstream: dict[str, list[str]] = {t: [] for t in self.source_tables}
        # reading a quarantine table is reading what its table's step writes
        upstream.update(
            {
                fqn: list(dict.fromkeys(d.removesuffix(QUARANTINE_SUFFIX) for d in m.depends_on))
                for fqn, m in self.models.items()
            }
        )
        try:
            return Graph(upstream, self.config.layers)
        except ModelError as e:
            first = e.message.split(": ", 1)[-1].split(" -> ")[0]
            model = self.models.get(first)
            raise ModelError(
                e.message,
                file=model.path if model else None,
                model=first,
                hint="a model cannot read (directly or through others) a table built from itself",
            ) from None

    @cached_property
    def checks(self) -> ProjectChecks:
        """Every table's checks and the singular checks, validated."""
        from medallion.quality import registry

        return registry.load(self)

    @cached_property
    def graph(self) -> Graph:
        """The run order: the lineage graph plus "a check of X reads Y" edges, so the tables a
        check compares with are built first (and a failure there skips X)."""
        from medallion.models.graph import Graph

        lineage = self.lineage_graph
        upstream = {n: list(deps) for n, deps in lineage.up.items()}
        extra = False
        for table in upstream:
            for ref in self.checks.refs(table):
                if ref not in upstream[table]:
                    upstream[table].append(ref)
                    extra = True
        if not extra:
            return lineage
        try:
            return Graph(upstream, self.config.layers)
        except ModelError as e:
            raise ModelError(
                f"the checks create a {e.message}",
                hint="a check of a table cannot read a table built from it; "
                "declare the check on the downstream table instead",
            ) from None

    def validate(self) -> None:
        """Load every model, check and the graph; raises the first problem found."""
        _ = self.graph

    def bind(self) -> dict[str, str | None]:
        """Bind every SQL model and its expectations against the lakehouse, running nothing:
        model -> None if it binds, else why it was not bound (an input never built). Raises the
        first model that does not bind (an unknown column, a type error)."""
        from medallion.runner.bind import bind_models

        return bind_models(self)

    def new_engine(self) -> Engine:
        from medallion.engine.duckdb_engine import Engine

        conf = self.config.engine
        return Engine(
            self.catalog,
            temp_dir=self.state_dir / "tmp",
            memory_limit=conf.memory_limit,
            threads=conf.threads,
        )

    # -- running --------------------------------------------------------------------------

    def writer(self, command: str, wait: float | None = None) -> WriterLock:
        """The project's writer lock (a context manager); raises LockError naming the holder if
        another process keeps it longer than `wait` seconds (default: `lock_wait`)."""
        from medallion.runner.lock import WriterLock

        return WriterLock(self.state_dir, command).acquire(self.lock_wait if wait is None else wait)

    def run(
        self,
        select: list[str] | None = None,
        *,
        full_refresh: bool | list[str] = False,
        trigger: str = "api",
        command: str | None = None,
        reporter: Reporter | None = None,
        wait: float = 0.0,
    ) -> RunResult:
        """Ingest sources and build models (all, or the selection), logging every step.

        Holds the writer lock for the whole run (waiting up to `wait` seconds for it)."""
        from medallion.runner.execute import execute_run

        self.validate()  # a broken project fails before taking the lock
        # one state-database connection for all of the run's bookkeeping
        with self.writer(command or "run", wait), self.state.session():
            return execute_run(
                self,
                select=select,
                full_refresh=full_refresh,
                trigger=trigger,
                command=command,
                reporter=reporter,
            )

    def watch(
        self,
        select: list[str] | None = None,
        *,
        interval: float = 5.0,
        max_runs: int | None = None,
        stop: threading.Event | None = None,
        command: str | None = None,
        reporter: Callable[[], Reporter | None] = lambda: None,
        on_event: Callable[[WatchEvent], None] = lambda e: None,
    ) -> list[RunResult]:
        """Continuous mode: run whenever new input lands (or the project's files change), until
        `stop` is set or `max_runs` runs happened; see medallion.runner.watch."""
        from medallion.runner.watch import watch

        return watch(
            self,
            select=select,
            interval=interval,
            max_runs=max_runs,
            stop=stop,
            command=command,
            reporter=reporter,
            on_event=on_event,
        )

    def pending_input(self, select: list[str] | None = None) -> dict[str, int | None]:
        """Sources with new input (new files per file source; None: a database or REST source
        that has or may have new rows), without running anything."""
        from medallion.runner.watch import pending_input

        return pending_input(self, select)

    def test(
        self,
        select: list[str] | None = None,
        *,
        trigger: str = "api",
        command: str | None = None,
        reporter: Reporter | None = None,
    ) -> RunResult:
        """Run the checks of the selected tables on their current data (nothing is rebuilt)."""
        from medallion.runner.checks import execute_checks

        return execute_checks(
            self, select=select, trigger=trigger, command=command, reporter=reporter
        )

    def verify(self, runs: int | None = 20) -> Verification:
        """The row ledger of recent runs against the Delta log, plus every reconciliation."""
        from medallion.quality.ledger import verify

        return verify(self, runs)

    def quarantines(self) -> list[QuarantineTable]:
        from medallion.quality import quarantine

        return quarantine.list_tables(self)

    def quarantined_rows(self, name: str, limit: int | None = None) -> pa.Table:
        from medallion.quality import quarantine

        return quarantine.rows(self, name, limit)

    def replay(self, name: str) -> ReplayResult:
        """Move quarantined rows of a model that now pass its expectations into the model."""
        from medallion.quality import quarantine
        from medallion.state.store import new_run_id

        run_id = new_run_id()
        with self.writer(f"quarantine replay {name}"):
            self.state.start_run(
                run_id, trigger="replay", command=f"quarantine replay {name}", selection=name
            )
            try:
                result = quarantine.replay(self, name, run_id)
            except BaseException as e:
                self.state.end_run(run_id, "failed", error=str(e))
                raise
            self.state.end_run(run_id, "success")
        return result

    # -- time travel and maintenance --------------------------------------------------------

    def retention_hours(self) -> dict[str, int | None]:
        """Layer -> hours of history `vacuum` keeps (None: forever)."""
        from medallion.storage.maintenance import DEFAULT_RETENTION_HOURS, retention_hours

        return {
            layer: retention_hours(self.config.retention[layer])
            if layer in self.config.retention
            else DEFAULT_RETENTION_HOURS
            for layer in self.config.layers
        }

    def table_history(
        self, name: str, limit: int | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """A table's Delta versions, newest first, with the run that wrote each."""
        from medallion.runner.maintenance import history_rows

        return history_rows(self, name, limit)

    def restore(self, name: str, to: int | datetime, command: str | None = None) -> RunResult:
        """Make a table's current content that of an earlier version (a new version)."""
        from medallion.runner import maintenance

        return maintenance.restore(self, name, to, command or f"restore {name} --to {to}")

    def optimize(
        self,
        names: list[str] | None = None,
        zorder: list[str] | None = None,
        command: str | None = None,
    ) -> RunResult:
        """Compact small files (and Z-order by columns) of the given tables, or of all."""
        from medallion.runner import maintenance

        return maintenance.optimize(self, names, zorder, command or "optimize")

    def vacuum(
        self, names: list[str] | None = None, dry_run: bool = False, command: str | None = None
    ) -> RunResult:
        """Delete files older than each layer's retention that no current version uses."""
        from medallion.runner import maintenance

        return maintenance.vacuum(self, names, dry_run, command or "vacuum")

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
        import time

        from medallion.publish import execute_publish
        from medallion.runner.base import RunResult
        from medallion.state.store import new_run_id

        if not self.config.publish:
            raise ConfigError(
                "no publish targets in medallion.yml",
                file=self.root / PROJECT_FILE,
                hint="add publish: {warehouse: {type: postgres, dsn: ..., tables: [gold.*]}}",
            )
        run_id = new_run_id()
        started = time.perf_counter()
        self.state.start_run(
            run_id, trigger="publish", command=command or "publish", selection=None
        )
        try:
            steps = execute_publish(
                self, run_id, targets=targets, tables=tables, force=force, reporter=reporter
            )
        except BaseException as e:
            self.state.end_run(run_id, "failed", error=str(e))
            raise
        failed = [s for s in steps if s.status == "failed"]
        status = "failed" if failed else "success"
        error = f"{len(failed)} table(s) not published" if failed else None
        self.state.end_run(run_id, status, error)
        result = RunResult(run_id, status, steps, time.perf_counter() - started, error)
        if reporter is not None:
            reporter.run_finished(result)  # the reasons of failed steps, and the summary
        return result

    def check_results(self, run_id: str) -> list[dict[str, Any]]:
        return self.state.check_results(run_id)

    # -- reading --------------------------------------------------------------------------

    def query_reader(
        self, sql: str, as_of: int | str | datetime | None = None
    ) -> pa.RecordBatchReader:
        """Run a read-only query over the lakehouse; results stream as Arrow batches.

        `as_of` reads the tables as they were: a version number (the query must read exactly
        one table) or a time (every table at its last version committed by then)."""
        import re

        from medallion.models.sql import is_read_only, parse_select, resolve_refs
        from medallion.runner.base import ensure_attached

        # DESCRIBE / SUMMARIZE a table or a query: checked as the SELECT they look at
        looked_at = re.fullmatch(r"\s*(?:describe|summarize)\s+(.*?)[\s;]*", sql, re.I | re.S)
        checked = sql
        if looked_at is not None:
            target = looked_at.group(1)
            is_name = re.fullmatch(r'[\w."]+', target) is not None
            checked = f"select * from {target}" if is_name else target
        tree = parse_select(checked, error=QueryError, subject="a query")
        if not is_read_only(tree):
            raise QueryError("only read-only queries (SELECT, DESCRIBE, SUMMARIZE) are allowed")
        known = set(self.catalog.tables()) | {
            fqn for fqn, m in self._models_or_empty().items() if m.kind == "view"
        }
        refs = resolve_refs(
            tree, sql=checked, layers=self.config.layers, known=known, error=QueryError
        )
        engine = self.new_engine()
        try:
            if as_of is not None:
                from medallion.runner.base import attach_as_of

                attach_as_of(self, engine, refs, as_of)
            for ref in refs:
                ensure_attached(self, engine, ref, for_model="query")
            rel = engine.con.sql(sql)
            return _closing_reader(engine.reader(rel), engine)
        except QueryError:
            engine.close()
            raise
        except Exception as e:
            engine.close()
            from medallion.engine.duckdb_engine import first_line

            raise QueryError(first_line(e), hint="the query runs on DuckDB SQL") from None

    def query(self, sql: str, as_of: int | str | datetime | None = None) -> pa.Table:
        return self.query_reader(sql, as_of).read_all()

    def _models_or_empty(self) -> dict[str, Model]:
        try:
            return self.models
        except ModelError:
            return {}

    def tables(self) -> list[TableRow]:
        """Every table in storage and every view model, with size and version."""
        from medallion.storage import delta
        from medallion.storage.catalog import QUARANTINE_SUFFIX

        models = self._models_or_empty()
        rows: list[TableRow] = []
        for fqn in self.catalog.tables():
            layer, name = fqn.split(".", 1)
            try:
                info = delta.info(self.catalog.path(fqn))
            except StorageError:
                continue
            if name.endswith(QUARANTINE_SUFFIX):
                kind = "quarantine"
            elif fqn in self.source_tables:
                kind = "source"
            elif fqn in models:
                kind = models[fqn].kind
            else:
                kind = "orphan"  # in storage, but no longer defined by the project
            model = models.get(fqn)
            description = model.config.description if model else None
            if fqn in self.source_tables:
                description = self.config.sources[self.source_tables[fqn]].description
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
        order = {layer: i for i, layer in enumerate(self.config.layers)}
        rows.sort(key=lambda r: (order.get(r.layer, 99), r.name))
        return rows

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        return self.state.runs(limit)

    def run_history(self, limit: int = 10) -> list[dict[str, Any]]:
        """Recent runs with their step counts and rows written, newest first."""
        return self.state.run_summaries(limit)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        return self.state.steps(run_id)

    def last_run(self) -> dict[str, Any] | None:
        runs = self.state.runs(1)
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

    def lineage(self, node: str | None = None) -> dict[str, Any]:
        """The DAG: for each node its kind, upstream and the other tables its checks read
        (`relationships`, `reconciliation`: built before it, as `--select +X` follows); for one
        node, its ancestors and descendants, and the tables whose checks read it."""
        g = self.lineage_graph
        checks_read = {n: [r for r in self.checks.refs(n) if r not in g.up[n]] for n in g.order}
        if node is None:
            return {
                n: {
                    "kind": self._kind(n),
                    "upstream": sorted(set(g.up[n])),
                    "checks_read": sorted(checks_read[n]),
                }
                for n in g.order
            }
        fqn = g.resolve(node)
        return {
            "node": fqn,
            "kind": self._kind(fqn),
            "upstream": [n for n in g.order if n in g.ancestors(fqn)],
            "downstream": [n for n in g.order if n in g.descendants(fqn)],
            "direct_upstream": sorted(set(g.up[fqn])),
            "direct_downstream": sorted(set(g.down.get(fqn, []))),
            "checks_read": sorted(checks_read[fqn]),
            "read_by_checks_of": [n for n in g.order if fqn in checks_read[n]],
        }

    def _kind(self, node: str) -> str:
        if node in self.source_tables:
            return "source"
        return self.models[node].kind

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


def _closing_reader(reader: pa.RecordBatchReader, engine: Engine) -> pa.RecordBatchReader:
    """A reader that closes the engine once consumed (the engine must outlive the stream)."""
    import pyarrow as pa

    def batches():
        try:
            yield from reader
        finally:
            engine.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
