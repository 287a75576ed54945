"""Discover model files and load them: header, SQL tree, dependencies.

Layout: `<models>/<layer>/<name>.sql` or `.py`; sub-folders below a layer folder are allowed for
organisation (`models/silver/staging/stg_orders.sql` is `silver.stg_orders`). Everything that can be
checked without running is checked here, so a broken project fails before any table is written.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from medallion.config.names import QUARANTINE_SUFFIX
from medallion.config.schema import check_name
from medallion.errors import ModelError, suggest
from medallion.models.header import ModelConfig, parse_header, python_header, split_sql_header
from medallion.models.jinja import jinja_error
from medallion.models.sql import parse_select, resolve_refs

if TYPE_CHECKING:
    import sqlglot.expressions as exp

PY_ENTRYPOINT = "model"


@dataclass
class Model:
    name: str
    layer: str
    path: Path
    language: Literal["sql", "python"]
    config: ModelConfig
    text: str
    tree: exp.Expression | None = None
    depends_on: list[str] = field(default_factory=list)
    #: incremental kinds: the inputs read as "new since the last run" (resolved at load), each
    #: with the columns (in the input and the output) that say which rows it touches, or None:
    #: then the unique_key / time_column when the input has them, else found by running the SQL
    incremental_inputs: dict[str, list[str] | None] = field(default_factory=dict)
    #: `fingerprint.definition`'s text, with what it was taken of (see there)
    memo: tuple[object, object, str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def materialized(self) -> bool:
        return self.config.kind != "view"


def discover(models_dir: Path, layers: list[str]) -> list[tuple[str, Path]]:
    """(layer, file) for every model file, sorted; errors on folders that are not layers."""
    found: list[tuple[str, Path]] = []
    if not models_dir.is_dir():
        return found
    for child in sorted(models_dir.iterdir()):
        if child.name.startswith((".", "_")):
            continue
        if child.is_file():
            if child.suffix in (".sql", ".py"):
                raise ModelError(
                    "model files go in a folder named after their layer",
                    file=child,
                    hint=f"move it to {models_dir.name}/<layer>/{child.name} "
                    f"(layers: {', '.join(layers)})",
                )
            continue
        if child.name not in layers:
            guess = suggest(child.name, layers)
            raise ModelError(
                f"folder {child.name!r} is not a layer",
                file=child,
                hint=f"did you mean {guess!r}?" if guess else f"layers are: {', '.join(layers)}",
            )
        for path in sorted(child.rglob("*")):
            if (
                path.is_file()
                and path.suffix in (".sql", ".py")
                and not any(part.startswith((".", "_")) for part in path.relative_to(child).parts)
            ):
                found.append((child.name, path))
    return found


def read_model(layer: str, path: Path) -> Model:
    """Read one file and its header; SQL/dependencies are resolved later by `load_models`."""
    name = path.stem
    try:
        check_name(name, "model name")
    except ValueError as e:
        raise ModelError(str(e), file=path, hint="rename the file") from None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ModelError(f"file is not UTF-8 text ({e.reason})", file=path) from None
    if path.suffix == ".sql":
        body, start = split_sql_header(text, path)
        config = parse_header(body, start, path)
        return Model(name, layer, path, "sql", config, text)
    body, start = python_header(text, path)
    config = parse_header(body, start, path)
    tree = ast.parse(text, filename=str(path))
    if not any(
        isinstance(node, ast.FunctionDef) and node.name == PY_ENTRYPOINT for node in tree.body
    ):
        raise ModelError(
            f"a Python model must define `def {PY_ENTRYPOINT}(ctx):`",
            file=path,
            hint="it receives the run context and returns an Arrow table/reader "
            "or a DuckDB relation",
        )
    return Model(name, layer, path, "python", config, text)


def load_models(models_dir: Path, layers: list[str], source_tables: set[str]) -> dict[str, Model]:
    """All models of a project, keyed by `<layer>.<name>`, with dependencies resolved."""
    models: dict[str, Model] = {}
    for layer, path in discover(models_dir, layers):
        model = read_model(layer, path)
        if model.fqn in models:
            other = models[model.fqn].path
            raise ModelError(
                f"two models are named {model.fqn}", file=path, hint=f"the other one is {other}"
            )
        if model.fqn in source_tables:
            raise ModelError(
                f"{model.fqn} is already the table a source lands in",
                file=path,
                hint="rename the model or the source in medallion.yml",
            )
        models[model.fqn] = model

    # quarantine tables are readable too (e.g. a view exposing them, as a DLT pipeline's
    # `events_quarantine`): every source's, and those of models that quarantine rows
    quarantines = {f"{t}{QUARANTINE_SUFFIX}" for t in source_tables} | {
        f"{fqn}{QUARANTINE_SUFFIX}"
        for fqn, m in models.items()
        if any(e.action == "quarantine" for e in m.config.expectations.values())
    }
    known = set(source_tables) | set(models) | quarantines
    for model in models.values():
        where = {"file": model.path, "model": model.fqn}
        if model.language == "sql":
            try:
                model.tree = parse_select(model.text, error=ModelError, **where)
            except ModelError as e:
                # Jinja left in the file says better than DuckDB why it does not parse
                raise jinja_error(model.text, known, **where) or e from None
            model.depends_on = resolve_refs(
                model.tree, sql=model.text, layers=layers, known=known, error=ModelError, **where
            )
            if model.config.depends_on:
                raise ModelError(
                    "depends_on is for Python models; a SQL model's dependencies come from its SQL",
                    **where,
                )
        else:
            deps: list[str] = []
            for dep in model.config.depends_on:
                layer, _, name = dep.partition(".")
                if not name or layer not in layers:
                    raise ModelError(
                        f"depends_on entry {dep!r} must be <layer>.<name>",
                        hint=f"layers are: {', '.join(layers)}",
                        **where,
                    )
                if dep not in known:
                    guess = suggest(dep, sorted(known))
                    raise ModelError(
                        f"depends_on names unknown table {dep}",
                        hint=f"did you mean {guess}?" if guess else None,
                        **where,
                    )
                deps.append(dep)
            model.depends_on = deps
        if model.fqn in model.depends_on:
            raise ModelError(f"{model.fqn} reads itself", **where)
        if model.config.expectations:
            from medallion.models.checks import validate_expectations

            if model.config.kind == "view":
                raise ModelError(
                    "a view has no expectations (nothing is written to route rows from)",
                    hint="make it kind: table, or move the rules to checks:",
                    **where,
                )
            validate_expectations(model.config.expectations, model=model.fqn, file=model.path)
        if model.config.incremental and model.language == "python":
            raise ModelError(
                f"a Python model cannot be kind {model.config.kind}",
                hint="use kind: table, or write the model in SQL",
                **where,
            )
        if model.language == "python" and model.config.kind == "view":
            raise ModelError("a Python model cannot be a view", hint="use kind: table", **where)
        if model.config.kind == "view" and model.config.partition_by:
            raise ModelError("a view cannot be partitioned (partition_by)", **where)
    for model in models.values():
        if model.config.incremental:
            model.incremental_inputs = _incremental_inputs(model, models, layers[0])
    return models


def _incremental_inputs(
    model: Model, models: dict[str, Model], landing: str
) -> dict[str, list[str] | None]:
    """The inputs an incremental model reads as new rows only: as declared, or by default every
    input that only grows (the landing layer's tables, append models)."""
    declared = model.config.incremental_inputs
    if isinstance(declared, dict):
        chosen: dict[str, list[str] | None] = {
            t: [c] if isinstance(c, str) else list(c) for t, c in declared.items()
        }
    elif declared is not None:
        chosen = dict.fromkeys(declared)
    else:
        chosen = dict.fromkeys(
            t
            for t in model.depends_on
            if t.split(".", 1)[0] == landing or (t in models and models[t].kind == "append")
        )
    # an input may be a table the model reads through views (views have no versions)
    reachable: list[str] = []
    todo = list(model.depends_on)
    while todo:
        t = todo.pop(0)
        if t not in reachable:
            reachable.append(t)
            if t in models and models[t].kind == "view":
                todo.extend(models[t].depends_on)
    unknown = [t for t in chosen if t not in reachable]
    if unknown:
        raise ModelError(
            f"incremental_inputs names {unknown[0]}, which the model does not read",
            file=model.path,
            model=model.fqn,
            hint=f"it reads: {', '.join(reachable)}",
        )
    for t in chosen:
        if t in models and models[t].kind == "view":
            raise ModelError(
                f"incremental input {t} is a view; only tables have versions to read new rows from",
                file=model.path,
                model=model.fqn,
                hint="make the view a table, or list the tables it reads in incremental_inputs",
            )
    if not chosen:
        raise ModelError(
            f"kind {model.config.kind} needs at least one input read incrementally",
            file=model.path,
            model=model.fqn,
            hint="list them: incremental_inputs: [<layer>.<table>, ...]",
        )
    return chosen
