"""The shape of medallion.yml, as pydantic models.

Every model forbids unknown keys, so a typo ("fromat") is an error with a suggestion instead of a
silently ignored setting. Paths stay as strings here; `loader.py` resolves them against the
project root.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from medallion.config.access import AccessConfig
from medallion.config.checks import CheckItem
from medallion.config.durations import duration_seconds, retention_hours
from medallion.config.pipelines import (
    NotificationTarget,
    Pipeline,
    SchedulerConfig,
    Sla,
    refuse_bad_references,
)
from medallion.config.serve import ServeConfig
from medallion.config.urls import canonical_options, is_url, parse_url

if TYPE_CHECKING:
    from medallion.config.loader import UnsetVariable

#: table, layer and source names: they become folder names and SQL identifiers
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(
            f"{what} {value!r} must be lower-case letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    if "__" in value.strip("_"):
        # `<table>__quarantine` and similar companion tables use the double underscore
        raise ValueError(f"{what} {value!r} must not contain '__' (reserved for medallion tables)")
    return value


def check_location(value: str) -> str:
    """A folder or a supported object-store URL; a URL medallion does not support (or a
    malformed one) is an error, never a local folder named after it."""
    if is_url(value) and "${" not in value:
        parse_url(value)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(Strict):
    """Files matched by one or more glob patterns, landed in one bronze table.

    The CSV options apply to `format: csv` only, `json_format` to `format: json` only.
    """

    type: Literal["files"] = "files"
    path: str | list[str]
    format: Literal["csv", "json", "parquet"] | None = None
    description: str | None = None
    #: column name -> DuckDB type (e.g. INTEGER, DECIMAL(12,2), DATE); others are inferred
    columns: dict[str, str] = Field(default_factory=dict)
    partition_by: list[str] = Field(default_factory=list)
    #: table-level checks on the bronze table, run after each ingest (see medallion.config.checks)
    checks: list[CheckItem] = Field(default_factory=list)
    #: credentials of the store a `path:` URL names, over the project's `storage_options:`
    storage_options: dict[str, str | int | bool] = Field(default_factory=dict)
    # CSV options
    header: bool | None = None
    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    encoding: Literal["utf-8", "utf-16", "latin-1"] | None = None
    null_values: list[str] | None = None
    skip_rows: int | None = Field(default=None, ge=0)
    date_format: str | None = None
    timestamp_format: str | None = None
    # JSON options
    json_format: Literal["auto", "array", "newline_delimited"] | None = None
    #: rejected rows (quarantined) one ingest may have before it fails and writes nothing: a
    #: share of the rows read ('5%') or a count (0: none at all)
    max_rejected: int | str = "10%"
    #: a file rewritten under the same name (a reference CSV edited, a daily snapshot exported
    #: again): `append` adds the new version beside the earlier one's rows; `replace` swaps the
    #: earlier rows of that path for the new version's, in the same commit
    on_rewrite: Literal["append", "replace"] = "append"
    #: freshness promise: the bronze table gets new rows at least this often ('26 hours')
    sla: Sla = None

    @property
    def reject_limit(self) -> tuple[int | None, float | None]:
        """(count, None) or (None, percent) of `max_rejected`."""
        return parse_reject_limit(self.max_rejected)

    @field_validator("max_rejected", mode="before")
    @classmethod
    def _reject_limit(cls, v: int | str) -> int | str:
        parse_reject_limit(v)
        return v

    @property
    def file_format(self) -> Literal["csv", "json", "parquet"]:
        fmt = self.format or infer_format(self.paths[0])
        assert fmt is not None  # checked by the validator
        return fmt

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @field_validator("path")
    @classmethod
    def _path_not_empty(cls, v: str | list[str]) -> str | list[str]:
        if not v or (isinstance(v, list) and not all(v)):
            raise ValueError("path must name at least one file or glob pattern")
        for p in [v] if isinstance(v, str) else v:
            check_location(p)
        return v

    @field_validator("storage_options")
    @classmethod
    def _storage_options(cls, v: dict[str, Any]) -> dict[str, Any]:
        canonical_options(v)
        return v

    @field_validator("columns", mode="before")
    @classmethod
    def _column_types(cls, v: object) -> object:
        return check_column_types(v)

    @field_validator("delimiter", "quote", "escape")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1 and v != "":
            raise ValueError("must be a single character")
        return v

    @model_validator(mode="after")
    def _format_and_options(self) -> FileSource:
        fmt = self.format or infer_format(self.paths[0])
        if fmt is None:
            raise ValueError(
                f"cannot tell the file format from {self.paths[0]!r}; "
                "set format: csv, json or parquet"
            )
        csv_only = [
            k
            for k in (
                "header",
                "delimiter",
                "quote",
                "escape",
                "encoding",
                "null_values",
                "skip_rows",
                "date_format",
                "timestamp_format",
            )
            if getattr(self, k) is not None
        ]
        if fmt != "csv" and csv_only:
            verb = "applies" if len(csv_only) == 1 else "apply"
            raise ValueError(f"{', '.join(csv_only)} {verb} to csv sources only (format is {fmt})")
        if fmt != "json" and self.json_format is not None:
            raise ValueError(f"json_format applies to json sources only (format is {fmt})")
        return self


def parse_reject_limit(value: int | str) -> tuple[int | None, float | None]:
    """`max_rejected`: a count of rows (int >= 0) or a share of the rows read ('5%', 0-100)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("max_rejected is a count of rows (0, 100) or a share of them ('5%')")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("max_rejected must not be negative")
        return value, None
    text = value.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 <= share <= 100:
                raise ValueError
            return None, share
        return parse_reject_limit(int(text))
    except ValueError:
        raise ValueError(
            f"max_rejected {value!r}: write a count of rows (0 = none, 100) or a share of the "
            "rows read ('5%', '0.5%', '100%' = any)"
        ) from None


def check_column_types(v: object) -> object:
    """`columns:` values must be SQL types (a comma in a flow mapping cuts them in two)."""
    if not isinstance(v, dict):
        return v
    for col, typ in v.items():
        if typ is None or (isinstance(typ, str) and typ.count("(") != typ.count(")")):
            raise ValueError(
                f"the type of column {col!r} looks cut in two at a comma ({typ!r}); in a "
                "{...} mapping, quote types with commas: amount: 'DECIMAL(12,2)'"
            )
        if not isinstance(typ, str) or not typ.strip():
            raise ValueError(f"column {col!r} needs a type name such as INTEGER or VARCHAR")
        check_type(typ)
    return v


def check_type(typ: str) -> None:
    """Raise ValueError unless `typ` is a SQL type DuckDB understands (checked with SQLGlot)."""
    import sqlglot
    from sqlglot import exp

    try:
        parsed = exp.DataType.build(typ, dialect="duckdb")
    except (sqlglot.errors.ParseError, ValueError):
        parsed = None
    if parsed is None or parsed.this == exp.DataType.Type.USERDEFINED:
        raise ValueError(
            f"unknown column type {typ!r}; use a DuckDB type such as INTEGER, BIGINT, DOUBLE, "
            "DECIMAL(12,2), DATE, TIMESTAMP, VARCHAR or BOOLEAN"
        )
    t = exp.DataType.Type
    no_delta = {t.TIME: "VARCHAR", t.TIMETZ: "VARCHAR", t.INTERVAL: "VARCHAR", t.INT128: "DECIMAL"}
    if parsed.this in no_delta:
        raise ValueError(
            f"column type {typ!r} cannot be stored in a Delta table; declare it as "
            f"{no_delta[parsed.this]} and convert it in a silver model"
        )
    if parsed.this == t.DECIMAL and parsed.expressions:
        precision = int(parsed.expressions[0].name or 0)
        if precision > 38:
            raise ValueError(
                f"column type {typ!r}: Delta decimals hold at most 38 digits; use DECIMAL(38, s) "
                "or DOUBLE"
            )


def infer_format(path: str) -> Literal["csv", "json", "parquet"] | None:
    p = path.lower()
    for suffix in (".gz", ".zst"):
        p = p.removesuffix(suffix)
    if p.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if p.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    if p.endswith((".parquet", ".pq")):
        return "parquet"
    return None


class _CursorSource(Strict):
    """What database and REST sources share: a schema hint, partitioning, checks, retries."""

    description: str | None = None
    #: column name -> DuckDB type, to override what the source reports
    columns: dict[str, str] = Field(default_factory=dict)
    partition_by: list[str] = Field(default_factory=list)
    checks: list[CheckItem] = Field(default_factory=list)
    #: transient failures (connection refused or reset, server restarting, HTTP 429/5xx) are
    #: retried this many times, waiting retry_backoff * 2^attempt seconds (capped at 60)
    retries: int = Field(default=5, ge=0)
    retry_backoff: float = Field(default=1.0, ge=0)
    #: freshness promise (see FileSource.sla)
    sla: Sla = None

    @field_validator("columns", mode="before")
    @classmethod
    def _column_types(cls, v: object) -> object:
        return check_column_types(v)


class DatabaseSource(_CursorSource):
    """A table or query of a PostgreSQL, MySQL or SQLite database, read incrementally by a
    cursor column when one is given."""

    type: Literal["postgres", "mysql", "sqlite"]
    #: postgresql://user:${PGPASSWORD}@host:5432/db, mysql://..., or a SQLite file path
    dsn: str
    #: `schema.table` (or `table`); or a `query`
    table: str | None = None
    query: str | None = None
    #: a column that grows with every insert and update (e.g. updated_at, or an id)
    cursor: str | None = None
    #: re-read rows this far behind the watermark ('1 hour', or a number for numeric cursors),
    #: for rows committed late with an older cursor value
    lookback: str | float | None = None
    primary_key: list[str] = Field(default_factory=list)
    #: rows per Arrow batch while streaming
    batch_size: int = Field(default=100_000, ge=1000)

    @field_validator("primary_key", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, v: str | float | None) -> str | float | None:
        if isinstance(v, str):
            duration_seconds(v)
        return v

    @model_validator(mode="after")
    def _table_or_query(self) -> DatabaseSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("a database source needs either table: or query: (one of them)")
        if self.lookback is not None and self.cursor is None:
            raise ValueError("lookback needs a cursor column")
        return self


class Pagination(Strict):
    """How a REST API splits its results."""

    #: page: ?page=1,2,...; offset: ?offset=0,100,...; cursor: ?cursor=<token from the body>;
    #: link: follow the `Link: <...>; rel="next"` header
    type: Literal["page", "offset", "cursor", "link"]
    #: the query parameter carrying the page number / offset / cursor token
    param: str | None = None
    #: page size, sent as `size_param` when given
    size: int | None = None
    size_param: str | None = None
    #: cursor: where the next token is in the response body (a dotted path, e.g. meta.next)
    next_path: str | None = None
    #: page: the first page number
    start: int = 1

    @model_validator(mode="after")
    def _needs(self) -> Pagination:
        if self.type in ("page", "offset", "cursor") and not self.param:
            raise ValueError(f"{self.type} pagination needs param: (the query parameter name)")
        if self.type == "cursor" and not self.next_path:
            raise ValueError("cursor pagination needs next_path: (where the next token is)")
        if self.type == "offset" and not self.size:
            raise ValueError("offset pagination needs size: (records per page)")
        return self


class RestCursor(Strict):
    """Incremental pulls: send the watermark as a query parameter, take the new one from the
    records."""

    param: str
    #: the record field holding the value (its maximum becomes the watermark)
    field: str
    #: value sent on the first pull
    initial: str | None = None


class RestSource(_CursorSource):
    """Records from a JSON HTTP API (GET), page by page."""

    type: Literal["rest"]
    url: str
    #: dotted path to the list of records in each response (default: the body is the list)
    records: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    pagination: Pagination | None = None
    cursor: RestCursor | None = None
    #: nested objects: kept as structs (false) or flattened into parent_child columns (true)
    flatten: bool = False
    timeout: float = Field(default=30.0, gt=0)
    #: stop after this many pages (a safety net against APIs that never end)
    max_pages: int = Field(default=100_000, ge=1)


def _source_kind(value: object) -> str:
    kind = value.get("type", "files") if isinstance(value, dict) else getattr(value, "type", "")
    return "database" if kind in ("postgres", "mysql", "sqlite") else str(kind)


#: every kind of source, told apart by `type:` (files when absent)
SourceConfig = Annotated[
    Annotated[FileSource, Tag("files")]
    | Annotated[DatabaseSource, Tag("database")]
    | Annotated[RestSource, Tag("rest")],
    Discriminator(
        _source_kind,
        custom_error_type="source_type",
        custom_error_message="type must be files (default), postgres, mysql, sqlite or rest",
    ),
]


class PublishTable(Strict):
    table: str
    #: replace: load a staging table and swap it in (one transaction); merge: upsert by key
    mode: Literal["replace", "merge"] = "replace"
    key: list[str] = Field(default_factory=list)
    #: the name in the target schema (default: the table's name)
    name: str | None = None

    @field_validator("key", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _key(self) -> PublishTable:
        if self.mode == "merge" and not self.key:
            raise ValueError(f"publishing {self.table} by merge needs key: [columns]")
        return self


class PublishTarget(Strict):
    """A database that BI tools read: chosen tables are copied there after each run."""

    type: Literal["postgres"]
    dsn: str
    schema_name: str = Field(default="public", alias="schema")
    #: `layer.table` names or `{table:, mode: merge, key: [...]}`; `gold.*` for a whole layer
    tables: list[str | PublishTable]
    #: publish after every successful run (else only with `medallion publish`)
    after_run: bool = True
    #: connection failures are retried this many times, waiting retry_backoff * 2^attempt s
    retries: int = Field(default=3, ge=0)
    retry_backoff: float = Field(default=1.0, ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def entries(self) -> list[PublishTable]:
        return [PublishTable(table=t) if isinstance(t, str) else t for t in self.tables]


class EngineConfig(Strict):
    """The compute that runs the models: the embedded DuckDB (default) or Spark. Past
    `memory_limit` DuckDB's sorts, joins, aggregates and windows spill to the state folder's
    tmp/ instead of growing the process."""

    #: duckdb (embedded, the default) or spark (pip install 'medallion[spark]', Java 17)
    type: Literal["duckdb", "spark"] = "duckdb"
    #: Spark only: the master URL ('local[*]', 'spark://host:7077', ...); none: local[*]
    master: str | None = None
    #: Spark only: configuration set on the session ('spark.executor.memory': '4g', ...)
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    #: DuckDB's buffer limit ('1GB', '512MB'); none: DuckDB's default (80% of RAM)
    memory_limit: str | None = None
    #: worker threads; none: one per CPU
    threads: int | None = Field(default=None, ge=1)

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        import re

        if v is not None and not re.fullmatch(r"\s*\d+(\.\d+)?\s*[KMGT]i?B\s*", v, re.I):
            raise ValueError(f"memory_limit {v!r}: write a size like '1GB' or '512MB'")
        return v

    @model_validator(mode="after")
    def _spark_keys(self) -> EngineConfig:
        if self.type != "spark" and (self.master is not None or self.conf):
            key = "master" if self.master is not None else "conf"
            raise ValueError(f"engine {key} is a Spark setting: add `type: spark` beside it")
        return self


class QueryConfig(Strict):
    """What `medallion query` may read besides the lakehouse's tables."""

    #: DuckDB's file functions over any path this user may read (read_csv('/etc/passwd'),
    #: read_parquet, glob) and URLs: handy on a laptop; false confines queries to the tables
    outside_files: bool = True


class ProjectConfig(Strict):
    """medallion.yml"""

    name: str
    description: str | None = None
    #: the bundled template this project came from; `medallion generate` uses its generator
    template: str | None = None
    #: root of the Delta tables: <storage>/<layer>/<table>; a folder, or an object-store URL
    #: (abfss://, az://, s3://, gs://; see docs/object-storage.md)
    storage: str = "./lakehouse"
    #: credentials and settings of the store `storage:` names (deltalake's keys; `${VAR}`s for
    #: secrets); the environment's AZURE_*/AWS_*/GOOGLE_* variables fill in the rest
    storage_options: dict[str, str | int | bool] = Field(default_factory=dict)
    #: folder of the state database (run log, checkpoints)
    state: str = ".medallion"
    #: layer names in order; sources land in the first one
    layers: list[str] = Field(default_factory=lambda: ["bronze", "silver", "gold"])
    #: folder of model files: <models>/<layer>/<name>.sql|.py
    models: str = "models"
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    #: databases that tables are published to (see PublishTarget)
    publish: dict[str, PublishTarget] = Field(default_factory=dict)
    #: per layer, how long replaced data stays restorable (time travel): `medallion vacuum`
    #: deletes files older than this that the current version no longer uses. A duration
    #: ('90 days', '12 hours', '1 year') or forever; layers not listed keep Delta's 7 days.
    retention: dict[str, str | None] = Field(default_factory=dict)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    query: QueryConfig = Field(default_factory=QueryConfig)
    #: who may read what (grants, row filters, masks); None: no access control, one user
    access: AccessConfig | None = None
    #: `medallion serve`: its address, statement timeout and row cap (per role)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    #: named selections that run on a clock or after each other (`medallion scheduler`)
    pipelines: dict[str, Pipeline] = Field(default_factory=dict)
    #: where pipelines' events are sent (slack, webhook, email)
    notifications: dict[str, NotificationTarget] = Field(default_factory=dict)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    #: overlays chosen with --env NAME or MEDALLION_ENV: each a mapping of the keys above,
    #: merged over the file's own (mappings key by key; anything else replaced)
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)

    #: `${VAR}`s without a value under sources: and publish: (the loader fills it): a command
    #: asks for those of the sources and targets it uses (require_env)
    _unset: tuple[UnsetVariable, ...] = PrivateAttr(default=())
    #: the environment this configuration was loaded for (None: the file as written)
    _environment: str | None = PrivateAttr(default=None)

    @property
    def environment(self) -> str | None:
        return self._environment

    @property
    def unset_variables(self) -> tuple[UnsetVariable, ...]:
        return self._unset

    def require_env(self, places: list[tuple[str, str]]) -> None:
        """Raise one ConfigError naming every unset variable a command needs: those of the
        `places` it uses, ("sources", name) or ("publish", target)."""
        from medallion.config.loader import unset_error

        needed = [u for u in self._unset if tuple(u.loc[:2]) in set(places)]
        if needed:
            raise unset_error(needed)

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        return check_location(v)

    @field_validator("storage_options")
    @classmethod
    def _storage_options(cls, v: dict[str, Any]) -> dict[str, Any]:
        canonical_options(v)
        return v

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: dict[str, str | None]) -> dict[str, str | None]:

        for layer, value in v.items():
            try:
                retention_hours(value)
            except ValueError as e:
                raise ValueError(f"retention of {layer}: {e}") from None
        return v

    @model_validator(mode="after")
    def _retention_layers(self) -> ProjectConfig:
        unknown = [layer for layer in self.retention if layer not in self.layers]
        if unknown:
            raise ValueError(
                f"retention names layer {unknown[0]!r}, which is not one of {self.layers}"
            )
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v

    @field_validator("layers")
    @classmethod
    def _layers(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one layer is needed")
        for layer in v:
            check_name(layer, "layer")
        if len(set(v)) != len(v):
            raise ValueError("layer names must be unique")
        if "main" in v:
            raise ValueError("'main' is reserved by the SQL engine; choose another layer name")
        return v

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, FileSource]) -> dict[str, FileSource]:
        for name in v:
            check_name(name, "source name")
        return v

    @field_validator("pipelines", "notifications")
    @classmethod
    def _pipeline_names(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        what = "pipeline" if info.field_name == "pipelines" else "notification"
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
                raise ValueError(
                    f"{what} name {name!r}: letters, digits, '_' and '-', starting with a letter"
                )
        return v

    @model_validator(mode="after")
    def _spark_storage(self) -> ProjectConfig:
        # medallion.engine.spark says why (and refuses `--engine spark` on such a project)
        if self.engine.type == "spark" and is_url(self.storage):
            raise ValueError(
                "engine: spark does not run on a lakehouse on object storage yet "
                f"(storage: {self.storage}); run it on DuckDB, or put the lakehouse on a file "
                "system the driver and every executor mount at the same path"
            )
        return self

    @model_validator(mode="after")
    def _pipeline_refs(self) -> ProjectConfig:
        refuse_bad_references(self.pipelines, self.notifications)
        return self

    @property
    def landing_layer(self) -> str:
        return self.layers[0]
