"""`/quality`: each table's expectation and check results over its recent runs, for the tables
the caller may read. A check's sample rows are shown only to roles that read tables in clear:
a sample is taken from the stored rows, before any mask or row filter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from medallion.serve.http.auth import api, current_user

router = APIRouter(tags=["quality"])
CLEAR_ROLES = ("contributor", "member", "admin")


def visible_check(result: dict[str, Any], user: Any) -> dict[str, Any]:
    """A check result as `user` may see it: without its sample rows, message and observed value
    (computed before masks and row filters) unless they read in clear."""
    if user.role in CLEAR_ROLES:
        return result
    return {k: v for k, v in result.items() if k not in ("sample", "message", "observed")}


@router.get("/quality")
def quality(
    request: Request,
    user: Annotated[Any, Depends(current_user)],
    table: Annotated[str | None, Query(description="only this table: silver.orders")] = None,
    runs: Annotated[int, Query(ge=1, le=200, description="how many recent runs")] = 20,
) -> dict[str, list[dict[str, Any]]]:
    """`{table: [result, ...]}`, oldest run first: each result's run, time, check name, kind,
    severity, status (pass | warn | fail | error), failing rows and observed value; expectation
    steps' rows dropped and quarantined come with the run's steps (`/runs/{id}`)."""
    project = api(request).project
    out: dict[str, list[dict[str, Any]]] = {}
    readable: dict[str, bool] = {}
    for run in reversed(project.run_history(runs)):
        for result in project.check_results(run["run_id"]):
            names = [t.strip() for t in result["table_name"].split(",")]
            if table is not None and table not in names:
                continue
            for name in names:
                if name not in readable:
                    readable[name] = project.may_read(user, name)
            if not all(readable[n] for n in names):
                continue  # a singular check over a table the caller may not read is not shown
            entry = {"run_id": run["run_id"], "run_started_at": run["started_at"], **result}
            out.setdefault(result["table_name"], []).append(visible_check(entry, user))
    return out
