"""What a model's commit records about the model version and the inputs that built it, beside
the input versions (`medallion.upstream`), so that the table itself says whether it still equals
its model (read back by `medallion plan` and the run: medallion.runner.stale).

- `medallion.fingerprint` / `medallion.definition`: the model's fingerprint and the text it was
  taken of (a changed model shows as a diff against it);
- `medallion.inputs`: the fingerprint of every model it reads (directly or through views): a
  changed upstream model means this table was built from rows the upstream no longer makes;
- `medallion.input_schemas`: each stored input's columns and types (as Arrow prints them): a
  removed or retyped input column is a change the model may not bind to, or reads differently.
- `medallion.spark_translation`: on Spark, for a SQL model, the version of the translations of
  DuckDB's SQL to Spark's (models.dialects.SPARK_TRANSLATION): rows of another version may
  differ in value or type (DuckDB runs the SQL as written: nothing recorded).

After `medallion restore`, the table holds the rows of an earlier build: that build's record is
the one that counts (`last_build`), not the newer build the restore undid. After another Delta
writer changed its rows (or a restore to a version such a writer wrote), no build's record
counts: the model is rebuilt (an scd2 model refused), as `plan` says. A rebuild after another
writer's change undoes that change (a row it deleted comes back): the run does it only when
confirmed (`--yes`, the terminal's "y", or `--full-refresh` of the table).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from medallion.errors import ExecutionError
from medallion.models.dialects import SPARK_TRANSLATION
from medallion.models.fingerprint import definition, fingerprint

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from medallion.build.step import StepContext
    from medallion.models.loader import Model

FINGERPRINT_KEY = "medallion.fingerprint"
DEFINITION_KEY = "medallion.definition"
INPUTS_KEY = "medallion.inputs"
SCHEMAS_KEY = "medallion.input_schemas"
TRANSLATION_KEY = "medallion.spark_translation"
#: why a table built with another Spark translation is rebuilt
TRANSLATION_CHANGED = "Spark's translation of its SQL changed"


def model_inputs(models: dict[str, Model], model: Model) -> dict[str, str]:
    """The fingerprint of each model `model` reads, directly or through views (sources have
    none: what they hold is data, and new data is not a change of model)."""
    found: dict[str, str] = {}
    todo = list(model.depends_on)
    while todo:
        dep = todo.pop(0)
        if dep in found or dep not in models:
            continue
        found[dep] = fingerprint(models[dep])
        if models[dep].kind == "view":
            todo.extend(models[dep].depends_on)
    return found


def column_types(schema: pa.Schema) -> dict[str, str]:
    return {f.name: str(f.type) for f in schema}


def record(ctx: StepContext) -> dict[str, Any]:
    """The commit metadata describing the model version and its inputs (after attach_inputs)."""
    model = ctx.model
    schemas = {}
    for table in ctx.upstream:
        schema = ctx.engine.schema_of(table)
        if schema is not None:
            schemas[table] = column_types(schema)
    found = {
        FINGERPRINT_KEY: fingerprint(model),
        DEFINITION_KEY: definition(model),
        INPUTS_KEY: model_inputs(ctx.ws.models, model),
        SCHEMAS_KEY: schemas,
    }
    if _translated(model, ctx.ws.config.engine.type):
        found[TRANSLATION_KEY] = str(SPARK_TRANSLATION)
    return found


def _translated(model: Model, engine: str) -> bool:
    """Whether the engine runs the model's SQL as translated from DuckDB's (Spark's rewrites)."""
    return engine == "spark" and model.language == "sql"


#: in a `last_build` commit: why what the table holds has no known inputs (not a Delta key)
UNKNOWN_CONTENT = "unknown content"
#: in a `last_build` commit: that content is another Delta writer's change of rows (not a key)
CHANGED_OUTSIDE = "changed outside"
#: in a `last_build` commit: what the plan should say of how the restore was read (not a key)
RESTORE_NOTE = "restore note"
#: what a rebuild after another writer's change does, as the plan and the refusal say it
UNDOES_CHANGE = "a rebuild from its inputs undoes that change"


def last_build(path: Path) -> dict[str, Any] | None:
    """The commit info of the build whose rows the model's table holds (None: never built).
    A restore's commit records only the upstream versions of the version it restored: the
    record of the model and input columns that built those rows is that of the newest build
    at or before that version (itself restored, perhaps), read with the restore's upstream.

    Content no build recorded: restored to a version another Delta writer wrote (or restored
    from one), or rows changed by another writer since the last build. The commit saying so,
    without `medallion.upstream`, with why under UNKNOWN_CONTENT (`unrecorded` tells); never
    the record of a build whose rows the table no longer holds as built."""
    from medallion.storage import changes, tables

    commit = changes.last_build(path)
    history: list[dict[str, Any]] | None = None
    note: str | None = None  # a restore to a time that does not say its zone
    while commit is not None and commit.get(FINGERPRINT_KEY) is None:
        if changes.foreign_change(path, commit):
            why = f"changed outside medallion at version {commit.get('version')}"
            operation = commit.get("operation")
            why = f"{why} ({operation})" if operation else why
            return {**commit, UNKNOWN_CONTENT: why, CHANGED_OUTSIDE: True}
        history = tables.history(path) if history is None else history
        target = changes.restored_to(commit, history)
        unzoned = changes.unzoned_restore_time(commit)
        if note is None and target is not None and unzoned is not None:
            note = f"restored to a time ({unzoned}) that says no zone: read as UTC"
        if target is None:
            if changes.is_restore(commit):  # to a time before the log's first commit
                return _unknown(commit, "restored to a version the Delta log no longer holds")
            break  # a build from before fingerprints were recorded
        built = changes.build_record(path, history, target)
        upstream = commit.get(changes.UPSTREAM_KEY)
        if built is None and upstream is not None:
            break  # the log no longer holds the build: its upstream record is all there is
        if built is None or built.get(changes.UPSTREAM_KEY) is None:
            why = f"restored to version {target}, which no build recorded the inputs of"
            return _unknown(commit, f"{why} ({note})" if note else why)
        commit = {**built, changes.UPSTREAM_KEY: upstream or built[changes.UPSTREAM_KEY]}
    if commit is not None and note is not None:
        return {**commit, RESTORE_NOTE: note}
    return commit


def _unknown(commit: dict[str, Any], why: str) -> dict[str, Any]:
    from medallion.storage import changes

    return {
        **{k: v for k, v in commit.items() if k != changes.UPSTREAM_KEY},
        UNKNOWN_CONTENT: why,
    }


def unrecorded(commit: dict[str, Any]) -> str | None:
    """Why the inputs of the rows the table holds are unknown, for a `last_build` commit
    (restored to, or changed into, content no build recorded); None when a build's record
    counts."""
    why = commit.get(UNKNOWN_CONTENT)
    return str(why) if why is not None else None


def changed_outside(commit: dict[str, Any]) -> bool:
    """Whether a `last_build` commit is another Delta writer's change of the table's rows."""
    return bool(commit.get(CHANGED_OUTSIDE))


def recorded(commit: dict[str, Any], key: str) -> Any:
    """A mapping recorded in a commit's info (written as JSON text: tables.jsonable)."""
    value = commit.get(key)
    return json.loads(value) if isinstance(value, str) else value


def model_change(
    commit: dict[str, Any], model: Model, models: dict[str, Model], engine: str
) -> str | None:
    """Why the table built by `commit` no longer equals `model` run on `engine` (None: it
    does): the model changed, Spark's translation of it changed (or the table's record is from
    before it was recorded), or a model it reads changed. A table built before fingerprints
    were recorded is taken as built by its current model."""
    built_by = commit.get(FINGERPRINT_KEY)
    if built_by is None:
        return None
    if built_by != fingerprint(model):
        return "model changed"
    if _translated(model, engine) and commit.get(TRANSLATION_KEY) != str(SPARK_TRANSLATION):
        return TRANSLATION_CHANGED
    before = recorded(commit, INPUTS_KEY) or {}
    for dep, fp in model_inputs(models, model).items():
        if before.get(dep) not in (None, fp):
            return f"upstream {dep} changed"
    return None


def schema_change(commit: dict[str, Any], now: dict[str, dict[str, str] | None]) -> str | None:
    """A column of an input the build read that is gone, or has another type, in `now` (each
    input's current column types; None: not stored). An added column is no change: rows built
    before could not have read it, and a rebuild would read it as NULL for them too."""
    before: dict[str, dict[str, str]] = recorded(commit, SCHEMAS_KEY) or {}
    for table, columns in before.items():
        current = now.get(table)
        if current is None:
            continue
        for column, type_ in columns.items():
            if column not in current:
                return f"schema of input changed: {table}.{column} was removed"
            if current[column] != type_:
                now_type = current[column]
                return f"schema of input changed: {table}.{column} is {now_type}, was {type_}"
    return None


def output_change(output: pa.Schema, table: pa.Schema) -> str | None:
    """An output column of the model whose type the table does not hold it as (None: every
    column the table has fits it): rows of the model now would not merge into the rows built
    before. A type the table holds more widely (int32 into int64) fits; an added column is no
    change. For when the table's record cannot tell (restored to a build that recorded no
    input schemas, or built before they were recorded)."""
    held = {f.name: f.type for f in table}
    for f in output:
        if f.name in held and not _fits(f.type, held[f.name]):
            return f"output column {f.name} is {f.type}, the table holds it as {held[f.name]}"
    return None


def _fits(new: pa.DataType, held: pa.DataType) -> bool:
    import pyarrow as pa

    t = pa.types
    if new == held:
        return True
    for same in (
        lambda x: t.is_string(x) or t.is_large_string(x) or t.is_string_view(x),
        lambda x: t.is_binary(x) or t.is_large_binary(x) or t.is_binary_view(x),
    ):
        if same(new) and same(held):
            return True
    if t.is_timestamp(new) and t.is_timestamp(held):
        # the writers conform a time zone or a unit to the table's, as they did before
        return True
    if t.is_integer(new) and t.is_integer(held):
        return new.bit_width <= held.bit_width and (
            t.is_signed_integer(held) or not t.is_signed_integer(new)
        )
    if t.is_decimal(held) and (t.is_decimal(new) or t.is_integer(new)):
        # no digit lost: as many or fewer digits after the point and before it (an engine's
        # sum of DECIMAL(10,2) is DECIMAL(38,2) on DuckDB, DECIMAL(20,2) on Spark)
        precision, scale = (new.precision, new.scale) if t.is_decimal(new) else (19, 0)
        return scale <= held.scale and precision - scale <= held.precision - held.scale
    if t.is_floating(new) and t.is_floating(held):
        return new.bit_width <= held.bit_width
    return False


#: why a rebuild of an scd2 table is refused (medallion.runner.stale, the build's own check)
SCD2_HISTORY = (
    "rebuilding an scd2 table from its inputs replaces the history it keeps with one version "
    "per key"
)


def not_rebuilt(model: Model, why: str) -> ExecutionError:
    """The error of a change that would lose what only the table holds."""
    return ExecutionError(
        f"not rebuilt: {why}",
        model=model.fqn,
        file=model.path,
        hint="undo the change, or rebuild it anyway, dropping its closed versions: "
        f"medallion run --select {model.name} --full-refresh --yes",
    )


def not_undone(model: Model, why: str) -> ExecutionError:
    """The error of an unconfirmed rebuild that would undo another Delta writer's change."""
    return ExecutionError(
        f"not rebuilt: {why}; nothing was written",
        model=model.fqn,
        file=model.path,
        hint=f"to rebuild it from its inputs, undoing that change: medallion run --yes (or "
        f"--full-refresh {model.fqn}); to keep the change, make it where the rows come from "
        "(in the source, or a filter in the model: a row deleted only in this table, an "
        "erasure say, comes back with any rebuild), then rebuild",
    )
