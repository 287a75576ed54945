"""Binding every SQL model against the lakehouse without running anything (`medallion validate`).

Loading a project checks each model's syntax and the tables it names; whether its columns exist
is only known when DuckDB binds the SQL against its inputs, and whether its header keys
(`unique_key`, `order_by`, `partition_by`, ...) name columns it outputs, once it is bound.
This binds each SQL model (and its expectations and header keys) in DAG order on one engine:
sources and Python models as their built Delta tables, SQL models as views of their current
SQL — so a model is checked against what its upstream models would produce now, even if they
changed since their last build. Nothing is executed or written. A model is not bound when an
input was never built (a source never landed, a Python model never run, or a model downstream
of those).

A column the model names that its input tables lack is an error, except when a file source
upstream has files not ingested yet: a run ingests them first, and they may bring the column
(a new file with one more column). Then, when the caller collects `warnings`, it is a warning
saying so and the model is not bound.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from medallion.config.names import is_quarantine, owner
from medallion.engine import attach
from medallion.errors import ExecutionError, MedallionError
from medallion.models.header_keys import missing_key_column

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.engine.base import Engine, Relation
    from medallion.models.loader import Model
    from medallion.workspace import Workspace


def bind_models(
    ws: Workspace, warnings: list[MedallionError] | None = None
) -> dict[str, str | None]:
    """For each model in run order: None if its SQL bound, else why it was not bound. The first
    model whose SQL (or one of whose expectations) does not bind raises its ExecutionError,
    naming the model file and line, as a run would — except, with `warnings`, a column that
    files not ingested yet may bring (`_pending_column`), which is added there instead."""
    from medallion.build import STRATEGIES
    from medallion.build.step import refuse_unbound_checks
    from medallion.quality import expectations as ex

    engine = ws.new_engine()
    lh = ws.lakehouse
    #: tables not available to bind against, and why
    missing: dict[str, str] = {}
    out: dict[str, str | None] = {}
    try:
        for node in ws.lineage_graph.order:
            model = ws.models.get(node)
            if model is None:  # a source: its bronze table
                if ws.catalog.exists(node):
                    attach.table(engine, lh, node)
                else:
                    missing[node] = f"{node} has not been landed yet"
                continue
            blocked = next(
                (missing[owner(d)] for d in model.depends_on if owner(d) in missing),
                None,
            )
            if blocked is not None:
                out[node] = missing[node] = blocked
                continue
            if model.language != "sql":
                out[node] = "a Python model: its columns are known once it runs"
                if ws.catalog.exists(node):
                    attach.table(engine, lh, node)  # what downstream models read
                else:
                    missing[node] = f"{node} (a Python model) has not been built yet"
                continue
            try:
                for dep in model.depends_on:
                    if is_quarantine(dep):
                        attach.readable(engine, lh, dep, reader=node)
            except MedallionError:
                out[node] = missing[node] = f"{node} reads a quarantine table not built yet"
                continue
            try:
                rel = engine.relation(model.text)
            except Exception as e:
                error = engine.model_error(e, model)
                pending = _pending_column(ws, node, error) if warnings is not None else None
                if pending is None:
                    raise error from None
                assert warnings is not None
                warnings.append(pending)
                out[node] = missing[node] = f"{node} names a column its inputs lack so far"
                continue
            if model.config.expectations:
                ex.wrap(engine, rel, model.config.expectations, model=node, file=model.path)
            added = STRATEGIES[model.kind].added_fields()
            refuse_unbound_checks(ws, engine, rel, node, added, building=False)
            output, kind_adds = engine.columns(rel), [f.name for f in added]
            if (key_error := missing_key_column(model, output, kind_adds)) is not None:
                raise key_error
            # downstream models bind against it, with the columns its kind adds (scd2's
            # valid_from, valid_to, is_current)
            attach.view(engine, lh, node, _with_added_columns(engine, rel, model, added))
            out[node] = None
    finally:
        engine.close()
    return out


#: the column a binder did not find: DuckDB's two wordings, Spark's
_UNKNOWN_COLUMN = re.compile(
    r'column "(?P<a>[^"]+)" not found|does not have a column named "(?P<b>[^"]+)"'
    r"|with name `(?P<c>[^`]+)` cannot be resolved"
)


def _pending_column(ws: Workspace, node: str, error: ExecutionError) -> ExecutionError | None:
    """`error` (a model naming a column its inputs lack) as a warning when a file source
    upstream of `node` has files not ingested yet, which a run ingests before it builds the
    model and which may bring the column; None when it is a plain error."""
    from medallion.config.schema import FileSource
    from medallion.ingest.bronze import new_files

    m = _UNKNOWN_COLUMN.search(error.message)
    if m is None:
        return None
    column = (m.group("a") or m.group("b") or m.group("c")).rsplit(".", 1)[-1]
    unread: list[str] = []
    for fqn in sorted(ws.lineage_graph.ancestors(node)):
        name = ws.source_tables.get(fqn)
        source = ws.config.sources.get(name) if name else None
        if not isinstance(source, FileSource):
            continue
        _, new = new_files(ws.root, source, name, ws.state, ws.catalog.path(fqn))
        if new:
            shown = ", ".join(f.rel for f in new[:3]) + (" ..." if len(new) > 3 else "")
            unread.append(f"source {name} has {len(new):,} file(s) not ingested yet ({shown})")
    if not unread:
        return None
    inputs = ", ".join(dict.fromkeys(owner(d) for d in ws.models[node].depends_on))
    return ExecutionError(
        f'column "{column}" is not in the tables built so far ({inputs}), but '
        f"{'; '.join(unread)}: a run ingests new files before it builds the models, and they "
        "may bring it",
        file=error.file,
        line=error.line,
        model=node,
        hint="`medallion run` tells: if the new files do not bring it either, the model fails "
        f"there ({error.message})",
    )


def _with_added_columns(engine: Engine, rel: Relation, model: Model, added: list[pa.Field]) -> str:
    """The SQL of a view reading the model's rows with the columns its kind adds (as NULLs of
    their types: a join that matches nothing with an empty table of them); the model's own SQL
    when its kind adds none."""
    if not added:
        return model.text
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.engine.base import SRC
    from medallion.sqltree import col, render

    empty = engine.register(pa.schema(added).empty_table())
    widened = engine.over(
        rel,
        exp.select(
            exp.Column(this=exp.Star(), table=exp.to_identifier(SRC)),
            *(col(f.name, "a") for f in added),
        )
        # aliased: an engine may read `__src` as a view of another name (Spark does)
        .from_(exp.to_table(SRC).as_(SRC))
        .join(empty.as_("a"), on=exp.false(), join_type="left"),
    )
    # DuckDB SQL, as the model's own text: an engine translates a view's SQL for itself
    return render(exp.select(exp.Star()).from_(engine.name(widened)))
