"""`/session`: sign in for the UI (a session cookie, HttpOnly, SameSite=Strict, Secure over
HTTPS) and the CSRF token every POST made with that cookie must send in `X-CSRF-Token`."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ValidationError

from medallion.serve.http.auth import (
    SESSION_COOKIE,
    SESSION_IDLE_SECONDS,
    api,
    current_user,
    failed_login,
    is_form,
    peer,
    same_origin,
    session_payload,
)

router = APIRouter(tags=["session"])


class Login(BaseModel):
    user: str
    password: str


@router.post(
    "/session",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": Login.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": Login.model_json_schema()},
            },
            "required": True,
        }
    },
)
async def sign_in(request: Request, response: Response) -> dict[str, Any]:
    """Check the user's password (the SQL endpoint's) and open a session: the cookie, and the
    CSRF token to send with each POST. JSON or an HTML form (`user`, `password`). A wrong
    password is 401 and audited."""
    if not same_origin(request):
        raise HTTPException(403, detail="cross-site request refused (its Origin is another site)")
    try:
        data = dict(await request.form()) if is_form(request) else await request.json()
        body = Login.model_validate(data)
    except (ValueError, ValidationError):
        raise HTTPException(422, detail="send user and password (JSON or a form)") from None
    identity, session, key = await anyio.to_thread.run_sync(open_session, request, body)
    set_session_cookie(response, request, key)
    return session_payload(identity, session)


def set_session_cookie(response: Response, request: Request, key: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS (the API's sign-in and
    the UI's login page alike)."""
    response.set_cookie(
        SESSION_COOKIE,
        key,
        max_age=SESSION_IDLE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def open_session(request: Request, body: Login) -> tuple[Any, Any, str]:
    a = api(request)
    identity = a.project.check_password(body.user, body.password, a.secret)
    if identity is None:
        raise failed_login(request, body.user, "session", "password authentication failed")
    key, session = a.sessions.open(identity.name, identity.password_stamp)
    a.project.audit_login(
        identity.name,
        True,
        peer(request),
        request.headers.get("user-agent"),
        service="http",
        method="session",
    )
    return identity, session, key


@router.get("/session")
def whoami(request: Request, user: Annotated[Any, Depends(current_user)]) -> dict[str, Any]:
    """Who is signed in (any credentials); with a cookie session, its CSRF token too."""
    key = request.cookies.get(SESSION_COOKIE)
    session = api(request).sessions.get(key) if key else None
    out = {"user": user.name, "role": user.role, "groups": list(user.groups)}
    if session is not None and session.user == user.name:
        out["csrf_token"] = session.csrf
    return out


@router.post("/session/end")
def sign_out(
    request: Request, response: Response, user: Annotated[Any, Depends(current_user)]
) -> dict[str, Any]:
    """End the cookie session (needs its CSRF token, as every POST with a cookie does)."""
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        api(request).sessions.close(key)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"user": user.name, "signed_out": True}
