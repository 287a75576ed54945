"""Sign in and out: the login form opens the API's own session (`serve/http/session.py`: the
password checked against the SQL endpoint's verifier, the attempt audited) and sets its
HttpOnly, SameSite=Strict cookie; signing out is a POST carrying the session's CSRF token."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from medallion.serve.http.auth import SESSION_COOKIE, api, same_origin
from medallion.serve.http.session import Login, open_session, set_session_cookie
from medallion.serve.web.pages.common import UI, User, render

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of this UI only (never another site: `//host`,
    a scheme, or a backslash that browsers read as a slash)."""
    if (
        not target
        or not target.startswith(UI + "/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return UI + "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, None, "login.html", next=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    if not same_origin(request):
        raise HTTPException(403, detail="cross-site request refused (its Origin is another site)")
    form = await request.form()
    name, password, target = (form.get(k) for k in ("user", "password", "next"))
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return render(request, None, "login.html", 400, next=safe_next(None), error="give a user")
    target = safe_next(target if isinstance(target, str) else None)
    try:
        _identity, _session, key = await anyio.to_thread.run_sync(
            open_session, request, Login(user=name, password=password)
        )
    except HTTPException as e:
        if e.status_code != 401:
            raise
        # one message for an unknown user and a wrong password: which names exist stays secret
        return render(request, None, "login.html", 401, next=target, error="wrong user or password")
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, key)
    return response


@router.post("/logout")
def logout(request: Request, user: User) -> Response:
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        api(request).sessions.close(key)
    response = RedirectResponse(UI + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
