"""Checks, the row ledger (verify) and quarantine."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from medallion.cli.render.console import _escape, _num, _table, _when, out

_CHECK_COLOUR = {"pass": "green", "warn": "yellow", "fail": "red", "error": "red"}


def _checks_table(checks: list[dict[str, Any]]):
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    t = _table(
        "check",
        "table",
        "kind",
        "severity",
        "status",
        "failing",
        "detail",
        right=("failing",),
        whole=("severity", "status"),
        wrap=("detail",),
        drop=("kind", "severity", "failing", "table"),
    )
    for c in sorted(checks, key=lambda c: order.get(c["status"], 9)):
        colour = _CHECK_COLOUR.get(c["status"], "white")
        t.add_row(
            c["name"],
            c["table_name"],
            c["kind"],
            c["severity"],
            f"[{colour}]{c['status']}[/]",
            _num(c.get("failing_rows")),
            _escape(c.get("message") or ""),
        )
    return t


def verification_dict(v: Any) -> dict[str, Any]:
    return {
        "ok": v.ok,
        "runs": v.runs(),
        "steps": [{**asdict(line), "ok": line.ok} for line in v.lines],
        "reconciliations": [r.to_dict() for r in v.reconciliations],
    }


def verification(v: Any) -> None:
    console = out()
    yes, no, na = "[green]✓[/]", "[red]✗[/]", "[dim]n/a[/]"
    # rows removed only where a step removed some (`on_rewrite: replace`)
    removed = ("removed",) if any(line.rows_removed is not None for line in v.lines) else ()
    t = _table(
        "run",
        "#",
        "step",
        "table",
        "in",
        "written",
        *removed,
        "dropped",
        "quarantined",
        "balanced",
        "delta log",
        right=("#", "in", "written", "removed", "dropped", "quarantined"),
        whole=("run", "balanced", "delta log"),
        drop=("run", "dropped", *removed, "step", "#"),
    )
    for line in v.lines:
        if line.table_matches is None and line.quarantine_matches is None:
            logged = na
        elif line.table_matches is not False and line.quarantine_matches is not False:
            logged = yes
        else:
            logged = no
        t.add_row(
            line.run_id,
            str(line.step_no),
            line.step,
            line.table,
            _num(line.rows_in),
            _num(line.rows_written),
            *([_num(line.rows_removed)] if removed else []),
            _num(line.rows_dropped),
            _num(line.rows_quarantined),
            yes if line.balanced else no,
            logged,
        )
    console.print(t)
    for line in v.lines:
        if not line.ok:
            console.print(f"[red]{line.run_id} {line.table}:[/] {line.problem}")
    runs = v.runs()
    bad = [r for r, ok in runs.items() if not ok]
    verdict = (
        "[green]the ledger adds up[/]" if not bad else f"[red]{len(bad)} run(s) do not add up[/]"
    )
    if not runs:
        verdict = "nothing to verify: no run has built a table yet"
    console.print(f"{len(runs)} run(s), {len(v.lines)} step(s): {verdict}")
    for r in v.reconciliations:
        mark = yes if r.status == "pass" else no
        console.print(f"{mark} reconciliation {r.table} {r.name}: {_escape(r.message)}")


def quarantines(rows: list[Any]) -> None:
    if not rows:
        out().print("no quarantine tables — nothing has been set aside")
        return
    t = _table(
        "quarantine",
        "of",
        "kind",
        "rows",
        "version",
        "last written",
        right=("rows", "version"),
        whole=("last written",),
        drop=("last written", "kind", "of"),
    )
    for r in rows:
        t.add_row(r.table, r.of, r.kind, _num(r.rows), f"v{r.version}", _when(r.last_written))
    out().print(t)


def replayed(r: Any) -> None:
    console = out()
    if r.recovered:
        console.print(f"finished an interrupted replay: {r.recovered:,} rows")
    version = f" (v{r.model_version})" if r.model_version is not None else ""
    console.print(
        f"{r.model}: {r.examined:,} quarantined rows re-evaluated, {r.moved:,} moved into the "
        f"model{version}, {r.remaining:,} remain in quarantine"
    )
