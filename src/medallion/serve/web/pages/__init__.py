"""The web UI of `medallion serve --http-port`: server-rendered pages under /ui/ on the API's
port, one module per page group, Jinja2 templates with autoescape, one CSS file and a vendored
htmx (`static/htmx.min.js`: htmx 2.0.11 as the npm package htmx.org ships it, Zero-Clause BSD),
served at /ui/static. Every read page works without JavaScript; htmx only
refreshes parts (a running run's steps, the catalog's search results).

`mount_ui(app)` adds the pages to the API's app: the sign-in is the API's session, every read
goes through the API's route functions as the signed-in user, and a page's error is an HTML
page (a request without a session is sent to the login page) while the API's stay JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from medallion.errors import AccessDeniedError, MedallionError
from medallion.serve.http.auth import identify
from medallion.serve.web.pages import (
    access,
    lineage,
    overview,
    pipelines,
    quality,
    quarantine,
    runs,
    signin,
    tables,
)
from medallion.serve.web.pages.common import STATIC, UI, render

router = APIRouter(prefix=UI, include_in_schema=False)
for _module in (signin, overview, runs, tables, lineage, quarantine, pipelines, quality, access):
    router.include_router(_module.router)


def _is_ui(request: Request) -> bool:
    return request.url.path == UI or request.url.path.startswith(UI + "/")


def _who(request: Request) -> Any:
    """The signed-in user for an error page's header, if any (never raises)."""
    try:
        return identify(request) if request.method == "GET" else None
    except Exception:
        return None


def mount_ui(app: FastAPI, status_of: Any) -> None:
    """Add the UI to `app` (the API's): the pages, /ui/static, `/` -> /ui/, and HTML error
    pages for /ui/ paths (`status_of(error)`: the API's status for a medallion error)."""
    app.include_router(router)
    app.mount(f"{UI}/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse(f"{UI}/", status_code=307)

    @app.get(UI, include_in_schema=False)
    def ui_root() -> Response:
        return RedirectResponse(f"{UI}/", status_code=307)

    json_http = app.exception_handlers[HTTPException]
    json_medallion = app.exception_handlers[MedallionError]

    def http_error(request: Request, error: HTTPException) -> Response:
        if not _is_ui(request):
            return json_http(request, error)  # type: ignore[no-any-return]
        if error.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method != "GET":
                target = UI + "/"
            return RedirectResponse(f"{UI}/login?next={quote(target)}", status_code=303)
        return render(
            request,
            _who(request),
            "error.html",
            error.status_code,
            message=str(error.detail),
            hint=None,
        )

    def medallion_error(request: Request, error: MedallionError) -> Response:
        if not _is_ui(request):
            return json_medallion(request, error)  # type: ignore[no-any-return]
        status = status_of(error)
        if isinstance(error, AccessDeniedError) and "does not parse" in error.message:
            status = 400
        return render(
            request, _who(request), "error.html", status, message=error.message, hint=error.hint
        )

    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(MedallionError, medallion_error)  # type: ignore[arg-type]
