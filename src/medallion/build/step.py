"""What building one model needs: the `StepContext` every build strategy receives, and the
preparation they share (the model's inputs attached and their versions recorded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.engine import attach
from medallion.errors import ExecutionError
from medallion.models.header_keys import missing_key_column

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.engine.attach import Lakehouse
    from medallion.engine.base import Engine, Relation
    from medallion.models.loader import Model
    from medallion.state.records import StepResult
    from medallion.workspace import Workspace


@dataclass
class StepContext:
    """One model step of a run: the project, the engine, the model, the run and the result the
    step fills in."""

    ws: Workspace
    engine: Engine
    model: Model
    run_id: str
    result: StepResult
    full_refresh: bool = False
    #: versions of the (materialized) tables the model reads, as attached for this step
    upstream: dict[str, int] = field(default_factory=dict)
    #: the user accepted rebuilds that shrink tables (`run --yes`)
    confirmed: bool = False
    #: rows in the table before a rebuild (full_refresh): an unconfirmed rebuild must keep at
    #: least half of them, or it fails before committing (a changed filter or a lost input
    #: must not empty a table unasked)
    rows_before: int | None = None
    #: columns the model's kind adds to its output (scd2's valid_from ...), as Arrow fields:
    #: the table's checks may name them
    added: list[pa.Field] = field(default_factory=list)

    @property
    def path(self) -> Path:
        """The model's Delta table."""
        return self.ws.catalog.path(self.model.fqn)

    @cached_property
    def lakehouse(self) -> Lakehouse:
        return self.ws.lakehouse

    @cached_property
    def last_build(self) -> dict[str, Any] | None:
        """The commit info of the build whose rows the table holds (after a restore, the
        restored one's: record.last_build), read once for the step (None: never built)."""
        from medallion.build.record import last_build

        return last_build(self.path)

    def relation(self) -> Relation:
        """The SQL model's query as a relation: bound against its inputs, not run. A binder or
        parser error is an ExecutionError pointing at the model file and line, as is a header
        key naming a column the query does not output."""
        try:
            rel = self.engine.relation(self.model.text)
        except Exception as e:
            raise self.engine.model_error(e, self.model) from None
        refuse_unbound_checks(self.ws, self.engine, rel, self.model.fqn, self.added)
        added = [f.name for f in self.added]
        if (missing := missing_key_column(self.model, self.engine.columns(rel), added)) is not None:
            raise missing
        return rel

    def delta_safe(self, rel: Relation) -> Relation:
        """`rel` with the columns Delta cannot store cast (a bad cast names the model line)."""
        try:
            return self.engine.delta_safe(rel)
        except Exception as e:
            raise self.engine.model_error(e, self.model) from None

    def attach_inputs(self) -> None:
        """Make every input readable and record the versions of the tables behind them (and
        their rows, read from the Delta log) in the step's result."""
        model, engine, lh = self.model, self.engine, self.lakehouse
        for dep in model.depends_on:
            attach.readable(engine, lh, dep, reader=model.fqn)
        rows_read = 0
        for base in attach.base_tables(lh, model.depends_on):
            attach.readable(engine, lh, base, reader=model.fqn)
            version = engine.version_of(base)
            self.upstream[base] = version if version is not None else -1
            rows_read += engine.rows_of(base)
        self.result.rows_read = rows_read
        self.result.details["upstream_versions"] = self.upstream

    def attach_output(self) -> None:
        """Read the model's table as now written (what downstream steps read)."""
        if self.ws.catalog.exists(self.model.fqn):
            attach.table(self.engine, self.lakehouse, self.model.fqn)

    def require_columns(self, wanted: list[str], columns: list[str], what: str) -> None:
        """An ExecutionError naming the first of `wanted` (a `what` column: partition_by, scd2,
        time_column) missing from the model's output `columns`."""
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise ExecutionError(
                f"{what} column {missing[0]!r} is not in the model's output",
                file=self.model.path,
                model=self.model.fqn,
                hint=f"output columns: {', '.join(columns)}",
            )

    def nothing_written(self, note: str) -> None:
        res = self.result
        res.note = note
        res.rows_in = res.rows_written = res.rows_dropped = res.rows_quarantined = 0


class Build:
    """A model kind's way of building its table (one subclass per kind, chosen by
    medallion.build.STRATEGIES): its inputs attached, `build()`, its table attached again for
    the steps after it."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        ctx.added = self.added_fields()

    @classmethod
    def added_fields(cls) -> list[pa.Field]:
        """The columns this kind adds to the model's output (none by default)."""
        return []

    def run(self) -> None:
        self.ctx.attach_inputs()
        self.build()
        self.ctx.attach_output()

    def build(self) -> None:
        raise NotImplementedError


def refuse_unbound_checks(
    ws: Workspace,
    engine: Engine,
    rel: Relation,
    fqn: str,
    added: list[pa.Field] | None = None,
    *,
    building: bool = True,
) -> None:
    """ExecutionError naming the check, the column and the file declaring the check when one of
    the table's checks would not run on the model's output (a misspelt column): raised before
    the table is written, as the model's own binder errors are."""
    specs = ws.checks.tables.get(fqn)
    if not specs:
        return
    from medallion.quality.checks import unbound_check

    found = unbound_check(engine, rel, specs, added or [])
    if found is None:
        return
    spec, why = found
    raise ExecutionError(
        f"{why}; nothing was written" if building else why,
        file=ws.checks.origin.get((fqn, spec.check_name)),
        model=fqn,
        hint="fix the column's name in the check (or add the column to the model)",
    )
