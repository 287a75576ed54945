"""Whether each model's table still equals its model, read from the tables' own commits before
anything runs: what `medallion plan` shows and what `medallion run` acts on.

A model's latest build records its model's fingerprint, the fingerprints of the models it reads
and its stored inputs' columns (medallion.build.record). Against the project as it is now:

- the model changed → rebuilt from all its input (`rebuild: model changed`, the diff shown);
- a model it reads changed → rebuilt too (`rebuild: upstream ... changed`), except where that
  upstream is an input a merge, scd2 or incremental_by_time model reads incrementally: its
  rebuilt rows are all new to the model, which merges them again (nothing else would change);
- an input lost a column or changed a column's type since the build → rebuilt (`rebuild: schema
  of input changed`): the model may not bind any more, or reads it differently;
- restored to a version no build recorded (written by another Delta writer) → rebuilt
  (`rebuild: restored to version N, ...`): what its rows were built from is unknown, and the
  newer builds the restore undid say nothing about them; the same for rows changed by another
  writer since the build (`rebuild: changed outside medallion at version N (WRITE)`): merging
  new rows into them would keep rows the model does not make; that rebuild undoes the other
  writer's change (a row it deleted comes back), so the run does it only when confirmed
  (`confirm`: --yes, the terminal's "y", or --full-refresh of the table);
- `scd2` keeps history its inputs do not hold: a rebuild would replace it with one version per
  key, so it is refused (`--full-refresh` forces it) unless the table is empty;
- otherwise `up to date`, or `incremental (N new rows upstream)` / `rebuild: new data upstream`.

Only the Delta logs are read (commit info, schemas, the statistics of added files): no data.
(`preview` reads the closed versions of an scd2 table a full refresh would drop.)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medallion.build.record import (
    DEFINITION_KEY,
    FINGERPRINT_KEY,
    RESTORE_NOTE,
    SCD2_HISTORY,
    SCHEMAS_KEY,
    UNDOES_CHANGE,
    changed_outside,
    column_types,
    last_build,
    model_change,
    recorded,
    schema_change,
    unrecorded,
)
from medallion.engine import attach
from medallion.models.fingerprint import definition
from medallion.storage import changes, snapshot, tables

if TYPE_CHECKING:
    from medallion.models.loader import Model
    from medallion.workspace import Workspace

#: kinds that merge an incremental input's rewritten rows again (append cannot: it only adds)
REMERGING_KINDS = ("merge", "scd2", "incremental_by_time")


@dataclass
class State:
    """What a model's table needs, judged from its last build."""

    #: build (no table yet) | rebuild | incremental | up to date | refused
    action: str
    #: why, as the plan and the run's log say it
    why: str | None = None
    #: rows the incremental inputs gained since the build (None: not countable from the log)
    new_rows: int | None = None
    #: the model's definition then and now, as a unified diff (a changed model)
    diff: str | None = None
    #: rows in the table now
    rows: int | None = None
    #: the run must rebuild it from all input (its kind's own increment would not)
    forced: bool = False
    #: the rebuild undoes another writer's change: the run's step fails unless confirmed
    confirm: bool = False


class Inputs:
    """The stored tables' current versions, schemas and rows, each read once per plan."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._seen: dict[str, tuple[int, dict[str, str], int] | None] = {}

    def get(self, fqn: str) -> tuple[int, dict[str, str], int] | None:
        """(version, column types, rows) of a stored table; None when it is not stored."""
        if fqn not in self._seen:
            path = self.ws.catalog.path(fqn)
            if not tables.is_delta_table(path):
                self._seen[fqn] = None
            else:
                snap = snapshot.snapshot(path)  # one read of the log: version, rows, schema
                self._seen[fqn] = (snap.version, column_types(snap.schema), snap.rows)
        return self._seen[fqn]

    def columns(self, fqn: str) -> dict[str, str] | None:
        found = self.get(fqn)
        return found[1] if found else None


def assess(
    ws: Workspace,
    model: Model,
    inputs: Inputs,
    full_refresh: bool = False,
    rebuilding: frozenset[str] = frozenset(),
    count_rows: bool = False,
) -> State:
    """What `model`'s table needs now (`full_refresh`: asked to rebuild it). `rebuilding`: the
    tables rebuilt earlier in the same run, whose columns are not known until then (the run
    compares them when the model's turn comes). `count_rows`: the rows new or changed upstream
    counted exactly, reading the files of rewrites (`plan` says them; a run needs no count)."""
    mine = inputs.get(model.fqn)
    commit = last_build(ws.catalog.path(model.fqn)) if mine is not None else None
    if commit is None:
        return State("build", "first build")
    state = _judged(
        ws, model, inputs, commit, mine[2] if mine else None, full_refresh, rebuilding, count_rows
    )
    note = commit.get(RESTORE_NOTE)
    if note and not state.forced:  # a forced rebuild's reason says what counts
        state.why = f"{state.why}; {note}" if state.why else note
    return state


def _judged(
    ws: Workspace,
    model: Model,
    inputs: Inputs,
    commit: dict[str, Any],
    rows: int | None,
    full_refresh: bool,
    rebuilding: frozenset[str],
    count_rows: bool,
) -> State:
    if full_refresh:
        return State("rebuild", "full refresh", rows=rows, forced=True)
    unknown = unrecorded(commit)
    if unknown is not None:
        if model.kind == "scd2" and rows:
            return State("refused", f"{unknown}; {SCD2_HISTORY}", rows=rows)
        if changed_outside(commit):
            why = f"{unknown}: {UNDOES_CHANGE}"
            return State("rebuild", why, rows=rows, forced=True, confirm=True)
        return State("rebuild", unknown, rows=rows, forced=True)
    if commit.get(FINGERPRINT_KEY) is None and not model.config.incremental:
        # built before tables recorded their model: a table costs one rebuild to know
        return State("rebuild", "built before models were fingerprinted", rows=rows, forced=True)
    why = model_change(commit, model, ws.models, ws.config.engine.type)
    diff = _diff(commit, model) if why == "model changed" else None
    if why is not None and why.startswith("upstream "):
        changed = why.split(" ")[1]
        if model.kind in REMERGING_KINDS and changed in model.incremental_inputs:
            return State("incremental", f"{why}: its rows are merged again", rows=rows)
    if why is None:
        before = recorded(commit, SCHEMAS_KEY) or {}
        why = schema_change(commit, {t: inputs.columns(t) for t in before if t not in rebuilding})
    if why is not None:
        if model.kind == "scd2" and rows:
            return State("refused", f"{why}; {SCD2_HISTORY}", diff=diff, rows=rows)
        return State("rebuild", why, diff=diff, rows=rows, forced=True)
    return _new_data(commit, model, ws, inputs, rows, count_rows)


def _diff(commit: dict[str, Any], model: Model) -> str | None:
    before = commit.get(DEFINITION_KEY)
    if not isinstance(before, str):
        return None
    lines = difflib.unified_diff(
        before.splitlines(), definition(model).splitlines(), "built", "now", lineterm="", n=2
    )
    return "\n".join(list(lines)[2:]) or None


def _new_data(
    commit: dict[str, Any],
    model: Model,
    ws: Workspace,
    inputs: Inputs,
    rows: int | None,
    count_rows: bool = False,
) -> State:
    consumed = changes.consumed(commit) or {}
    if not model.config.incremental:
        for table in attach.base_tables(ws.lakehouse, model.depends_on):
            now = inputs.get(table)
            if now is not None and now[0] != consumed.get(table, -1):
                return State("rebuild", f"new data upstream ({table})", rows=rows)
        return State("up to date", rows=rows)
    new: int | None = 0
    touched = rewritten = False
    for table in model.incremental_inputs:
        now = inputs.get(table)
        if now is None:
            continue
        before = consumed.get(table, -1)
        if before > now[0]:
            before = -1  # the input was re-created since: all of it is new
        if now[0] > before:
            path = ws.catalog.path(table)
            gained = changes.changes(path, before, now[0])
            touched = touched or not gained.empty
            rewritten = rewritten or gained.rewritten
            # rows a rewrite copied (or a restore added back) are not new: not counted
            counted = (
                None if new is None else changes.changed_rows(path, gained, read_files=count_rows)
            )
            new = None if new is None or counted is None else new + counted
    if not touched:
        return State("up to date", rows=rows)
    if not new:
        return State("incremental", "rows changed upstream", rows=rows)
    what = "new or changed rows" if rewritten else "new rows"
    return State("incremental", f"{new} {what} upstream", new_rows=new, rows=rows)
