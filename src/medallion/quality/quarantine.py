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
from medallion.config.names import QUARANTINE_SUFFIX
from medallion.engine import attach
from medallion.errors import ExecutionError, SelectionError
from medallion.quality.expectations import OK_PREFIX, wrap
from medallion.storage import parquet, tables
from medallion.storage.catalog import app_id
from medallion.storage.quarantine import MODEL_EXTRA

if TYPE_CHECKING:
    import pyarrow as pa

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
        return engine.reader(rel.limit(limit) if limit else rel).read_all()
    finally:
        engine.close()


def replay(ws: Workspace, name: str, run_id: str) -> ReplayResult:
    import pyarrow as pa

    fqn = resolve(ws, name)
    if fqn in ws.source_tables:
        raise ExecutionError(
            f"{fqn} quarantines rows its files could not parse; they cannot be replayed",
            hint="fix the files and ingest them again (medallion run --full-refresh)",
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
        model_cols = [c for c in q.columns if c not in (*MODEL_EXTRA, REPLAYED)]

        # finish a replay that was interrupted after marking its rows
        if REPLAYED in q.columns:
            batches = q.query("__q", f'SELECT DISTINCT "{REPLAYED}" FROM __q').fetchall()
            for (batch,) in sorted(b for b in batches if b[0] is not None):
                marked = q.filter(f'"{REPLAYED}" = {int(batch)}')
                if batch > done:
                    _append(ws, fqn, marked, model_cols, int(batch), run_id)
                    done = int(batch)
                result.recovered += _count(marked)
            if result.recovered:
                _remove_marked(q_path, run_id)
                q = _load(ws, engine, fqn)

        result.examined = _count(q)
        candidates = q.project(", ".join(_quote(c) for c in [*model_cols, "_quarantine_id"]))
        checked = wrap(candidates, model.config.expectations, model=fqn, file=model.path)
        strict = [
            f'"{OK_PREFIX}{i}"'
            for i, e in enumerate(model.config.expectations.values())
            if e.action != "warn"
        ]
        passing = checked.filter(" AND ".join(strict) or "TRUE").project('"_quarantine_id"')
        ids = [r[0] for r in passing.fetchall()]
        if ids:
            batch = done + 1
            result.batch = batch
            engine.con.register(
                "__medallion_replay_ids",
                pa.Table.from_arrays([arrays.strings(ids)], names=["_quarantine_id"]),
            )
            keep = ", ".join(f"q.{_quote(c)}" for c in q.columns if c != REPLAYED)
            marked_all = q.query(
                "__q",
                f"SELECT {keep}, CASE WHEN i._quarantine_id IS NOT NULL THEN {batch} END::BIGINT"
                f' AS "{REPLAYED}" FROM __q AS q'
                " LEFT JOIN __medallion_replay_ids AS i USING (_quarantine_id)",
            )
            # 1. mark, 2. append to the model, 3. remove from the quarantine
            tables.write(
                q_path,
                marked_all.arrow(),
                mode="overwrite",
                run_id=run_id,
                metadata={"medallion.replay": batch},
            )
            q = _load(ws, engine, fqn)
            marked = q.filter(f'"{REPLAYED}" = {batch}')
            result.model_version = _append(ws, fqn, marked, model_cols, batch, run_id)
            _remove_marked(q_path, run_id)
            result.moved = len(ids)
        result.remaining = tables.info(q_path).rows
    finally:
        engine.close()
    return result


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(rel: Any) -> int:
    return int(rel.aggregate("count(*)").fetchall()[0][0])


def _load(ws: Workspace, engine: Any, fqn: str) -> Any:
    """The quarantine table's current version as a relation."""
    layer, name = fqn.split(".", 1)
    attach.table(engine, ws.lakehouse, f"{fqn}{QUARANTINE_SUFFIX}")
    return engine.con.sql(f'SELECT * FROM "{layer}"."{name}{QUARANTINE_SUFFIX}"')


def _append(
    ws: Workspace, fqn: str, marked: Any, model_cols: list[str], batch: int, run_id: str
) -> int:
    """Append the marked rows (model columns only, in the model table's types) in one commit."""
    import pyarrow as pa

    m_path = ws.catalog.path(fqn)
    target = pa.schema(tables.open_table(m_path).schema().to_arrow())
    present = [c for c in target.names if c in model_cols]
    table = marked.project(", ".join(_quote(c) for c in present)).arrow().read_all()
    table = pa.Table.from_arrays(
        [
            table.column(f.name).cast(f.type)
            if f.name in present
            else pa.nulls(table.num_rows, f.type)
            for f in target
        ],
        schema=target,
    )
    return tables.write(
        m_path,
        table.to_reader(),
        mode="append",
        run_id=run_id,
        metadata={"medallion.replay": batch, "medallion.model": fqn},
        app_transaction=(app_id("replay", fqn), batch),
    ).version


def _remove_marked(q_path: Any, run_id: str) -> None:
    from deltalake import CommitProperties

    tables.open_table(q_path).delete(
        f"{REPLAYED} IS NOT NULL",
        commit_properties=CommitProperties(custom_metadata={tables.RUN_ID_KEY: run_id}),
        writer_properties=parquet.writer_properties(),
    )
