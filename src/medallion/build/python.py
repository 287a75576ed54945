"""Python models: `models/<layer>/<name>.py` with `def model(ctx)`.

The module is imported fresh for each run from its file; `model(ctx)` returns a pyarrow Table or
RecordBatchReader or a relation of the engine (`ctx.sql(...)`), which is written like a SQL
model's result (a Python model is of kind `table`).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from typing import TYPE_CHECKING, Any

from medallion.errors import AccessDeniedError, ExecutionError, MedallionError
from medallion.sqltree import select_star, table

if TYPE_CHECKING:
    from medallion.build.step import StepContext
    from medallion.engine.base import Engine, Relation
    from medallion.models.loader import Model


class ModelContext:
    """What a Python model's `model(ctx)` receives.

    `ctx.table("silver.orders")` and `ctx.sql("select ...")` return relations of the engine (on
    DuckDB, DuckDB relations) over the lakehouse; only tables listed in the model's `depends_on`
    may be read, so lineage stays true. `ctx.con` is DuckDB's connection itself, for what the
    relations do not offer: it reads around medallion's read path, so it is refused where a
    read policy controls access."""

    def __init__(
        self, engine: Engine, model: Model, run_id: str, *, governed: bool = False
    ) -> None:
        self._engine = engine
        self._governed = governed
        self._model = model
        self.run_id = run_id
        self.model = model.fqn
        self.allowed = set(model.depends_on)

    @property
    def con(self) -> Any:
        if self._governed:
            raise AccessDeniedError(
                "ctx.con reads around the project's read policy, so it is not available where "
                "access is controlled",
                file=self._model.path,
                model=self.model,
                hint="read with ctx.table(...) or ctx.sql(...)",
            )
        return self._engine.native()

    def table(self, name: str) -> Relation:
        if name not in self.allowed:
            raise ExecutionError(
                f"reads {name}, which is not in its depends_on",
                file=self._model.path,
                model=self.model,
                hint=f"add it to the header: depends_on: [{name}]",
            )
        return self._engine.relation(select_star(table(name)))

    def sql(self, query: str) -> Relation:
        from medallion.models.sql import parse_select, table_refs

        tree = parse_select(query, error=ExecutionError, file=self._model.path, model=self.model)
        qualified, _ = table_refs(tree)
        for ref in qualified:
            if ref.fqn not in self.allowed:
                self.table(ref.fqn)  # raises the depends_on error
        return self._engine.relation(query)


def relation(ctx: StepContext) -> Relation:
    """The Python model run, its return value as a relation (so expectations apply as to a SQL
    model's)."""
    from medallion.engine.attach import AllowAll

    governed = not isinstance(ctx.ws.policy, AllowAll)
    value = run_python(ctx.engine, ctx.model, ctx.run_id, governed=governed)
    try:
        return ctx.engine.result_relation(value)
    except TypeError as e:
        raise ExecutionError(
            f"model() returned {e}; return a pyarrow Table/RecordBatchReader or a DuckDB relation",
            file=ctx.model.path,
            model=ctx.model.fqn,
        ) from None


def run_python(engine: Engine, model: Model, run_id: str, *, governed: bool = False) -> Any:
    module_name = f"medallion_user_models.{model.layer}.{model.name}"
    spec = importlib.util.spec_from_file_location(module_name, model.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.model(ModelContext(engine, model, run_id, governed=governed))
    except MedallionError:
        raise
    except Exception as e:
        tb = traceback.extract_tb(sys.exc_info()[2])
        frames = [f for f in tb if f.filename == str(model.path)]
        line = frames[-1].lineno if frames else None
        raise ExecutionError(
            f"Python model raised {type(e).__name__}: {e}",
            file=model.path,
            line=line,
            model=model.fqn,
        ) from None
