"""The loaded project: what every part of medallion below the façade works on.

A `Workspace` holds the project's root and paths, its validated configuration, its models, checks
and graph (loaded lazily, once), and handles on what it owns: the catalog of Delta tables, the
state database and a factory of engines. It is a snapshot: edits to the project's files are seen
by a new Workspace (`Project.reload()`), never half-way through a command.

The runner, the builds, ingestion, publishing and the quality code receive a Workspace (at the
level of one step, a `StepContext` holding it) — never the `Project` façade, which only the CLI,
the server and tests use.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.config import PROJECT_FILE, ProjectConfig, find_project_root, load_project_config
from medallion.config.names import owner
from medallion.errors import ConfigError, ModelError, ProjectNotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from medallion.engine.attach import Lakehouse, ReadPolicy
    from medallion.engine.base import Engine
    from medallion.models.checks import ProjectChecks
    from medallion.models.graph import Graph
    from medallion.models.loader import Model
    from medallion.state.store import StateStore
    from medallion.storage.catalog import Catalog
    from medallion.storage.location import Where


class Workspace:
    def __init__(
        self, root: Path, config: ProjectConfig, *, policy: ReadPolicy | None = None
    ) -> None:
        from medallion.engine.attach import AllowAll

        self.root = root
        self.config = config
        #: who may read which table (every read attaches through medallion.engine.attach)
        self.policy: ReadPolicy = policy or AllowAll()

    @classmethod
    def load(
        cls,
        path: str | Path = ".",
        env: Mapping[str, str] | None = None,
        *,
        policy: ReadPolicy | None = None,
        environment: str | None = None,
    ) -> Workspace:
        """The project whose medallion.yml is in `path` or the nearest parent folder, with
        the overlay of `environment` (else $MEDALLION_ENV) when one is named."""
        start = Path(path)
        root = find_project_root(start)
        if root is None:
            raise ProjectNotFoundError(
                f"no {PROJECT_FILE} in {start.resolve()} or any parent folder",
                hint="cd into a medallion project, or create one: "
                "medallion init DIR --template retail",
            )
        ws = cls(root, load_project_config(root, env, environment), policy=policy)
        for key, folder in (("storage", ws.storage_root), ("state", ws.state_dir)):
            if isinstance(folder, Path) and folder.exists() and not folder.is_dir():
                raise ConfigError(
                    f"{key}: {folder} is a file, not a folder",
                    file=root / PROJECT_FILE,
                    key=key,
                    hint=f"point `{key}:` at a folder (it is created if missing)",
                )
        return ws

    # -- paths ------------------------------------------------------------------------------

    def _path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.root / p)

    @cached_property
    def storage_root(self) -> Where:
        """The lakehouse's root: a folder, or a Location on an object store."""
        from medallion.storage.location import locate

        return locate(
            self.config.storage,
            self.root,
            self.config.storage_options,
            file=self.root / PROJECT_FILE,
        )

    @property
    def state_dir(self) -> Path:
        return self._path(self.config.state)

    @property
    def models_dir(self) -> Path:
        return self._path(self.config.models)

    @property
    def tmp_dir(self) -> Path:
        """Spill files of sorts, joins and quarantined rows."""
        return self.state_dir / "tmp"

    # -- what the project owns ------------------------------------------------------------------

    @cached_property
    def catalog(self) -> Catalog:
        from medallion.storage.catalog import Catalog

        return Catalog(self.storage_root, self.config.layers)

    @cached_property
    def state(self) -> StateStore:
        from medallion.state.store import StateStore

        return StateStore(self.state_dir)

    def new_engine(self) -> Engine:
        """An engine of the project's `engine:` type (DuckDB unless it says spark)."""
        from medallion.engine.factory import new_engine

        return new_engine(self.catalog, self.config.engine, self.tmp_dir)

    def check_engine(self) -> None:
        """Raise the ConfigError of an engine that cannot start here (a dependency missing, a
        cluster unreachable), before anything is started or recorded."""
        from medallion.engine.factory import check_environment

        check_environment(self.config.engine)

    def read_engine(self) -> Engine:
        """An engine for a person's queries (`medallion query`, the SQL endpoint, the HTTP API,
        the UI): embedded DuckDB whatever `engine:` builds the tables with. The reads are
        governed by an allowlist of DuckDB's SQL (governance.allowlist); on Spark a query could
        call reflect()/java_method() and read the server's environment, secrets included."""
        from medallion.engine.factory import new_engine

        engine = self.config.engine
        if engine.type != "duckdb":
            engine = type(engine)(
                type="duckdb", memory_limit=engine.memory_limit, threads=engine.threads
            )
        return new_engine(self.catalog, engine, self.tmp_dir)

    def use_engine(self, kind: str) -> None:
        """Run on `kind` (duckdb, spark) whatever medallion.yml says (`--engine`); the Spark
        settings of medallion.yml (master, conf) apply when it names Spark too."""
        engine = self.config.engine
        if engine.type != kind:
            engine = type(engine)(
                type=kind, memory_limit=engine.memory_limit, threads=engine.threads
            )
        self.config = self.config.model_copy(update={"engine": engine})
        self.__dict__.pop("models", None)  # loaded for another engine

    @property
    def lakehouse(self) -> Lakehouse:
        """What attaching tables to an engine needs (medallion.engine.attach)."""
        from medallion.engine.attach import Lakehouse

        return Lakehouse(
            self.catalog,
            lambda: self.models,
            self.models_or_empty,
            frozenset(self.source_tables),
            self.policy,
        )

    # -- what the project declares ----------------------------------------------------------------

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
        models = load_models(self.models_dir, self.config.layers, set(self.source_tables))
        from medallion.engine.factory import check_models

        check_models(self.config.engine, models)  # what the engine cannot run: refused now
        return models

    def models_or_empty(self) -> dict[str, Model]:
        """The models, or none when they do not load (listing tables still works)."""
        try:
            return self.models
        except ModelError:
            return {}

    @cached_property
    def lineage_graph(self) -> Graph:
        """What reads what: the DAG of sources and models from their SQL / depends_on."""
        from medallion.models.graph import Graph

        upstream: dict[str, list[str]] = {t: [] for t in self.source_tables}
        # reading a quarantine table is reading what its table's step writes
        upstream.update(
            {
                fqn: list(dict.fromkeys(owner(d) for d in m.depends_on))
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
        from medallion.models.checks import load_checks

        return load_checks(self.root, self.config, self.models)

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

    def kind(self, node: str) -> str:
        """`source`, or the model's kind."""
        if node in self.source_tables:
            return "source"
        return self.models[node].kind

    def retention_hours(self) -> dict[str, int | None]:
        """Layer -> hours of history `vacuum` keeps (None: forever)."""
        from medallion.config.durations import DEFAULT_RETENTION_HOURS, retention_hours

        return {
            layer: retention_hours(self.config.retention[layer])
            if layer in self.config.retention
            else DEFAULT_RETENTION_HOURS
            for layer in self.config.layers
        }
