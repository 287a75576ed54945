"""Quality: per table the user may read, each check's result over the last runs (a strip of
squares, one per run, coloured and labelled by status) and each expectation's counts (rows
checked, failing, and whether they were dropped, quarantined or only warned about) as small
bar charts. Drawn on the server as SVG: no script needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from medallion.serve.http import quality as api_quality
from medallion.serve.http import runs as api_runs
from medallion.serve.web.pages.common import User, project_of, render, sees_runs, svg
from medallion.serve.web.svg import SVG_NS, esc, num

router = APIRouter()

STATUS_COLOURS = {
    "pass": "#2e7d32",
    "warn": "#e0a000",
    "fail": "#c62828",
    "error": "#7b1fa2",
}
CELL = 14.0


@router.get("/quality")
def quality_page(
    request: Request,
    user: User,
    table: str | None = None,
    runs: int = Query(10, ge=1, le=50),
) -> Response:
    project = project_of(request)
    results = api_quality.quality(request, user, table or None, runs)
    checks: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, entries in sorted(results.items()):
        for e in entries:
            checks.setdefault(name, {}).setdefault(e["name"], []).append(e)
    strips = {
        t: {c: svg(status_strip(es)) for c, es in by_check.items()}
        for t, by_check in checks.items()
    }
    expectations = _expectations(request, user, project, table or None, runs)
    bars = {
        t: {e: svg(expectation_bars(points)) for e, points in by_exp.items()}
        for t, by_exp in expectations.items()
    }
    tables = sorted(set(strips) | set(bars))
    return render(
        request,
        user,
        "quality.html",
        tables=tables,
        strips=strips,
        bars=bars,
        expectations=expectations,
        table=table,
        runs=runs,
    )


def _expectations(
    request: Request, user: Any, project: Any, only: str | None, runs: int
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """table -> expectation -> one point per run that built the table, oldest first: rows
    checked, failing rows and what the expectation does with them. Read from the run log's
    steps, so only for a user who may read it and the tables they may read."""
    if not sees_runs(request, user):
        return {}
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    readable: dict[str, bool] = {}
    for run in reversed(api_runs.list_runs(request, user, runs)):
        for step in project.steps(run["run_id"]):
            counts = (step.get("details") or {}).get("expectations")
            fqn = f"{step['layer']}.{step['table_name']}"
            if not counts or (only and only != fqn):
                continue
            if fqn not in readable:
                readable[fqn] = project.may_read(user, fqn)
            if not readable[fqn]:
                continue
            model = project.models.get(fqn)
            declared = model.config.expectations if model else {}
            for name, failing in counts.items():
                action = getattr(declared.get(name), "action", None) or "?"
                out.setdefault(fqn, {}).setdefault(name, []).append(
                    {
                        "run_id": run["run_id"],
                        "rows": step.get("rows_in") or step.get("rows_read") or 0,
                        "failing": int(failing or 0),
                        "action": str(action),
                    }
                )
    return out


def status_strip(entries: list[dict[str, Any]]) -> str:
    """One square per run, oldest left; its letter and tooltip say the status in words."""
    w = len(entries) * (CELL + 2) + 2
    out = [
        f'<svg xmlns="{SVG_NS}" class="strip" width="{num(w)}" height="{num(CELL + 4)}" '
        f'role="img" aria-label="results over {len(entries)} runs">'
    ]
    for i, e in enumerate(entries):
        status = str(e.get("status") or "?")
        colour = STATUS_COLOURS.get(status, "#546e7a")
        tip = f"{e.get('run_id')}: {status}"
        if e.get("failing_rows"):
            tip += f", {e['failing_rows']} failing rows"
        if e.get("message"):
            tip += f" ({e['message']})"
        x = 2 + i * (CELL + 2)
        out.append(
            f'<g><title>{esc(tip)}</title><rect x="{num(x)}" y="2" width="{num(CELL)}" '
            f'height="{num(CELL)}" rx="2" fill="{colour}"/><text x="{num(x + CELL / 2)}" '
            f'y="{num(CELL - 1)}" font-size="9" text-anchor="middle" fill="#fff">'
            f"{esc(status[:1].upper())}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def expectation_bars(points: list[dict[str, Any]], height: float = 28.0) -> str:
    """One bar per run: its height the share of rows that failed the expectation."""
    w = len(points) * (CELL + 2) + 2
    out = [
        f'<svg xmlns="{SVG_NS}" class="bars" width="{num(w)}" height="{num(height + 2)}" '
        f'role="img" aria-label="failing rows over {len(points)} runs">'
    ]
    for i, p in enumerate(points):
        share = p["failing"] / p["rows"] if p["rows"] else 0.0
        h = max(1.0, height * min(1.0, share * 10)) if p["failing"] else 1.0  # x10: 10 % fills
        x = 2 + i * (CELL + 2)
        colour = "#c62828" if p["failing"] else "#2e7d32"
        tip = f"{p['run_id']}: {p['failing']} of {p['rows']} rows failed ({p['action']})"
        out.append(
            f'<g><title>{esc(tip)}</title><rect x="{num(x)}" y="{num(height - h + 1)}" '
            f'width="{num(CELL)}" height="{num(h)}" fill="{colour}"/></g>'
        )
    out.append("</svg>")
    return "".join(out)
