"""Runs (filtered by status, trigger, pipeline) and one run: its steps as an SVG timeline and a
table (rows read, written, dropped, quarantined, Delta versions), errors with their hints, the
checks it ran; progress while it runs (htmx polls the steps part; without JavaScript the page
refreshes itself); re-run of the failed steps for contributors and up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from medallion.serve.http import runs as api_runs
from medallion.serve.http.auth import at_least
from medallion.serve.web.pages.common import UI, User, render, svg, table_url
from medallion.serve.web.timeline_svg import timeline_svg

router = APIRouter()

#: how many recent runs the list looks through (its filters apply to these)
RECENT = 200


@router.get("/runs")
def runs_page(
    request: Request,
    user: User,
    status: str | None = None,
    trigger: str | None = None,
    pipeline: str | None = None,
) -> Response:
    recent = api_runs.list_runs(request, user, RECENT)
    shown = [
        r
        for r in recent
        if (not status or r["status"] == status)
        and (not trigger or r["trigger"] == trigger)
        and (not pipeline or (r.get("pipeline") or "") == pipeline)
    ]
    choices = {
        key: sorted({str(r.get(key)) for r in recent if r.get(key)})
        for key in ("status", "trigger", "pipeline")
    }
    return render(
        request,
        user,
        "runs.html",
        runs=shown,
        choices=choices,
        chosen={"status": status, "trigger": trigger, "pipeline": pipeline},
        total=len(recent),
    )


def _run_context(request: Request, user: Any, run_id: str) -> dict[str, Any]:
    run = api_runs.run_detail(request, run_id, user)
    steps = run["steps"]
    running = run["status"] == "running"
    picture = timeline_svg(
        steps, now=datetime.now(UTC) if running else None, link=table_url, width=560
    )
    failed = [s["table"] for s in steps if s["status"] == "failed"]
    hints = {s["step_no"]: _split(s.get("error")) for s in steps if s.get("error")}
    return {
        "run": run,
        "steps": steps,
        "running": running,
        "timeline": svg(picture),
        "failed": failed,
        "errors": hints,
        "run_error": _split(run.get("error")),
        "checks": run["checks"],
    }


def _split(error: str | None) -> tuple[str, str | None] | None:
    """A recorded error as (message, hint): the error root writes its hint on a line of its
    own starting `hint:`."""
    if not error:
        return None
    message, hint = [], []
    for line in str(error).splitlines():
        (hint if line.strip().lower().startswith("hint:") or hint else message).append(line)
    text = "\n".join(hint).strip()
    if text.lower().startswith("hint:"):
        text = text[5:].strip()
    return "\n".join(message).strip(), text or None


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, user: User, started: str | None = None) -> Response:
    context = _run_context(request, user, run_id)
    return render(request, user, "run.html", fragment="run_live.html", started=started, **context)


@router.post("/runs/{run_id}/rerun")
def rerun_failed(request: Request, run_id: str, user: User) -> Response:
    """A new run of the run's failed steps (contributor and up), in a child process as the
    API's POST /runs starts one."""
    at_least(user, "contributor")
    run = api_runs.run_detail(request, run_id, user)
    failed = [s["table"] for s in run["steps"] if s["status"] == "failed"]
    if not failed:
        raise HTTPException(400, detail=f"run {run_id} has no failed step")
    args = ["run", *(a for t in failed for a in ("--select", t))]
    started = api_runs.launch(request, user, args, "rerun")
    target = started.get("run_id")
    if target is None:
        return RedirectResponse(f"{UI}/runs", status_code=303)
    return RedirectResponse(f"{UI}/runs/{target}?started=1", status_code=303)
