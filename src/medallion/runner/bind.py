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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.config.names import is_quarantine, owner
from medallion.engine import attach
from medallion.errors import MedallionError
from medallion.models.header_keys import missing_key_column

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.engine.base import Engine, Relation
    from medallion.models.loader import Model
    from medallion.workspace import Workspace


def bind_models(ws: Workspace) -> dict[str, str | None]:
    """For each model in run order: None if its SQL bound, else why it was not bound. The first
    model whose SQL (or one of whose expectations) does not bind raises its ExecutionError,
    naming the model file and line, as a run would."""
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
                raise engine.model_error(e, model) from None
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
