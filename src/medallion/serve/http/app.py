"""`create_app(project)`: the FastAPI application of `medallion serve --http-port`.

Routes live under /api/v1, one module per resource group; OpenAPI is at /api/docs (and
/api/openapi.json). A medallion error becomes one JSON answer `{"error", "hint"}` with the
status its kind calls for (refused 403, unknown table or selection 404, bad SQL 400, the
writer lock held 409, the project's files edited into a state that does not load 503);
nothing else of the failure (no traceback) reaches the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from medallion.errors import (
    AccessDeniedError,
    ConfigError,
    LockError,
    MedallionError,
    ProjectUnavailableError,
    QueryError,
    ScramError,
    SelectionError,
    StateError,
    StorageError,
)
from medallion.serve.http import (
    admin,
    lineage,
    pipelines,
    quality,
    quarantine,
    query,
    runs,
    session,
    tables,
)
from medallion.serve.http.auth import Api
from medallion.serve.live import LiveProject

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from medallion.project import Project

API_PREFIX = "/api/v1"

#: the HTTP status of a medallion error, by its class (the first of its MRO listed here)
STATUS: dict[type[MedallionError], int] = {
    AccessDeniedError: 403,
    ScramError: 401,
    SelectionError: 404,
    LockError: 409,
    QueryError: 400,
    ConfigError: 400,
    ProjectUnavailableError: 503,  # an edit that does not load: refused until it is fixed
    StorageError: 400,
    StateError: 400,
}


def status_of(error: MedallionError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def create_app(
    project: Project | LiveProject,
    *,
    secret: bytes | None = None,
    statement_timeout: float | None = None,
    max_rows: int | None = None,
) -> FastAPI:
    """The API over `project` (a `LiveProject` the SQL endpoint shares, or a Project to follow
    from now on). `secret` (default: random per process) derives the work an
    unknown user's password check costs, so it costs what a known one's does.
    `statement_timeout` (seconds) and `max_rows`, when given, are every user's (0: no limit);
    by default each user's come from medallion.yml's serve: block."""
    live = project if isinstance(project, LiveProject) else LiveProject(project)
    app = FastAPI(
        title=f"medallion: {live.current().config.name}",
        version="1",
        description="The lakehouse's tables, runs, lineage and pipelines; see docs/http-api.md.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.api = Api(live, statement_timeout=statement_timeout, max_rows=max_rows)
    if secret is not None:
        app.state.api.secret = secret
    for module in (session, tables, query, runs, lineage, quality, quarantine, pipelines, admin):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.exception_handler(MedallionError)
    def medallion_error(request: Request, error: MedallionError) -> JSONResponse:
        status = status_of(error)
        if isinstance(error, AccessDeniedError) and "does not parse" in error.message:
            status = 400  # refused as unreadable by the policy; to the caller a syntax error
        return JSONResponse({"error": error.message, "hint": error.hint}, status_code=status)

    @app.exception_handler(HTTPException)  # Starlette's: an unknown route's 404 too
    def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": error.detail, "hint": None},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return JSONResponse({"error": "; ".join(problems), "hint": None}, status_code=422)

    # the web UI under /ui/ on the same port (imported here: its pages import this package)
    from medallion.serve.web.pages import mount_ui

    mount_ui(app, status_of)
    app.add_middleware(NoStore)
    return app


class NoStore:
    """Every answer `Cache-Control: no-store` (rows read under one user's grants must not stay
    in a browser's or a proxy's cache for the next) and `X-Content-Type-Options: nosniff`."""

    HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [h for h in self.HEADERS if h[0] not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
