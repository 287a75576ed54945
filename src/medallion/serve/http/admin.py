"""Administration (admin role only): the access audit, users (role, groups, password, API
tokens) and what `access:` in medallion.yml grants. Grants, masks and row filters are the
project's files, reviewed like code: shown here, changed in medallion.yml. Every change is in
the audit, with the admin who made it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from medallion.serve.http import formats
from medallion.serve.http.auth import api, at_least, audit_action, current_user
from medallion.state.identities import MIN_PASSWORD_LENGTH

router = APIRouter(tags=["admin"])
Role = Literal["admin", "member", "contributor", "viewer"]


def admin(user: Annotated[Any, Depends(current_user)]) -> Any:
    at_least(user, "admin")
    return user


Admin = Annotated[Any, Depends(admin)]


@router.get("/audit", response_class=StreamingResponse)
def audit(
    request: Request,
    user: Admin,
    who: Annotated[str | None, Query(alias="user", description="only this user's events")] = None,
    since: Annotated[datetime | None, Query(description="ISO time")] = None,
    format: Annotated[formats.Format, Query()] = "json",
) -> StreamingResponse:
    """The access audit, oldest first: logins, queries (ok, denied, error), admin changes."""
    project = api(request).project
    project.audit_log.flush()  # the events of the last seconds too
    table = project.audit(who, since)
    return formats.response(table.to_batches(), table.schema, format, "access_audit")


def _user(identity: Any, tokens: list[Any]) -> dict[str, Any]:
    return {
        "name": identity.name,
        "role": identity.role,
        "groups": list(identity.groups),
        "password": identity.verifier is not None,
        "tokens": [
            {
                "token_id": t.token_id,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            }
            for t in tokens
            if t.user == identity.name
        ],
    }


@router.get("/admin/users")
def users(request: Request, user: Admin) -> list[dict[str, Any]]:
    """Every user with effective role, groups, whether it has a password, its tokens."""
    project = api(request).project
    tokens = project.tokens()
    return [_user(i, tokens) for i in project.identities.list()]


class NewUser(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.@-]{0,62}$")
    role: Role = "viewer"
    groups: list[str] = Field(default_factory=list)
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH)


@router.post("/admin/users", status_code=201)
def add_user(request: Request, body: NewUser, user: Admin) -> dict[str, Any]:
    """Add a user (a password of 8 characters or more, or none: tokens only)."""
    project = api(request).project
    if project.authenticate(body.name) is not None:
        raise HTTPException(409, detail=f"user {body.name} exists")
    made = project.add_user(body.name, body.role, body.groups, body.password)
    audit_action(request, user, "user_add", {"name": body.name, "role": body.role})
    return _user(made, [])


class Change(BaseModel):
    role: Role | None = None
    add_groups: list[str] = Field(default_factory=list)
    remove_groups: list[str] = Field(default_factory=list)
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH)


@router.post("/admin/users/{name}")
def change_user(request: Request, name: str, body: Change, user: Admin) -> dict[str, Any]:
    """Change a user's role, groups or password."""
    project = api(request).project
    _existing(request, name)
    if body.role or body.add_groups or body.remove_groups:
        project.change_groups(name, body.add_groups, body.remove_groups, body.role)
    if body.password is not None:
        project.set_password(name, body.password)
    audit_action(request, user, "user_change", {"name": name, "role": body.role})
    return _user(_existing(request, name), project.tokens(name))


@router.post("/admin/users/{name}/remove")
def remove_user(request: Request, name: str, user: Admin) -> dict[str, Any]:
    """Remove a user (its sessions end at their next request)."""
    _existing(request, name)
    if name == user.name:
        raise HTTPException(400, detail="an admin cannot remove itself")
    api(request).project.remove_user(name)
    audit_action(request, user, "user_remove", {"name": name})
    return {"name": name, "removed": True}


@router.post("/admin/users/{name}/tokens", status_code=201)
def create_token(request: Request, name: str, user: Admin) -> dict[str, Any]:
    """A new API token for the user: its secret is in this answer only, never again."""
    _existing(request, name)
    token_id, secret = api(request).project.create_token(name)
    audit_action(request, user, "token_create", {"name": name, "token_id": token_id})
    return {"name": name, "token_id": token_id, "secret": secret}


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, user: Admin) -> dict[str, Any]:
    owner = api(request).project.revoke_token(token_id)
    audit_action(request, user, "token_revoke", {"name": owner, "token_id": token_id})
    return {"token_id": token_id, "name": owner, "revoked": True}


@router.get("/admin/grants")
def grants(request: Request, user: Admin) -> dict[str, Any]:
    """What medallion.yml's `access:` says: grants per group, row filters, masks, unmask."""
    access = api(request).project.config.access
    if access is None:
        return {"grants": {}, "row_filters": {}, "masks": {}, "unmask": []}
    return {
        "grants": {g: list(items) for g, items in access.grants.items()},
        "row_filters": dict(access.row_filters),
        "masks": {k: str(v) for k, v in access.masks.items()},
        "unmask": list(access.unmask),
        "group_roles": api(request).project.identities.group_roles(),
    }


class GroupRole(BaseModel):
    #: the role every member of the group has at least; none: the group gives no role
    role: Role | None = None


@router.post("/admin/groups/{group}/role")
def set_group_role(request: Request, group: str, body: GroupRole, user: Admin) -> dict[str, Any]:
    """Give a group a role (its members have at least that role), or take it away: the
    state-database side of access. What a group may read is `access.grants` in medallion.yml."""
    api(request).project.set_group_role(group, body.role)
    audit_action(request, user, "group_role", {"group": group, "role": body.role})
    return {"group": group, "role": body.role}


def _existing(request: Request, name: str) -> Any:
    identity = api(request).project.authenticate(name)
    if identity is None:
        raise HTTPException(404, detail=f"no user {name}")
    return identity
