"""`/runs`: the run log (runs, their steps with rows and Delta versions, errors, check results).

Who reads it: what reads `system.runs` / `system.run_steps` on the SQL endpoint (admins,
members, a viewer granted them), and contributors, who start runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from medallion.serve.http.auth import api, current_user

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
    return {**run, "steps": steps, "checks": project.check_results(run_id)}
