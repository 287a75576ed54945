"""What every page shares: the Jinja2 environment (autoescape on for every template), the
signed-in user, what the user's role may see and do, and the HTML answer with its headers.

A page never reads data by itself: it calls the HTTP API's route functions (or the façade's
user-aware read, `query_reader(user=...)`) with the signed-in user, so a page shows exactly
what the API would answer that user, through the same grants, masks, row filters and audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from medallion.project import Project
from medallion.serve.http.auth import SESSION_COOKIE, api, current_user
from medallion.serve.http.runs import may_see

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
UI = "/ui"

#: scripts only from this server (the vendored htmx); inline styles are allowed because the
#: server-drawn SVG pictures carry their own <style>
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value is escaped; only the server's own SVG is marked safe
    trim_blocks=True,
    lstrip_blocks=True,
)

User = Annotated[Any, Depends(current_user)]


def project_of(request: Request) -> Project:
    return api(request).project


def csrf_of(request: Request, user: Any) -> str | None:
    """The CSRF token of the caller's cookie session (None for Basic or a bearer token, which
    need none: a browser does not attach them to another site's form on its own)."""
    key = request.cookies.get(SESSION_COOKIE)
    session = api(request).sessions.get(key) if key else None
    if session is None or user is None or session.user != user.name:
        return None
    return session.csrf


def may(user: Any, role: str) -> bool:
    return user is not None and Project.role_at_least(user, role)


def sees_runs(request: Request, user: Any) -> bool:
    """Whether the run log (runs, steps, pipelines' ticks) is the user's to read."""
    try:
        may_see(request, user, "system.run_steps")
        may_see(request, user)
    except HTTPException:
        return False
    return True


def url(path: str, **params: Any) -> str:
    """A UI link with its query (None values left out)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{UI}{path}" + (f"?{query}" if query else "")


def table_url(fqn: str) -> str:
    layer, _, name = fqn.partition(".")
    return f"{UI}/tables/{layer}/{name}"


env.globals.update(url=url, table_url=table_url, UI=UI)


def render(
    request: Request,
    user: Any,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """`template` rendered for `user`; with `HX-Request` (htmx asking for a part of the page)
    only the template's `content` block."""
    partial = request.headers.get("hx-request") == "true" and "fragment" in context
    page = env.get_template(context.pop("fragment") if partial else template)
    context.pop("fragment", None)
    html = page.render(
        request=request,
        user=user,
        csrf=csrf_of(request, user),
        may=lambda role: may(user, role),
        runs_visible=user is not None and sees_runs(request, user),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})


def svg(markup: str) -> Markup:
    """A picture drawn by serve.web's SVG functions, which escape every text they write."""
    return Markup(markup)
