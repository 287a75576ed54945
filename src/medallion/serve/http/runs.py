"""`/runs`: the run log (runs, their steps with rows and Delta versions, errors, check results).

Who reads it: what reads `system.runs` / `system.run_steps` on the SQL endpoint (admins,
members, a viewer granted them), and contributors, who start runs (`POST /runs`, in a child
process) and follow them (`/runs/{id}/events`, server-sent events)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool

from medallion.errors import (
    AccessDeniedError,
    ConfigError,
    LockError,
    MedallionError,
)
from medallion.serve.http import children
from medallion.serve.http.auth import api, at_least, audit_action, current_user
from medallion.serve.http.quality import visible_check

router = APIRouter(tags=["runs"])
User = Annotated[Any, Depends(current_user)]


def may_see(request: Request, user: Any, table: str = "system.runs") -> None:
    """403 unless `user` may read the run log's `table` (contributors and up always may)."""
    if user.role in ("contributor", "member", "admin"):
        return
    if not api(request).project.may_read(user, table):
        raise HTTPException(403, detail=f"reading {table} is not allowed for {user.name}")


@router.get("/runs")
def list_runs(
    request: Request, user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[dict[str, Any]]:
    """Recent runs, newest first, with step counts and rows written."""
    may_see(request, user)
    return api(request).project.run_history(limit)


@router.get("/runs/{run_id}")
def run_detail(request: Request, run_id: str, user: User) -> dict[str, Any]:
    """One run: its record, its steps (rows in, read, written, dropped, quarantined, the Delta
    version written, errors) and the results of the checks and expectations it ran."""
    may_see(request, user, "system.run_steps")
    project = api(request).project
    run = project.state.run(run_id)
    if run is None:
        raise HTTPException(404, detail=f"no run {run_id}")
    steps = [{"table": f"{s['layer']}.{s['table_name']}", **s} for s in project.steps(run_id)]
    checks = [
        visible_check(c, user)
        for c in project.check_results(run_id)
        if _may_read_check(project, user, c)
    ]
    return {**run, "steps": steps, "checks": checks}


def _may_read_check(project: Any, user: Any, check: dict[str, Any]) -> bool:
    """A check result shows data of its table (its message quotes values): shown to whoever
    may read the check results and the table."""
    if user.role in ("contributor", "member", "admin"):
        return True
    tables = str(check.get("table_name") or "").split(",")  # a singular check: several
    return project.may_read(user, "system.check_results") and all(
        project.may_read(user, t.strip()) for t in tables if t.strip()
    )


class StartRun(BaseModel):
    select: list[str] = Field(
        default_factory=list, description="as `medallion run --select` (empty: everything)"
    )
    pipeline: str | None = Field(default=None, description="run this pipeline instead")
    #: a JSON boolean only: "yes" or 1 is refused, not read as true
    full_refresh: StrictBool = False


#: a child's exit status -> the error the answer is (its HTTP status: app.STATUS); any
#: other (a selection naming nothing, a model that does not load): 400, the request cannot
#: run as the project stands
_EXIT_ERRORS: dict[int, type[MedallionError]] = {
    LockError.exit_code: LockError,  # 409
    AccessDeniedError.exit_code: AccessDeniedError,  # 403
}

#: seconds a child has to record its run before POST /runs reports why it did not
START_WAIT = 60.0


@router.post("/runs", status_code=202)
def start_run(request: Request, body: StartRun, user: User) -> dict[str, Any]:
    """Start a run of a selection, or of a pipeline (contributor and up), in a child process
    that takes the writer lock (409 with the holder when another writer has it). Answers with
    the run's id once the child has recorded it; follow it at /runs/{id}/events. A refused
    request is audited as refused (denied: not allowed) with the reason."""
    try:
        at_least(user, "contributor")
        args = _run_args(api(request).project, body)
    except HTTPException as err:
        audit_action(request, user, "run_start", body.model_dump(exclude_defaults=True), err)
        raise
    return launch(request, user, args, body.pipeline or "run")


def _run_args(project: Any, body: StartRun) -> list[str]:
    """`medallion` arguments of the run `body` asks for; HTTPException when it cannot run."""
    if body.pipeline is not None:
        if body.select or body.full_refresh:
            raise HTTPException(400, detail="give a pipeline or a selection, not both")
        if body.pipeline not in project.config.pipelines:
            raise HTTPException(404, detail=f"no pipeline {body.pipeline!r} in medallion.yml")
        return ["pipelines", "run", body.pipeline]
    for item in body.select:
        # each item becomes the value of --select: one that looks like an option is not a
        # selection, and must not reach the command line as one
        if not item.strip() or item.lstrip().startswith("-"):
            raise HTTPException(
                400,
                detail=f"select {item!r} is not a selection: name models or selectors "
                "(gold.sales, +gold.sales, tag:nightly); full_refresh is its own field",
            )
    args = ["run", *(a for s in body.select for a in ("--select", s))]
    if body.full_refresh:
        args.append("--full-refresh")
    return args


def launch(request: Request, user: Any, args: list[str], label: str) -> dict[str, Any]:
    """`medallion ARGS` in a child process (audited as started by `user`); answers the run it
    recorded, or why it stopped before (409 when the writer lock is held, else 400 with its
    message). A child still waiting after START_WAIT (`pipelines run` waits for the lock) is
    answered as waiting, without a run id yet. The run log records it as started by the API
    (`--trigger api`: `run` and `pipelines run` both take it)."""
    project = api(request).project
    args = [*args, "--trigger", "api"]
    # a run of an older process with the same pid is not this one: only runs started after
    launched = datetime.now(UTC).isoformat(timespec="microseconds")
    proc = children.start(project, args, label)
    detail = {"command": " ".join(args), "pid": proc.pid}
    try:
        started = _started(project, proc, launched)
    except MedallionError as err:  # the child stopped before recording a run: refused
        audit_action(request, user, "run_start", detail, err)
        raise
    audit_action(request, user, "run_start", detail)
    return started


def _started(project: Any, proc: Any, launched: str) -> dict[str, Any]:
    """The run the child `proc` recorded (or that it is still waiting); the error its exit
    status says when it stopped before recording one."""

    def recorded() -> dict[str, Any] | None:
        run = next(
            (
                r
                for r in project.runs(20)
                if r.get("pid") == proc.pid and str(r.get("started_at") or "") >= launched
            ),
            None,
        )
        if run is None:
            return None
        return {"run_id": run["run_id"], "status": run["status"], "pid": proc.pid}

    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        found = recorded()
        if found is not None:
            return found
        code = proc.poll()
        if code is not None:
            found = recorded()  # a quick run can end between two looks
            if found is not None:
                return found
            message, hint = children.failure(proc)
            # the child's exit status says what kind of failure it was (its CLI's codes)
            kind = _EXIT_ERRORS.get(code, ConfigError)
            raise kind(message or f"exit status {code}", hint=hint)
        time.sleep(0.1)
    return {"run_id": None, "status": "waiting", "pid": proc.pid}


@router.get("/runs/{run_id}/events", response_class=StreamingResponse)
def run_events(request: Request, run_id: str, user: User) -> StreamingResponse:
    """The run's progress as server-sent events: `step` (a step started or ended, with its
    rows and version), then `run` (its end status) and the stream ends. A finished run sends
    its steps and its end at once."""
    may_see(request, user, "system.run_steps")
    project = api(request).project
    if project.state.run(run_id) is None:
        raise HTTPException(404, detail=f"no run {run_id}")

    def look() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return project.state.run(run_id) or {}, project.steps(run_id)

    async def events() -> AsyncIterator[str]:
        # async, sleeping between looks: a watched run holds no worker thread while it waits
        sent: dict[int, str] = {}
        quiet = 0.0
        while True:
            run, steps = await anyio.to_thread.run_sync(look)
            for step in steps:
                if sent.get(step["step_no"]) != step["status"]:
                    sent[step["step_no"]] = step["status"]
                    data = {"table": f"{step['layer']}.{step['table_name']}", **step}
                    yield f"event: step\ndata: {json.dumps(data, default=str)}\n\n"
                    quiet = 0.0
            if run.get("status") not in (None, "running"):
                yield f"event: run\ndata: {json.dumps(run, default=str)}\n\n"
                return
            await anyio.sleep(EVENT_POLL)
            quiet += EVENT_POLL
            if quiet >= 15:  # a comment keeps proxies from closing an idle stream
                quiet = 0.0
                yield ": still running\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


#: seconds between two looks at the run log for a run's progress
EVENT_POLL = 0.25
