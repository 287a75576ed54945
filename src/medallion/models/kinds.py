"""One typed configuration per model kind: what a kind's build strategy receives.

A model header is one flat mapping (`kind: merge`, `unique_key: ...`), validated by
`models.header.ModelConfig`, which also refuses options that do not apply to the kind. Each kind's
options, and only those, are then read as that kind's class (`ModelConfig.kind_config`), so a
strategy works with exactly what its kind has.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class Kind(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    #: columns the kind adds to the query's own, with their SQL types: what a table of this
    #: kind has beside what its model selects (`medallion validate` binds downstream models
    #: against them)
    added_columns: ClassVar[dict[str, str]] = {}


class TableKind(Kind):
    """Rebuilt whole from its inputs, one atomic overwrite commit."""

    kind: Literal["table"] = "table"


class ViewKind(Kind):
    """Not materialized: a view resolved when read."""

    kind: Literal["view"] = "view"


class AppendKind(Kind):
    """New input rows' results appended."""

    kind: Literal["append"] = "append"


class MergeKind(Kind):
    """Upsert by `unique_key` (SCD type 1), optionally deleting rows matching `delete_when`."""

    kind: Literal["merge"] = "merge"
    unique_key: list[str]
    delete_when: str | None = None
    order_by: str | list[str] | None = None


class SCD2Kind(Kind):
    """History by `unique_key`: a changed `track` column closes the current version."""

    kind: Literal["scd2"] = "scd2"
    added_columns: ClassVar[dict[str, str]] = {
        "valid_from": "TIMESTAMPTZ",
        "valid_to": "TIMESTAMPTZ",
        "is_current": "BOOLEAN",
    }
    unique_key: list[str]
    order_by: str | list[str] | None = None
    track: list[str] | None = None
    valid_from: str | None = None


class ByTimeKind(Kind):
    """The periods of `time_column` (at `grain`) touched by new rows, plus `lookback` earlier
    ones, recomputed and replaced."""

    kind: Literal["incremental_by_time"] = "incremental_by_time"
    time_column: str
    grain: Literal["hour", "day", "week", "month"] = "day"
    lookback: int = 0


KINDS: dict[str, type[Kind]] = {
    "table": TableKind,
    "view": ViewKind,
    "append": AppendKind,
    "merge": MergeKind,
    "scd2": SCD2Kind,
    "incremental_by_time": ByTimeKind,
}
