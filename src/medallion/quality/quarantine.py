"""Quarantine tables: list them, show their rows, and replay rows that now pass back into their
model.

Replay re-evaluates a model's quarantined rows against the model's *current* expectations (the
rule was fixed, or the rule was right and the row was repaired in the quarantine table) and
moves the rows that pass every drop/quarantine/fail expectation into the model table. It is
idempotent and safe to interrupt, with three commits tied together by a replay batch number:

1. the quarantine table is rewritten with the passing rows marked (`_replayed_batch = n`);
2. the marked rows are appended to the model in one commit carrying the Delta application
   transaction (`medallion.replay.<model>`, n);
3. the marked rows are deleted from the quarantine table.

A replay interrupted after step 1 or 2 is finished by the next replay, which sees marked rows and
the model's transaction version, so no row is appended twice or lost. A second replay with nothing
new to move writes nothing.

For a `table` model the next run rebuilds the model and its quarantine from upstream; replayed
rows last until then (fix the rule or the upstream data to make the fix permanent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medallion import arrays
from medallion.config.names import QUARANTINE_SUFFIX, quarantine_of
from medallion.engine import attach
from medallion.engine.base import SRC
from medallion.errors import ExecutionError, SelectionError
from medallion.quality.expectations import OK_PREFIX, wrap
from medallion.sqltree import aliased, and_, col, ident, select_star, table
from medallion.storage import tables
from medallion.storage.catalog import app_id
from medallion.storage.quarantine import MODEL_EXTRA

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.engine.base import Engine, Relation
    from medallion.workspace import Workspace

REPLAYED = "_replayed_batch"


@dataclass
class QuarantineTable:
    table: str  # <layer>.<name>__quarantine
    of: str  # the source's bronze table or the model it belongs to
    kind: str  # source | model
    rows: int
    version: int
    last_written: Any


@dataclass
class ReplayResult:
    model: str
    examined: int = 0
    moved: int = 0
    remaining: int = 0
    batch: int | None = None
    model_version: int | None = None
    recovered: int = 0  # rows of an interrupted earlier replay that this one finished


def list_tables(ws: Workspace) -> list[QuarantineTable]:
    out = []
    for fqn in ws.catalog.tables():
        if not fqn.endswith(QUARANTINE_SUFFIX):
            continue
        of = fqn.removesuffix(QUARANTINE_SUFFIX)
        info = tables.info(ws.catalog.path(fqn))
        kind = "source" if of in ws.source_tables else "model"
        out.append(QuarantineTable(fqn, of, kind, info.rows, info.version, info.last_written))
    return out


def resolve(ws: Workspace, name: str) -> str:
    """The table a quarantine belongs to, from a model/source name (or the quarantine's name)."""
    name = name.removesuffix(QUARANTINE_SUFFIX)
    graph = ws.lineage_graph
    with_quarantine = [
        n
        for n in graph.up
        if name in (n, n.split(".", 1)[1]) and ws.catalog.exists(f"{n}{QUARANTINE_SUFFIX}")
    ]
    # a bare name in two layers is not ambiguous if only one of them has a quarantine
    fqn = with_quarantine[0] if len(with_quarantine) == 1 else graph.resolve(name)
    if not ws.catalog.exists(f"{fqn}{QUARANTINE_SUFFIX}"):
        raise SelectionError(
            f"{fqn} has no quarantine table",
            hint="rows are quarantined by a source's parse errors or a model's "
            "`action: quarantine` expectations; `medallion quarantine list` shows them",
        )
    return fqn


def rows(ws: Workspace, name: str, limit: int | None = None) -> pa.Table:
    """The quarantined rows of a source or model (the first `limit`)."""
    fqn = resolve(ws, name)
    engine = ws.new_engine()
    try:
        rel = _load(ws, engine, fqn)
        if limit:
            rel = engine.over(rel, select_star(SRC).limit(limit))
        return engine.fetch(rel)
    finally:
        engine.close()


def replay(ws: Workspace, name: str, run_id: str) -> ReplayResult:
    import pyarrow as pa
    import sqlglot.expressions as exp

    fqn = resolve(ws, name)
    if fqn in ws.source_tables:
        raise ExecutionError(
            f"{fqn} quarantines rows its files could not parse; they cannot be replayed",
            hint="fix the file in place (`medallion quarantine show` gives its file and line) "
            "and `medallion run`: a changed file is ingested again (bronze is append-only: the "
            "earlier version's rows stay beside it); a full refresh would also drop the rows of "
            "files no longer in the landing folder",
        )
    model = ws.models[fqn]
    if not model.config.expectations:
        raise ExecutionError(
            f"{fqn} has no expectations to re-evaluate its quarantined rows against", model=fqn
        )
    q_path = ws.catalog.path(f"{fqn}{QUARANTINE_SUFFIX}")
    m_path = ws.catalog.path(fqn)
    result = ReplayResult(fqn)
    engine = ws.new_engine()
    try:
        done = tables.transaction_version(m_path, app_id("replay", fqn)) or 0
        q = _load(ws, engine, fqn)
        q_columns = engine.columns(q)
        model_cols = [c for c in q_columns if c not in (*MODEL_EXTRA, REPLAYED)]

        # finish a replay that was interrupted after marking its rows
        if REPLAYED in q_columns:
            found = engine.fetch(engine.over(q, exp.select(col(REPLAYED)).distinct().from_(SRC)))
            for batch in sorted(b for b in arrays.values(found.column(0)) if b is not None):
                marked = engine.over(q, _marked(int(batch)))
                if batch > done:
                    _append(ws, engine, fqn, marked, model_cols, int(batch), run_id)
                    done = int(batch)
                result.recovered += engine.count(marked)
            if result.recovered:
                tables.delete(q_path, _any_marked(), run_id=run_id)
                q = _load(ws, engine, fqn)

        result.examined = engine.count(q)
        candidates = engine.over(
            q, exp.select(*[col(c) for c in [*model_cols, "_quarantine_id"]]).from_(SRC)
        )
        checked = wrap(engine, candidates, model.config.expectations, model=fqn, file=model.path)
        strict = [
            col(f"{OK_PREFIX}{i}")
            for i, e in enumerate(model.config.expectations.values())
            if e.action != "warn"
        ]
        passing = exp.select(col("_quarantine_id")).from_(SRC).where(and_(*strict))
        ids = arrays.values(engine.fetch(engine.over(checked, passing)).column(0))
        if ids:
            batch = done + 1
            result.batch = batch
            replayed = engine.register(
                pa.Table.from_arrays([arrays.strings(ids)], names=["_quarantine_id"])
            )
            marked_all = (
                exp.select(
                    *[col(c, "q") for c in q_columns if c != REPLAYED],
                    exp.Cast(
                        this=exp.Case(
                            ifs=[
                                exp.If(
                                    this=exp.not_(
                                        exp.Is(
                                            this=col("_quarantine_id", "i"), expression=exp.Null()
                                        )
                                    ),
                                    true=exp.Literal.number(batch),
                                )
                            ]
                        ),
                        to=exp.DataType.build("BIGINT"),
                    ).as_(REPLAYED, quoted=True),
                )
                .from_(table(SRC, "q"))
                .join(aliased(replayed, "i"), using=[ident("_quarantine_id")], join_type="left")
            )
            # 1. mark, 2. append to the model, 3. remove from the quarantine
            tables.write(
                q_path,
                engine.reader(engine.over(q, marked_all)),
                mode="overwrite",
                run_id=run_id,
                metadata={"medallion.replay": batch},
            )
            q = _load(ws, engine, fqn)
            marked = engine.over(q, _marked(batch))
            result.model_version = _append(ws, engine, fqn, marked, model_cols, batch, run_id)
            tables.delete(q_path, _any_marked(), run_id=run_id)
            result.moved = len(ids)
        result.remaining = tables.info(q_path).rows
    finally:
        engine.close()
    return result


def _any_marked() -> exp.Expression:
    """Rows marked by a replay batch (the quarantine rows the model has now)."""
    import sqlglot.expressions as exp

    return exp.not_(exp.Is(this=col(REPLAYED), expression=exp.Null()))


def _marked(batch: int) -> exp.Select:
    """The rows a replay batch marked."""
    import sqlglot.expressions as exp

    return select_star(SRC).where(exp.EQ(this=col(REPLAYED), expression=exp.Literal.number(batch)))


def _load(ws: Workspace, engine: Engine, fqn: str) -> Relation:
    """The quarantine table's current version as a relation."""
    attach.table(engine, ws.lakehouse, quarantine_of(fqn))
    return engine.relation(select_star(table(quarantine_of(fqn))))


def _append(
    ws: Workspace,
    engine: Engine,
    fqn: str,
    marked: Relation,
    model_cols: list[str],
    batch: int,
    run_id: str,
) -> int:
    """Append the marked rows (model columns only, in the model table's types) in one commit."""
    import pyarrow as pa
    import sqlglot.expressions as exp

    m_path = ws.catalog.path(fqn)
    target = tables.schema(m_path)
    present = [c for c in target.names if c in model_cols]
    rows = engine.fetch(engine.over(marked, exp.select(*[col(c) for c in present]).from_(SRC)))
    rows = pa.Table.from_arrays(
        [
            rows.column(f.name).cast(f.type)
            if f.name in present
            else pa.nulls(rows.num_rows, f.type)
            for f in target
        ],
        schema=target,
    )
    return tables.write(
        m_path,
        rows.to_reader(),
        mode="append",
        run_id=run_id,
        metadata={"medallion.replay": batch, "medallion.model": fqn},
        app_transaction=(app_id("replay", fqn), batch),
    ).version
