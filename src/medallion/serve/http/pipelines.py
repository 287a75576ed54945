"""`/pipelines`: the pipelines medallion.yml declares, with their schedule, next and last tick;
pause and resume (member and up), run now (contributor and up, in a child process that waits
for the writer lock as `medallion pipelines run NAME` does)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from medallion.serve.http.auth import api, at_least, audit_action, current_user
from medallion.serve.http.runs import launch, may_see

router = APIRouter(tags=["pipelines"])
User = Annotated[Any, Depends(current_user)]


def _pipeline(request: Request, name: str) -> Any:
    declared = api(request).project.config.pipelines
    if name not in declared:
        raise HTTPException(404, detail=f"no pipeline {name!r} in medallion.yml")
    return declared[name]


@router.get("/pipelines")
def list_pipelines(request: Request, user: User) -> list[dict[str, Any]]:
    """Each pipeline: selection, schedule, what it follows, paused, next tick (UTC, none while
    paused), last tick and its status."""
    from medallion.orchestrate.schedule import schedule, utcnow

    may_see(request, user)
    project = api(request).project
    log = project.schedule_log()
    paused = log.paused()
    now = utcnow()
    out = []
    for name, p in project.config.pipelines.items():
        last = log.last(name)
        next_at = None
        if p.cron and name not in paused:
            next_at = schedule(p.cron, p.timezone).next_after(now).astimezone(UTC).isoformat()
        out.append(
            {
                "name": name,
                "description": p.description,
                "select": list(p.select),
                "schedule": p.schedule,
                "timezone": p.timezone,
                "after": list(p.after),
                "paused": name in paused,
                "next_tick": next_at,
                "last_tick": last.to_dict() if last else None,
            }
        )
    return out


@router.get("/pipelines/{name}/history")
def pipeline_history(request: Request, name: str, user: User, limit: int = 20) -> list[dict]:
    """The pipeline's ticks, newest first."""
    may_see(request, user)
    _pipeline(request, name)
    return [t.to_dict() for t in api(request).project.schedule_log().history(name, limit)]


def _set_paused(request: Request, name: str, user: Any, paused: bool) -> dict[str, Any]:
    at_least(user, "member")
    _pipeline(request, name)
    api(request).project.schedule_log().set_paused(name, paused, datetime.now(UTC), user.name)
    audit_action(request, user, "pipeline_pause" if paused else "pipeline_resume", {"name": name})
    return {"name": name, "paused": paused}


@router.post("/pipelines/{name}/pause")
def pause(request: Request, name: str, user: User) -> dict[str, Any]:
    """The scheduler skips the pipeline's ticks until it is resumed (member and up)."""
    return _set_paused(request, name, user, True)


@router.post("/pipelines/{name}/resume")
def resume(request: Request, name: str, user: User) -> dict[str, Any]:
    """The pipeline runs again from its next tick (member and up)."""
    return _set_paused(request, name, user, False)


@router.post("/pipelines/{name}/run", status_code=202)
def run_now(request: Request, name: str, user: User) -> dict[str, Any]:
    """Start the pipeline now (contributor and up), then those that follow it, in a child
    process; answers its first run's id (none yet while it waits for the writer lock). Its
    ticks appear in the history (trigger manual) and its runs under /runs."""
    at_least(user, "contributor")
    _pipeline(request, name)
    return {"name": name, **launch(request, user, ["pipelines", "run", name], name)}
