"""What a run is made of: step and run results, the reporter protocol, and making tables
visible to the engine. Shared by the run executor, the check runner and the query path."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from medallion.errors import ExecutionError, MedallionError, QueryError, StorageError
from medallion.storage.catalog import QUARANTINE_SUFFIX

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.engine.duckdb_engine import Engine
    from medallion.project import Project


@dataclass
class StepResult:
    step_no: int
    node: str
    step: str  # ingest | model | view
    status: str = "success"  # success | failed | skipped
    rows_read: int | None = None
    rows_written: int | None = None
    rows_dropped: int | None = None
    rows_quarantined: int | None = None
    delta_version: int | None = None
    duration_s: float = 0.0
    error: str | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    rows_in: int | None = None
    #: results of expectations and checks (medallion.quality.checks.CheckResult)
    checks: list[Any] = field(default_factory=list)

    @property
    def layer(self) -> str:
        return self.node.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.node.split(".", 1)[1]


@dataclass
class RunResult:
    run_id: str
    status: str
    steps: list[StepResult]
    duration_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def step(self, node: str) -> StepResult:
        for s in self.steps:
            if s.node == node:
                return s
        raise KeyError(node)


class Reporter(Protocol):
    def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None: ...
    def step_started(self, step_no: int, node: str, step: str) -> None: ...
    def step_finished(self, result: StepResult) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...


class SilentReporter:
    def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None:
        pass

    def step_started(self, step_no: int, node: str, step: str) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass

    def run_finished(self, result: RunResult) -> None:
        pass


def ensure_attached(project: Project, engine: Engine, node: str, *, for_model: str) -> None:
    """Make `node` queryable in the engine: a view model's definition (and its inputs), or the
    latest version of a Delta table. A table never built is a clear error, not a DuckDB one."""
    if node in engine.attached or node in engine.views:
        return
    model = project.models.get(node)
    if model is not None and model.kind == "view":
        for dep in model.depends_on:
            ensure_attached(project, engine, dep, for_model=for_model)
        engine.attach_view(node, model.text)
        return
    if not project.catalog.exists(node) and node.endswith(QUARANTINE_SUFFIX):
        schema = _empty_quarantine_schema(project, node)
        if schema is not None:  # nothing quarantined yet: an empty table
            engine.attach_empty(node, schema)
            return
    if not project.catalog.exists(node):
        raise ExecutionError(
            f"{for_model} reads {node}, which has not been built yet",
            model=for_model,
            hint=f"run its upstream too: medallion run --select +{for_model.split('.', 1)[1]}",
        )
    engine.attach_table(node)


def _empty_quarantine_schema(project: Project, node: str) -> pa.Schema | None:
    """The columns `node` (a quarantine table not written yet) will have: a source's are fixed;
    a model's are its output's plus the quarantine columns (None: the model is not built)."""
    from medallion.ingest import bronze
    from medallion.quality import expectations
    from medallion.storage import delta

    parent = node.removesuffix(QUARANTINE_SUFFIX)
    if parent in project.source_tables:
        return bronze.quarantine_schema()
    if not project.catalog.exists(parent):
        return None
    import pyarrow as pa

    schema = pa.schema(delta.open_table(project.catalog.path(parent)).schema().to_arrow())
    model = project.models.get(parent)
    if model is not None and model.config.kind == "scd2":
        schema = pa.schema(
            [f for f in schema if f.name not in ("valid_from", "valid_to", "is_current")]
        )
    return expectations.quarantine_schema(schema)


def base_tables(project: Project, nodes: list[str]) -> list[str]:
    """The materialized tables behind `nodes`, looking through view models."""
    out: list[str] = []
    todo = list(nodes)
    while todo:
        node = todo.pop(0)
        m = project._models_or_empty().get(node)
        if m is not None and m.kind == "view":
            todo.extend(m.depends_on)
        elif node not in out:
            out.append(node)
    return out


def parse_as_of(value: int | str | datetime, option: str = "--as-of") -> int | datetime:
    """A version number (`3`, or `v3` as `medallion history` prints it), or a time: ISO
    date/datetime; without a zone it is local time. `option` names it in the error."""
    if isinstance(value, int | datetime):
        return value if not isinstance(value, datetime) or value.tzinfo else value.astimezone()
    text = str(value).strip()
    number = text[1:] if text[:1] in ("v", "V") else text
    if number.isdigit():
        return int(number)
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"{option} {text!r} is neither a version number nor a time",
            hint="use a version (medallion history TABLE) or e.g. 2026-11-20T08:00",
        ) from None
    return ts if ts.tzinfo else ts.astimezone()


def attach_as_of(
    project: Project, engine: Engine, refs: list[str], as_of: int | str | datetime
) -> None:
    """Attach the tables a query reads as they were at a version or a time."""
    from medallion.storage import delta

    target = parse_as_of(as_of)
    tables = base_tables(project, refs)
    if isinstance(target, int):
        if len(tables) != 1:
            raise QueryError(
                f"--as-of {target} is a version number, but the query reads {len(tables)} "
                f"tables ({', '.join(tables)})",
                hint="a version belongs to one table; use a time to read several as of then",
            )
        versions = {tables[0]: target}
    else:
        versions = {}
        for table in tables:
            try:
                versions[table] = delta.version_at(project.catalog.path(table), target)
            except StorageError as e:
                raise QueryError(
                    f"{table}: {e.message}",
                    hint=f"`medallion history {table}` shows when each version was written",
                ) from None
    for table, version in versions.items():
        try:
            engine.attach_table(table, version)
        except MedallionError as e:
            raise QueryError(
                f"cannot read {table} version {version}: {e.message}",
                hint=e.hint or f"`medallion history {table}` lists its versions",
            ) from None
