"""Pipelines: each pipeline's schedule, next and last tick and recent history; pause and resume
(member and up) and run now (contributor and up), each through the API's own route."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from medallion.serve.http import pipelines as api_pipelines
from medallion.serve.http.auth import api
from medallion.serve.web.pages.common import UI, User, render

router = APIRouter()

#: ticks of each pipeline shown
HISTORY = 8


@router.get("/pipelines")
def pipelines_page(request: Request, user: User, started: str | None = None) -> Response:
    from medallion.orchestrate.schedule import shown_zone

    listed = api_pipelines.list_pipelines(request, user)
    history = {
        p["name"]: api_pipelines.pipeline_history(request, p["name"], user, HISTORY) for p in listed
    }
    declared = api(request).project.config.pipelines
    # times as `pipelines list` shows them: in each pipeline's zone (an after: one's upstream's)
    zones = {p["name"]: shown_zone(declared, p["name"]) for p in listed}
    return render(
        request,
        user,
        "pipelines.html",
        pipelines=listed,
        history=history,
        started=started,
        zones=zones,
        when=_when,
    )


def _when(text: str | None, zone: str) -> str:
    """An ISO time of the API as the pipeline's clock reads it."""
    from datetime import datetime

    from medallion.orchestrate.schedule import local_text

    return local_text(datetime.fromisoformat(text), zone) if text else "—"


@router.post("/pipelines/{name}/pause")
def pause(request: Request, name: str, user: User) -> Response:
    api_pipelines.pause(request, name, user)
    return RedirectResponse(f"{UI}/pipelines", status_code=303)


@router.post("/pipelines/{name}/resume")
def resume(request: Request, name: str, user: User) -> Response:
    api_pipelines.resume(request, name, user)
    return RedirectResponse(f"{UI}/pipelines", status_code=303)


@router.post("/pipelines/{name}/run")
def run_now(request: Request, name: str, user: User) -> Response:
    started = api_pipelines.run_now(request, name, user)
    if started.get("run_id"):
        return RedirectResponse(f"{UI}/runs/{started['run_id']}?started=1", status_code=303)
    return RedirectResponse(f"{UI}/pipelines?started={name}", status_code=303)
