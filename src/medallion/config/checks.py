"""How expectations and checks are declared, as pydantic models (validated at load time).

In a model header:

    expectations:                       # row level, evaluated in one pass as the model is built
      valid_email:
        expect: regexp_matches(email, '^[^@ ]+@[^@ ]+[.][^@ ]+$')
        action: quarantine              # warn (default) | drop | quarantine | fail
      positive_quantity: quantity > 0   # short form: the predicate, action warn
    checks:                             # table level, run on the table right after it is written
      - unique: order_id                # one column, or a list: a combination
      - not_null: [order_id, customer_id]
      - accepted_values: {column: status, values: [pending, shipped]}
      - relationships: {column: customer_id, to: silver.dim_customers.customer_id}
        severity: warn                  # error (default) | warn
      - row_count: {min: 1}
      - expression_is_true: net_amount >= 0
      - freshness: {column: updated_at, max_age: 2 days}
      - reconciliation:
          expression: sum(total_sales)
          equals: {table: silver.fact_orders, expression: sum(net_amount)}
          tolerance: 0.01
      - anomaly: {metric: row_count, method: relative, threshold: 0.5}

Every check accepts `severity`, `name` (default: derived from type and columns), `where` (a
filter on the checked table) and `description`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

Action = Literal["warn", "drop", "quarantine", "fail"]
Severity = Literal["error", "warn"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectation(_Strict):
    #: a SQL boolean over the model's output columns; a row passes when it is TRUE
    #: (FALSE and NULL are violations: write `x IS NULL OR x > 0` to let NULLs through)
    expect: str
    action: Action = "warn"
    description: str | None = None


def normalize_expectations(value: Any) -> Any:
    """`name: predicate` short form -> `name: {expect: predicate}`."""
    if isinstance(value, dict):
        return {
            name: {"expect": spec} if isinstance(spec, str) else spec
            for name, spec in value.items()
        }
    return value


class _Check(_Strict):
    severity: Severity = "error"
    name: str | None = None
    where: str | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", v):
            raise ValueError("a check name is letters, digits and underscores")
        return v

    @property
    def check_name(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:40] or "x"


class NotNull(_Check):
    type: Literal["not_null"] = "not_null"
    columns: list[str]

    def default_name(self) -> str:
        return "not_null_" + "__".join(self.columns)


class Unique(_Check):
    type: Literal["unique"] = "unique"
    #: one column, or several that are unique together
    columns: list[str]

    def default_name(self) -> str:
        return "unique_" + "__".join(self.columns)


class AcceptedValues(_Check):
    type: Literal["accepted_values"] = "accepted_values"
    column: str
    values: list[str | int | float | bool]

    def default_name(self) -> str:
        return f"accepted_values_{self.column}"


class Relationships(_Check):
    type: Literal["relationships"] = "relationships"
    column: str
    #: `<layer>.<table>.<column>`, or `<layer>.<table>` with `field`
    to: str
    field: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Relationships:
        parts = self.to.split(".")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError("relationships `to` is <layer>.<table>.<column>")
        if len(parts) == 2 and self.field is None:
            object.__setattr__(self, "field", self.column)
        if len(parts) == 3:
            object.__setattr__(self, "field", parts[2])
            object.__setattr__(self, "to", ".".join(parts[:2]))
        return self

    def default_name(self) -> str:
        return f"relationships_{self.column}__{self.to.replace('.', '_')}"


class RowCount(_Check):
    type: Literal["row_count"] = "row_count"
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("row_count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"row_count min ({self.min}) is greater than max ({self.max})")
        return self

    def default_name(self) -> str:
        return "row_count"


class ExpressionIsTrue(_Check):
    type: Literal["expression_is_true"] = "expression_is_true"
    expression: str

    def default_name(self) -> str:
        return "expression_is_true_" + _slug(self.expression)


_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


class Freshness(_Check):
    type: Literal["freshness"] = "freshness"
    column: str
    #: e.g. "36 hours", "2 days": the newest value must be at most this old (now, UTC)
    max_age: str

    @field_validator("max_age")
    @classmethod
    def _age(cls, v: str) -> str:
        if not _AGE_RE.match(v):
            raise ValueError("max_age is a number and a unit: '90 minutes', '36 hours', '2 days'")
        return v

    @property
    def max_age_seconds(self) -> float:
        m = _AGE_RE.match(self.max_age)
        assert m
        unit = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
        return float(m.group(1)) * unit[m.group(2).lower()]

    def default_name(self) -> str:
        return f"freshness_{self.column}"


class ReconTarget(_Strict):
    table: str
    expression: str
    where: str | None = None


class Reconciliation(_Check):
    """An aggregate of this table equals an aggregate of another, within a tolerance."""

    type: Literal["reconciliation"] = "reconciliation"
    expression: str
    equals: ReconTarget
    #: absolute difference allowed (or relative to the other side with `relative: true`)
    tolerance: float = 0.0
    relative: bool = False

    def default_name(self) -> str:
        return "reconciliation_" + _slug(self.equals.table)


class Anomaly(_Check):
    """A metric of the table compared with its values in the last successful runs."""

    type: Literal["anomaly"] = "anomaly"
    #: `row_count`, or an aggregate SQL expression such as `sum(total_sales)`
    metric: str = "row_count"
    #: relative: |x - mean| / |mean| > threshold; zscore: |x - mean| / stddev > threshold
    method: Literal["relative", "zscore"] = "relative"
    threshold: float | None = None
    #: how many past values to compare with
    window: int = Field(default=10, ge=1)
    #: fewer past values than this: the check passes with "not enough history"
    min_history: int | None = None

    @property
    def limit(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return 3.0 if self.method == "zscore" else 0.5

    @property
    def needed_history(self) -> int:
        if self.min_history is not None:
            return self.min_history
        return 3 if self.method == "zscore" else 1

    def default_name(self) -> str:
        return "anomaly_" + _slug(self.metric)


CheckSpec = Annotated[
    NotNull
    | Unique
    | AcceptedValues
    | Relationships
    | RowCount
    | ExpressionIsTrue
    | Freshness
    | Reconciliation
    | Anomaly,
    Field(discriminator="type"),
]

CHECK_TYPES = (
    "not_null",
    "unique",
    "accepted_values",
    "relationships",
    "row_count",
    "expression_is_true",
    "freshness",
    "reconciliation",
    "anomaly",
)
_COMMON = {"severity", "name", "where", "description"}
# what a bare value (not a mapping) means for each check type
_SHORT = {
    "not_null": "columns",
    "unique": "columns",
    "expression_is_true": "expression",
    "anomaly": "metric",
    "row_count": "min",
}


def normalize_check(item: Any) -> Any:
    """`{unique: order_id, severity: warn}` -> `{type: unique, columns: [order_id], ...}`.

    Anything that is not recognisably a check is returned unchanged for pydantic to reject with
    its own message."""
    if not isinstance(item, dict) or "type" in item:
        return item
    kinds = [k for k in item if k in CHECK_TYPES]
    if len(kinds) != 1:
        unknown = [k for k in item if k not in _COMMON]
        if not kinds and unknown:
            from medallion.errors import suggest

            guess = suggest(unknown[0], CHECK_TYPES)
            raise ValueError(
                f"unknown check type {unknown[0]!r}"
                + (f" — did you mean {guess!r}?" if guess else "")
                + f"; check types: {', '.join(CHECK_TYPES)}"
            )
        raise ValueError("each check is one of: " + ", ".join(CHECK_TYPES) + " (one per list item)")
    kind = kinds[0]
    value = item[kind]
    out: dict[str, Any] = {"type": kind}
    if isinstance(value, dict):
        out.update(value)
    elif value is not None:
        key = _SHORT.get(kind)
        if key is None:
            raise ValueError(f"{kind} needs a mapping of options, e.g. {kind}: {{...}}")
        if key == "columns":
            value = [value] if isinstance(value, str) else value
        out[key] = value
    out.update({k: v for k, v in item.items() if k != kind})
    return out


#: one entry of a `checks:` list, in the short or the long form
CheckItem = Annotated[CheckSpec, BeforeValidator(normalize_check)]
