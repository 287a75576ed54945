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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medallion.config.loader import parse_yaml, validation_error
from medallion.errors import ConfigError, ModelError
from medallion.quality.spec import CheckItem, Expectation, normalize_expectations

_SQL_HEADER_RE = re.compile(r"\A(?:\s*--[^\n]*\n|\s)*/\*\s*---[ \t]*\n(?P<body>.*?)\*/", re.DOTALL)

ModelKind = Literal["table", "view"]


class ColumnDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str | None = None


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: table: full rebuild, one atomic overwrite commit;
    #: view: not materialized, resolved at query time
    kind: ModelKind = "table"
    description: str | None = None
    partition_by: list[str] = Field(default_factory=list)
    #: column name -> description (a string, or a mapping with `description:`)
    columns: dict[str, str | ColumnDoc] = Field(default_factory=dict)
    #: tables a Python model reads (SQL models get theirs from the SQL)
    depends_on: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    #: row-level rules evaluated while the model is built (see medallion.quality.spec)
    expectations: dict[str, Expectation] = Field(default_factory=dict)
    #: table-level checks run right after the table is written
    checks: list[CheckItem] = Field(default_factory=list)

    @field_validator("expectations", mode="before")
    @classmethod
    def _expectations(cls, v: object) -> object:
        return normalize_expectations(v)

    @field_validator("partition_by", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    def column_descriptions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, doc in self.columns.items():
            text = doc if isinstance(doc, str) else doc.description
            if text:
                out[name] = text
        return out


def split_sql_header(text: str) -> tuple[str | None, int]:
    """(YAML body of the header or None, 0-based line where the body starts)."""
    m = _SQL_HEADER_RE.match(text)
    if not m:
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
