"""Access (admin only): users with role, groups and tokens, what medallion.yml's `access:`
grants (grants per group, group roles, row filters, masks), and the access audit filtered by
user, action, status and time, newest first. Grants are the project's files, reviewed like
code: shown here, changed in medallion.yml."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from medallion.serve.http import admin as api_admin
from medallion.serve.http.auth import at_least
from medallion.serve.web.pages.common import User, project_of, render

router = APIRouter()


@router.get("/access")
def access_page(
    request: Request,
    user: User,
    who: str | None = Query(None, alias="user"),
    action: str | None = None,
    status: str | None = None,
    since: str | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> Response:
    at_least(user, "admin")
    project = project_of(request)
    users = api_admin.users(request, user)
    grants = api_admin.grants(request, user)
    when = None
    if since:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            raise HTTPException(400, detail=f"since {since!r} is not an ISO time") from None
    project.audit_log.flush()  # the events of the last seconds too
    audit = project.audit(who or None, when)
    rows = audit.to_pylist()
    if action:
        rows = [r for r in rows if r.get("action") == action]
    if status:
        rows = [r for r in rows if r.get("response_status") == status]
    rows.reverse()
    shown = ("event_time", "user", "action", "response_status", "service", "source_address")
    columns = [c for c in shown if c in audit.column_names]
    columns += [
        c for c in ("request", "response_rows", "response_error") if c in audit.column_names
    ]
    return render(
        request,
        user,
        "access.html",
        users=users,
        grants=grants,
        audit_columns=columns,
        audit=rows[:limit],
        matching=len(rows),
        chosen={"user": who, "action": action, "status": status, "since": since},
        actions=sorted({str(a) for a in audit.column("action").to_pylist() if a})
        if "action" in audit.column_names
        else [],
    )
