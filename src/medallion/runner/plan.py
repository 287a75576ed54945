"""What a run would do, decided before anything runs: the selection, full refreshes and pending
resets turned into the ordered steps. Pure: it reads the project and the state database's
pending resets, and writes nothing — so a server, `medallion plan` or a scheduler can ask what
would run, and the executor walks exactly this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medallion.runner.stale import Inputs, State, assess

if TYPE_CHECKING:
    from medallion.models.checks import SingularCheck
    from medallion.workspace import Workspace


@dataclass(frozen=True)
class Step:
    node: str
    kind: str  # ingest | model | view | test
    #: rebuilt from all input (--full-refresh, or a reset asked for by `medallion reset`)
    full_refresh: bool = False
    #: a `medallion reset` to clear once the step succeeds
    reset: bool = False
    #: why the step rebuilds its table (a changed model, upstream or input schema), or why
    #: the change cannot be applied (see `refused`)
    why: str | None = None
    #: the change would lose what only the table holds: the step fails, nothing is written
    refused: bool = False
    #: rows in the table before the step (a rebuild that would keep fewer than half of them
    #: needs confirmation)
    rows: int | None = None
    #: the rebuild undoes another Delta writer's change: the step fails unless confirmed
    confirm: bool = False


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    #: singular checks (checks/<name>.sql) whose tables are all in the plan, run after them
    singular: list[SingularCheck] = field(default_factory=list)
    #: the selection as given (None: everything)
    select: list[str] | None = None
    #: what each selected model's table needs (medallion.runner.stale), by node
    states: dict[str, State] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        return [s.node for s in self.steps]

    def announced(self) -> list[tuple[str, str]]:
        """(node, step kind) of each step, as the run's reporter is told."""
        return [(s.node, s.kind) for s in self.steps]


def step_kind(ws: Workspace, node: str) -> str:
    if node in ws.source_tables:
        return "ingest"
    return "view" if ws.models[node].kind == "view" else "model"


def plan_run(
    ws: Workspace,
    select: list[str] | None = None,
    full_refresh: bool | list[str] = False,
    *,
    count_rows: bool = False,
) -> Plan:
    """The steps of `medallion run`: the selected nodes in dependency order (plus those named
    by `full_refresh`), each ingest or build marked for a full refresh when asked or reset.
    `count_rows`: each incremental model's new or changed rows upstream counted exactly (what
    `plan` shows; see stale.assess)."""
    graph = ws.graph  # loads and validates everything before anything is written
    nodes = graph.select(select)
    resets = ws.state.pending_resets() & set(nodes)
    if full_refresh is True:
        refresh = set(nodes)
    else:
        refresh = {graph.resolve(name) for name in full_refresh or []}
        nodes = [n for n in graph.order if n in set(nodes) | refresh]
    refresh |= resets
    chosen = set(nodes)
    singular = [c for c in ws.checks.singular if not select or all(t in chosen for t in c.tables)]
    inputs = Inputs(ws)
    states: dict[str, State] = {}
    steps = []
    for n in nodes:
        kind = step_kind(ws, n)
        if kind != "model":
            steps.append(Step(n, kind, n in refresh, n in resets))
            continue
        rebuilt = frozenset(s.node for s in steps if s.full_refresh)
        state = states[n] = assess(ws, ws.models[n], inputs, n in refresh, rebuilt, count_rows)
        refused = state.action == "refused"
        rebuild = n in refresh or state.forced
        why = state.why if rebuild or refused else None
        steps.append(Step(n, kind, rebuild, n in resets, why, refused, state.rows, state.confirm))
    return Plan(steps, singular, select, states)


def plan_test(ws: Workspace, select: list[str] | None = None) -> Plan:
    """The steps of `medallion test`: the selected tables that have checks, then the singular
    checks whose tables are all selected."""
    nodes = [n for n in ws.graph.select(select) if ws.checks.tables.get(n)]
    singular = [c for c in ws.checks.singular if not select or all(t in nodes for t in c.tables)]
    return Plan([Step(n, "test") for n in nodes], singular, select)
