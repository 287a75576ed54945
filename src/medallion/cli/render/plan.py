"""`medallion plan`: what a run would do, step by step, and the diff of each changed model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.cli.render.console import _escape, _num, _table, out

if TYPE_CHECKING:
    from medallion.state.records import PlanEntry, RunPlan

_STYLE = {
    "up to date": "dim",
    "view": "dim",
    "new input": "cyan",
    "may have new rows": "cyan",
    "incremental": "cyan",
    "build": "green",
    "rebuild": "yellow",
    "full refresh": "yellow",
    "refused": "bold red",
    "fails": "bold red",
    "skipped": "dim red",
}


def describe(e: PlanEntry) -> str:
    """The entry's reason, as one line."""
    why = e.why or ""
    if e.after and e.why == "new data upstream":
        why = f"after {', '.join(e.after)}"
    if e.action in ("rebuild", "full refresh", "refused") and e.rows:
        why = f"{why} (the table has {_num(e.rows)} rows)"
    return why


def plan(result: RunPlan) -> None:
    """The steps, then each changed model's diff; a last line with what needs confirming."""
    console = out()
    t = _table("step", "table", "action", "why", right=())
    for e in result.entries:
        style = _STYLE.get(e.action, "")
        t.add_row(
            e.kind,
            e.node,
            f"[{style}]{e.action}[/]" if style else e.action,
            _escape(describe(e)),
        )
    console.print(t)
    for e in result.entries:
        if e.diff:
            console.print(f"[bold]{e.node}[/] changed since it was built:")
            for line in e.diff.splitlines():
                color = "green" if line.startswith("+") else "red" if line[:1] == "-" else "dim"
                console.print(f"  [{color}]{_escape(line)}[/]")
    writes = result.changes
    refused = [e.node for e in writes if e.action == "refused"]
    failing = [e.node for e in result.failing]
    if failing:
        console.print(
            f"[bold red]Would fail:[/] {', '.join(failing)} — see why above; what reads "
            f"{'it' if len(failing) == 1 else 'them'} would be skipped."
        )
    if not writes:
        if not failing:
            console.print("Nothing to do: every selected table is up to date.")
        return
    console.print(f"{len(writes)} of {len(result.entries)} steps would change their table.")
    if refused:
        models = any(e.kind == "model" for e in writes if e.action == "refused")
        console.print(
            f"[bold red]Refused:[/] {', '.join(refused)} — see why above"
            + ("; `medallion run --full-refresh NAME` rebuilds anyway." if models else ".")
        )
    rebuilt = [e for e in writes if e.action in ("rebuild", "full refresh") and e.rows]
    if any(e.why != "new data upstream" for e in rebuilt) or any(e.confirm for e in writes):
        console.print(
            "A rebuild that would leave fewer than half of a table's rows, drop an scd2 "
            "table's closed versions, or undo another Delta writer's change, asks first (on a "
            "terminal) or fails its step unless run with --yes (another writer's change: or "
            "--full-refresh of that table)."
        )
