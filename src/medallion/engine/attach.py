"""The one place a table becomes readable: every read of the lakehouse goes through here.

A query, a model's inputs, a check and its sample rows, a time-travel read, a quarantine table,
a Python model's `ctx.table`/`ctx.sql`, `verify`, publishing and replay all read tables that
these functions attached to their engine — a Delta table at its latest or an earlier version, a
view model's definition (and its inputs), or an empty quarantine table nothing was sent to yet.
Nothing else attaches tables (`tests/engine/test_attach.py` checks it), so a read policy applied
here applies to every read path: the project's `ReadPolicy` is asked before each table is made
readable, and a refusal is an AccessDeniedError naming the table.

`confine` shuts everything else out: after it, the engine reads the tables attached so far and
no other file or URL (a project's `query: {outside_files: false}`; access control builds on it).

What this cannot protect: whoever can read the storage folder reads the Delta files directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from medallion.config.names import is_quarantine, owner
from medallion.errors import (
    AccessDeniedError,
    ExecutionError,
    MedallionError,
    QueryError,
    StorageError,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.engine.base import Engine
    from medallion.models.loader import Model
    from medallion.storage.catalog import Catalog


class ReadPolicy(Protocol):
    """Decides whether a table may be read (`check` raises AccessDeniedError if not) and how:
    `restriction` gives the SELECT over the stored rows (named `__src`) the table is read
    through — masks and a row filter — or None to read it as stored. A restriction that
    cannot be applied raises AccessDeniedError: the table is refused, never shown bare."""

    def check(self, table: str) -> None: ...

    def restriction(self, table: str, schema: pa.Schema) -> exp.Select | None: ...


class AllowAll:
    """The policy of a project without access control: every table may be read."""

    def check(self, table: str) -> None:
        return None

    def restriction(self, table: str, schema: pa.Schema) -> exp.Select | None:
        return None


class DenyAll:
    """Every table is refused (what a principal without any grant gets)."""

    def check(self, table: str) -> None:
        raise AccessDeniedError(
            f"reading {table} is not allowed", hint="ask an admin for a grant on it"
        )

    def restriction(self, table: str, schema: pa.Schema) -> exp.Select | None:
        self.check(table)
        return None


@dataclass(frozen=True)
class Lakehouse:
    """What attaching needs to know about the project: where tables are, which models are
    views (their SQL and inputs) or scd2 (their quarantine lacks the history columns), which
    tables are sources, and the read policy. The models are loaded when first needed
    (`load_models` raises what a broken model file is; `some_models` gives none instead), so
    reading stored tables by version works while a model file is being edited."""

    catalog: Catalog
    load_models: Callable[[], Mapping[str, Model]]
    some_models: Callable[[], Mapping[str, Model]]
    sources: frozenset[str]
    policy: ReadPolicy = field(default_factory=AllowAll)

    @property
    def models(self) -> Mapping[str, Model]:
        return self.load_models()


def readable(engine: Engine, lh: Lakehouse, node: str, *, reader: str) -> None:
    """Make `node` queryable in the engine: a view model's definition (and its inputs), or the
    latest version of a Delta table. A table never built is a clear error naming `reader` (the
    model, check or query reading it), not a DuckDB one."""
    if engine.is_attached(node):
        return
    model = lh.models.get(node)
    if model is not None and model.kind == "view":
        for dep in model.depends_on:
            readable(engine, lh, dep, reader=reader)
        lh.policy.check(node)
        engine.attach_view(node, model.text)
        _restrict(engine, lh, node, None)
        return
    exists = lh.catalog.exists(node)
    if not exists and is_quarantine(node):
        schema = _empty_quarantine_schema(lh, node)
        if schema is not None:  # nothing quarantined yet: an empty table
            lh.policy.check(node)
            engine.attach_empty(node, schema)
            _restrict(engine, lh, node, schema)
            return
    if not exists:
        raise ExecutionError(
            f"{reader} reads {node}, which has not been built yet",
            model=reader,
            hint=f"run its upstream too: medallion run --select +{reader.split('.', 1)[1]}",
        )
    table(engine, lh, node)


def table(engine: Engine, lh: Lakehouse, fqn: str, version: int | None = None) -> int:
    """Attach the stored table `fqn` at `version` (default: its latest, again if it was
    attached before: after a write); returns the version attached."""
    lh.policy.check(fqn)
    attached = engine.attach_table(fqn, version)
    _restrict(engine, lh, fqn, engine.schema_of(fqn))
    return attached


def _restrict(engine: Engine, lh: Lakehouse, fqn: str, schema: pa.Schema | None) -> None:
    """Read `fqn` through the policy's restriction (masks, row filter), if it has one; a
    view's columns are asked of the engine."""
    # a policy that only decides which tables (no `restriction`) reads them as stored
    restriction = getattr(lh.policy, "restriction", None)
    if restriction is None or isinstance(lh.policy, AllowAll):
        return
    if schema is None:
        from medallion.sqltree import select_star, table

        schema = engine.schema(engine.relation(select_star(table(fqn)).limit(0)))
    query = restriction(fqn, schema)
    if query is not None:
        engine.restrict(fqn, query)


def confine(engine: Engine) -> None:
    """From now on `engine` reads the tables attached so far and nothing else: no other file
    (read_csv('/etc/passwd'), a glob over the home folder), no URL, no extension. Attach every
    table the reader may read first."""
    engine.confine()


def view(engine: Engine, lh: Lakehouse, fqn: str, sql: str) -> None:
    """Attach `fqn` as a view of `sql` (a view model, or a model bound without running)."""
    lh.policy.check(fqn)
    engine.attach_view(fqn, sql)
    _restrict(engine, lh, fqn, None)


def _empty_quarantine_schema(lh: Lakehouse, node: str) -> pa.Schema | None:
    """The columns `node` (a quarantine table not written yet) will have: a source's are fixed;
    a model's are its output's plus the quarantine columns (None: the model is not built)."""
    from medallion.storage import quarantine, tables

    parent = owner(node)
    if parent in lh.sources:
        return quarantine.source_schema()
    if not lh.catalog.exists(parent):
        return None
    import pyarrow as pa

    schema = tables.schema(lh.catalog.path(parent))
    model = lh.models.get(parent)
    if model is not None and model.config.kind == "scd2":
        schema = pa.schema(
            [f for f in schema if f.name not in ("valid_from", "valid_to", "is_current")]
        )
    return quarantine.model_schema(schema)


def base_tables(lh: Lakehouse, nodes: list[str]) -> list[str]:
    """The materialized tables behind `nodes`, looking through view models."""
    models = lh.some_models()
    out: list[str] = []
    todo = list(nodes)
    while todo:
        node = todo.pop(0)
        m = models.get(node)
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


def as_of(engine: Engine, lh: Lakehouse, refs: list[str], when: int | str | datetime) -> None:
    """Attach the tables a query reads as they were at a version or a time."""
    from medallion.storage import tables

    target = parse_as_of(when)
    bases = base_tables(lh, refs)
    if isinstance(target, int):
        if len(bases) != 1:
            raise QueryError(
                f"as of version {target}: a version number belongs to one table, but the "
                f"query reads {len(bases)} tables ({', '.join(bases)})",
                hint="a version belongs to one table; use a time to read several as of then",
            )
        versions = {bases[0]: target}
    else:
        versions = {}
        for fqn in bases:
            try:
                versions[fqn] = tables.version_at(lh.catalog.path(fqn), target)
            except StorageError as e:
                raise QueryError(
                    f"{fqn}: {e.message}",
                    hint=f"`medallion history {fqn}` shows when each version was written",
                ) from None
    for fqn, version in versions.items():
        try:
            table(engine, lh, fqn, version)
        except AccessDeniedError:
            raise
        except MedallionError as e:
            raise QueryError(
                f"cannot read {fqn} version {version}: {e.message}",
                hint=e.hint or f"`medallion history {fqn}` lists its versions",
            ) from None
