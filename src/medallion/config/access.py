"""The `access:` block of medallion.yml: who may read what, row filters and column masks.

```yaml
access:
  grants:                  # deny by default; admin/member/contributor roles read everything
    analysts: [gold.*, silver.dim_products]
  row_filters:             # one per table: a SQL predicate; current_user(), is_member('group')
    gold.reporting_sales_wide: "is_member('all_regions') or state in ('CA', 'NY')"
  masks:                   # one per column: email | hash | null | default |
    silver.dim_customers.email: email          # partial(keep_first, 'pad', keep_last) | SQL
    silver.dim_customers.phone: "partial(0, 'XXX-XXX-', 4)"
  unmask: [compliance]     # groups that see masked columns in clear
```

Here the shapes are checked (names, that a filter or mask parses as SQL); which tables and
columns exist is known only once the models and tables are, so `governance.policy` checks those
and names the line through `AccessConfig.line`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

if TYPE_CHECKING:
    from pathlib import Path

    import sqlglot.expressions as exp
    import yaml

_IDENT = r"[a-z_][a-z0-9_]*"
GRANT_RE = re.compile(rf"^({_IDENT})\.({_IDENT}|\*)$")
TABLE_RE = re.compile(rf"^({_IDENT})\.({_IDENT})$")
COLUMN_RE = re.compile(rf"^({_IDENT})\.({_IDENT})\.([A-Za-z_][A-Za-z0-9_]*)$")
PARTIAL_RE = re.compile(
    r"^\s*partial\s*\(\s*(\d+)\s*,\s*'((?:[^']|'')*)'\s*,\s*(\d+)\s*\)\s*$", re.I
)
#: masks by name (SQL Server dynamic data masking's functions, and Unity's null/hash)
NAMED_MASKS = ("email", "hash", "null", "default")
#: the functions a row filter or mask expression may call besides the SQL ones
POLICY_FUNCTIONS = ("current_user", "is_member")
ROLES = ("admin", "member", "contributor", "viewer")


def parse_policy_sql(text: str, what: str) -> exp.Expression:
    """A row filter or mask expression as a SQLGlot tree (DuckDB SQL); ValueError saying what
    does not parse. One expression only: no statement, no subquery."""
    import sqlglot
    import sqlglot.expressions as exp

    try:
        tree = sqlglot.parse_one(text, dialect="duckdb", into=exp.Condition)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as e:
        detail = str(e).splitlines()[0] if str(e) else "not SQL"
        raise ValueError(f"{what} {text!r} does not parse as a SQL expression: {detail}") from None
    if tree is None or tree.find(exp.Query) is not None:
        raise ValueError(f"{what} {text!r} must be one SQL expression, without a subquery")
    return tree


class Partial(BaseModel):
    """partial(keep_first, 'pad', keep_last): the first and last characters kept, the middle
    replaced by `pad` (SQL Server's partial())."""

    model_config = ConfigDict(frozen=True)
    keep_first: int
    pad: str
    keep_last: int


def mask_kind(value: str) -> str | Partial:
    """A mask's kind: a named mask, a Partial, or 'sql' (an expression)."""
    text = value.strip()
    if text.lower() in NAMED_MASKS:
        return text.lower()
    m = PARTIAL_RE.match(text)
    if m:
        return Partial(
            keep_first=int(m.group(1)), pad=m.group(2).replace("''", "'"), keep_last=int(m.group(3))
        )
    return "sql"


class AccessConfig(BaseModel):
    """medallion.yml `access:`. Configured at all, it turns on deny-by-default reads for users
    (`medallion query --as`, the SQL endpoint); pipeline runs read everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: group -> what it may SELECT: `layer.table` or `layer.*` (every table of the layer)
    grants: dict[str, list[str]] = Field(default_factory=dict)
    #: `layer.table` -> a SQL predicate over its columns
    row_filters: dict[str, str] = Field(default_factory=dict)
    #: `layer.table.column` -> email | hash | null | default | partial(a, 'pad', b) | SQL
    masks: dict[str, str] = Field(default_factory=dict)
    #: groups that see masked columns in clear
    unmask: list[str] = Field(default_factory=list)

    _file: Any = PrivateAttr(default=None)
    _node: Any = PrivateAttr(default=None)

    @field_validator("grants")
    @classmethod
    def _grants(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for group, items in v.items():
            if not group.strip():
                raise ValueError("a grant's group name must not be empty")
            for item in items:
                if not GRANT_RE.match(item):
                    raise ValueError(
                        f"grant {item!r} of group {group!r} must be `layer.table` or `layer.*`"
                    )
        return v

    @field_validator("row_filters")
    @classmethod
    def _row_filters(cls, v: dict[str, str]) -> dict[str, str]:
        for table, predicate in v.items():
            if not TABLE_RE.match(table):
                raise ValueError(f"row filter key {table!r} must be `layer.table`")
            parse_policy_sql(predicate, f"row filter of {table}")
        return v

    @field_validator("masks", mode="before")
    @classmethod
    def _null_mask(cls, v: object) -> object:
        # `column: null` unquoted is YAML's null: the null mask is meant
        if isinstance(v, dict):
            return {k: "null" if m is None else m for k, m in v.items()}
        return v

    @field_validator("masks")
    @classmethod
    def _masks(cls, v: dict[str, str]) -> dict[str, str]:
        for column, mask in v.items():
            if not COLUMN_RE.match(column):
                raise ValueError(f"mask key {column!r} must be `layer.table.column`")
            if mask_kind(mask) == "sql":
                if mask.strip().lower().startswith("partial"):
                    raise ValueError(
                        f"mask of {column}: {mask!r} must be partial(keep_first, 'pad', keep_last)"
                    )
                parse_policy_sql(mask, f"mask of {column}")
        return v

    def bind(self, file: Path, node: yaml.Node | None) -> None:
        """Where this block was read from, so later checks (a table that does not exist) can
        name the line."""
        self._file = file
        self._node = node

    @property
    def file(self) -> Path | None:
        return self._file

    def line(self, *loc: str | int) -> int | None:
        """The line of `access.<loc...>` in medallion.yml (None when not read from a file)."""
        from medallion.config.loader import node_line

        if self._node is None:
            return None
        return node_line(self._node, ("access", *loc))

    def grant_line(self, group: str, item: str) -> int | None:
        items = self.grants.get(group, [])
        return self.line("grants", group, items.index(item)) if item in items else None
