"""Python models: `models/<layer>/<name>.py` with `def model(ctx)`.

The module is imported fresh for each run from its file; `model(ctx)` returns a pyarrow Table or
RecordBatchReader or a DuckDB relation, which the runner writes like a SQL model's result.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from typing import TYPE_CHECKING, Any

from medallion.errors import ExecutionError, MedallionError

if TYPE_CHECKING:
    import duckdb

    from medallion.engine.base import Engine
    from medallion.models.loader import Model


class ModelContext:
    """What a Python model's `model(ctx)` receives.

    `ctx.table("silver.orders")` and `ctx.sql("select ...")` return DuckDB relations over the
    lakehouse; only tables listed in the model's `depends_on` may be read, so lineage stays true."""

    def __init__(self, engine: Engine, model: Model, run_id: str) -> None:
        self._engine = engine
        self._model = model
        self.run_id = run_id
        self.model = model.fqn
        self.allowed = set(model.depends_on)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self._engine.con

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        if name not in self.allowed:
            raise ExecutionError(
                f"reads {name}, which is not in its depends_on",
                file=self._model.path,
                model=self.model,
                hint=f"add it to the header: depends_on: [{name}]",
            )
        layer, table = name.split(".", 1)
        return self._engine.con.sql(f'SELECT * FROM "{layer}"."{table}"')

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        from medallion.models.sql import parse_select, table_refs

        tree = parse_select(query, error=ExecutionError, file=self._model.path, model=self.model)
        qualified, _ = table_refs(tree)
        for ref in qualified:
            if ref.fqn not in self.allowed:
                self.table(ref.fqn)  # raises the depends_on error
        return self._engine.con.sql(query)


def run_python(engine: Engine, model: Model, run_id: str) -> Any:
    module_name = f"medallion_user_models.{model.layer}.{model.name}"
    spec = importlib.util.spec_from_file_location(module_name, model.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.model(ModelContext(engine, model, run_id))
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
