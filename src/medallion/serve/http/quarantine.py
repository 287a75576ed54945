"""`/quarantine`: the quarantine tables the caller may read (a quarantine table is readable
with its table's grant, through its masks and row filter), their rows, and replay (member and
up): rows that now pass their model's expectations move into the model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlglot import exp

from medallion.serve.http.auth import api, at_least, audit_action, current_user
from medallion.serve.http.formats import Format
from medallion.serve.http.reading import stream, table_ref

router = APIRouter(tags=["quarantine"])
User = Annotated[Any, Depends(current_user)]


def _listing(q: Any) -> dict[str, Any]:
    return {
        "table": q.table,
        "of": q.of,
        "kind": q.kind,
        "rows": q.rows,
        "version": q.version,
        "last_written": q.last_written.isoformat() if q.last_written else None,
    }


@router.get("/quarantine")
def list_quarantine(request: Request, user: User) -> list[dict[str, Any]]:
    """Each quarantine table of a table the caller may read: what it belongs to, its rows."""
    project = api(request).project
    return [_listing(q) for q in project.quarantines() if project.may_read(user, q.table)]


def _find(request: Request, table: str) -> Any:
    """The quarantine table of `table` (a model or source, or the quarantine table's name)."""
    for q in api(request).project.quarantines():
        if table in (q.table, q.of):
            return q
    raise HTTPException(404, detail=f"no quarantine table for {table}")


@router.get("/quarantine/{table}/rows", response_class=StreamingResponse)
def quarantine_rows(
    request: Request,
    table: str,
    user: User,
    limit: Annotated[int | None, Query(ge=0)] = None,
    format: Annotated[Format, Query()] = "json",
) -> StreamingResponse:
    """The quarantined rows with `_raw` and `_error`, read as the caller (audited)."""
    q = _find(request, table)
    layer, name = q.table.split(".", 1)
    query = exp.select("*").from_(table_ref(layer, name))
    if limit is not None:
        query = query.limit(limit)
    return stream(request, user, query.sql(dialect="duckdb"), format, q.table)


@router.post("/quarantine/{table}/replay")
def replay(request: Request, table: str, user: User) -> dict[str, Any]:
    """Replay the model's quarantined rows (member and up); 409 while another writer runs."""
    at_least(user, "member")
    q = _find(request, table)
    project = api(request).project
    if not project.may_read(user, q.table):
        raise HTTPException(403, detail=f"reading {q.table} is not allowed for {user.name}")
    # the model's expectations as its file says now: a server outlives edits to its models
    result = project.reload().replay(q.of)
    audit_action(request, user, "quarantine_replay", {"model": q.of, "moved": result.moved})
    return {
        "model": result.model,
        "examined": result.examined,
        "moved": result.moved,
        "remaining": result.remaining,
        "model_version": result.model_version,
    }
