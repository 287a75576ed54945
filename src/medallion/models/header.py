"""The per-model configuration header.

A SQL model may start with a YAML block in a comment, a Python model with a YAML docstring:

    /* ---
    kind: table
    description: One row per order date.
    partition_by: [order_date]
    columns:
      order_date: Calendar day of the order
    --- */
    select ...

The block must be the first thing in the file (blank lines and `--` comments may precede it) and
must open with `---`, so that an ordinary leading comment is never mistaken for configuration.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from medallion.config.checks import CheckItem, Expectation, normalize_expectations
from medallion.config.loader import node_line, parse_yaml, validation_error
from medallion.config.pipelines import Sla
from medallion.errors import ConfigError, ModelError

_SQL_HEADER_RE = re.compile(r"\A(?:\s*--[^\n]*\n|\s)*/\*\s*---[ \t]*\n(?P<body>.*?)\*/", re.DOTALL)

if TYPE_CHECKING:
    from medallion.models.kinds import Kind

#: the header options some kind reads (medallion.models.kinds)
_KIND_FIELDS = {
    "kind",
    "unique_key",
    "delete_when",
    "order_by",
    "track",
    "valid_from",
    "time_column",
    "grain",
    "lookback",
}

ModelKind = Literal["table", "view", "append", "merge", "scd2", "incremental_by_time"]
#: kinds that process only what is new upstream since their last run
INCREMENTAL_KINDS = ("append", "merge", "scd2", "incremental_by_time")


class ColumnDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str | None = None


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: table: full rebuild, one atomic overwrite commit;
    #: view: not materialized, resolved at query time;
    #: append / merge / scd2 / incremental_by_time: incremental (see medallion.build.incremental)
    kind: ModelKind = "table"
    #: merge, scd2: the columns identifying a row
    unique_key: list[str] = Field(default_factory=list)
    #: tables read as "what is new since the last run"; the others are read whole. Default:
    #: every input that only grows (the landing layer's tables and append models). As a
    #: mapping `{table: column}`: the model rows whose `column` holds a value found in that
    #: table's new or changed rows are the ones to recompute (the column is in both).
    incremental_inputs: list[str] | dict[str, str | list[str]] | None = None
    #: merge: rows of the new data matching this predicate are deleted from the table
    delete_when: str | None = None
    #: merge, scd2: when new data holds a key more than once, the row with the highest value of
    #: this expression (or list of expressions, compared in order) wins (default: `_ingested_at`
    #: when the output has it)
    order_by: str | list[str] | None = None
    #: scd2: the columns whose change makes a new version (default: every non-key column)
    track: list[str] | None = None
    #: scd2: column giving when a version became valid (default: the run's start time)
    valid_from: str | None = None
    #: incremental_by_time: the output's time column (a DATE, or TIMESTAMP truncated to `grain`)
    time_column: str | None = None
    grain: Literal["hour", "day", "week", "month"] = "day"
    #: incremental_by_time: also recompute this many earlier periods (late-arriving data)
    lookback: int = Field(default=0, ge=0)
    description: str | None = None
    partition_by: list[str] = Field(default_factory=list)
    #: column name -> description (a string, or a mapping with `description:`)
    columns: dict[str, str | ColumnDoc] = Field(default_factory=dict)
    #: tables a Python model reads (SQL models get theirs from the SQL)
    depends_on: list[str] = Field(default_factory=list)
    #: freshness promise: the table is written at least this often ('26 hours')
    sla: Sla = None

    tags: list[str] = Field(default_factory=list)
    #: row-level rules evaluated while the model is built (see medallion.config.checks)
    expectations: dict[str, Expectation] = Field(default_factory=dict)
    #: table-level checks run right after the table is written
    checks: list[CheckItem] = Field(default_factory=list)

    @field_validator("expectations", mode="before")
    @classmethod
    def _expectations(cls, v: object) -> object:
        return normalize_expectations(v)

    @field_validator("partition_by", "unique_key", "track", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _kind_options(self) -> ModelConfig:
        kind = self.kind
        if kind in ("merge", "scd2") and not self.unique_key:
            raise ValueError(f"kind {kind} needs unique_key: the column(s) identifying a row")
        if kind == "incremental_by_time" and not self.time_column:
            raise ValueError("kind incremental_by_time needs time_column")
        misplaced = {
            "unique_key": bool(self.unique_key) and kind not in ("merge", "scd2"),
            "delete_when": self.delete_when is not None and kind != "merge",
            "order_by": self.order_by is not None and kind not in ("merge", "scd2"),
            "track": self.track is not None and kind != "scd2",
            "valid_from": self.valid_from is not None and kind != "scd2",
            "time_column": self.time_column is not None and kind != "incremental_by_time",
            "lookback": self.lookback != 0 and kind != "incremental_by_time",
            "incremental_inputs": self.incremental_inputs is not None
            and kind not in INCREMENTAL_KINDS,
        }
        bad = [k for k, v in misplaced.items() if v]
        if bad:
            raise ValueError(f"{', '.join(bad)} does not apply to kind {kind}")
        return self

    @field_validator("incremental_inputs", mode="before")
    @classmethod
    def _inputs(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @property
    def incremental(self) -> bool:
        return self.kind in INCREMENTAL_KINDS

    @property
    def kind_config(self) -> Kind:
        """This kind's options as its own typed class (medallion.models.kinds)."""
        from medallion.models.kinds import KINDS

        return KINDS[self.kind].model_validate(self.model_dump(include=_KIND_FIELDS))

    def column_descriptions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, doc in self.columns.items():
            text = doc if isinstance(doc, str) else doc.description
            if text:
                out[name] = text
        return out


_HEADER_OPEN_RE = re.compile(r"\A(?:\s*--[^\n]*\n|\s)*/\*\s*---[ \t]*\n")


def split_sql_header(text: str, path: Path | None = None) -> tuple[str | None, int]:
    """(YAML body of the header or None, 0-based line where the body starts). A header opened
    with `/* ---` and never closed is a ModelError (DuckDB would report the whole file as one
    unterminated comment)."""
    m = _SQL_HEADER_RE.match(text)
    if not m:
        opened = _HEADER_OPEN_RE.match(text)
        if opened is not None:
            raise ModelError(
                "the model header is never closed",
                file=path,
                line=text.count("\n", 0, opened.end() - 1) + 1,
                hint="end the header with a line `--- */` before the SELECT",
            )
        return None, 0
    body = m.group("body")
    # an optional closing '---' line before '*/'
    body = re.sub(r"\n[ \t]*---[ \t]*\n?[ \t]*\Z", "\n", body)
    return body, text.count("\n", 0, m.start("body"))


def python_header(source: str, path: Path) -> tuple[str | None, int]:
    """(YAML body of a Python model's docstring header or None, 0-based start line)."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        raise ModelError(
            f"Python syntax error: {e.msg}", file=path, line=e.lineno, column=e.offset
        ) from None
    if not tree.body:
        return None, 0
    first = tree.body[0]
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return None, 0
    doc = first.value.value
    stripped = doc.lstrip()
    if not stripped.startswith("---"):
        return None, 0
    body = stripped[3:]
    body = re.sub(r"\n[ \t]*---[ \t]*\s*\Z", "\n", body)
    # the docstring's first line is the opening quotes line; lines before '---' shift the body
    skipped = doc[: len(doc) - len(stripped)].count("\n")
    return body, first.lineno - 1 + skipped


def parse_header(body: str | None, start_line: int, path: Path) -> ModelConfig:
    if body is None or not body.strip():
        return ModelConfig()
    try:
        data, node = parse_yaml(body, path, line_offset=start_line)
    except ConfigError as e:
        raise ModelError(e.message, file=path, line=e.line, column=e.column, hint=e.hint) from None
    if data is None:
        return ModelConfig()
    if not isinstance(data, dict):
        raise ModelError(
            "the model header must be a YAML mapping (kind:, description:, ...)",
            file=path,
            line=start_line + 1,
        )
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as e:
        err = validation_error(e, ModelConfig, file=path, node=node, line_offset=start_line)
        raise ModelError(
            err.message, file=path, line=err.line, key=err.key, hint=err.hint
        ) from None


def header_line(path: Path, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line in model file `path` of the header value at `loc` (e.g. ('expectations',
    'pos', 'expect'); the nearest enclosing value when the path goes deeper than the YAML), for
    an error found after the header was loaded. None when the file has no such header."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        body, start = (
            split_sql_header(text, path) if path.suffix == ".sql" else python_header(text, path)
        )
        if body is None:
            return None
        _, node = parse_yaml(body, path, line_offset=start)
    except (OSError, UnicodeDecodeError, ModelError, ConfigError):
        return None
    line = node_line(node, loc)
    return None if line is None else line + start
