"""Overview: the last run of each pipeline (and the latest runs), the failing checks of the
latest run, freshness SLA breaches and the next ticks, each part shown only to a user who may
read what it comes from (a viewer without the run log sees its tables' SLA state only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from medallion.serve.http import pipelines as api_pipelines
from medallion.serve.http import runs as api_runs
from medallion.serve.http.quality import visible_check
from medallion.serve.web.pages.common import User, project_of, render, sees_runs

router = APIRouter()

FAILING = ("fail", "error", "warn")


@router.get("/")
def overview_page(request: Request, user: User) -> Response:
    project = project_of(request)
    context: dict[str, Any] = {"recent": None, "pipelines": None, "failing": None}
    if sees_runs(request, user):
        recent = api_runs.list_runs(request, user, 50)
        context["recent"] = recent[:5]
        pipelines = api_pipelines.list_pipelines(request, user)
        last_run = {}
        for p in pipelines:
            last_run[p["name"]] = next(
                (r for r in recent if (r.get("pipeline") or "") == p["name"]), None
            )
        context["pipelines"] = pipelines
        context["last_run"] = last_run
        latest = next((r for r in recent if r.get("kind") in ("run", "test")), None)
        failing = []
        if latest is not None:
            for result in project.check_results(latest["run_id"]):
                names = [t.strip() for t in result["table_name"].split(",")]
                if result["status"] in FAILING and all(project.may_read(user, n) for n in names):
                    failing.append(visible_check(result, user))
        context["failing"] = failing
        context["latest"] = latest
    breaches = project.schedule_log().breaches()
    context["breaches"] = [
        b for table, b in sorted(breaches.items()) if project.may_read(user, table)
    ]
    return render(request, user, "overview.html", **context)
