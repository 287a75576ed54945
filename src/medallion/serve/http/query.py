"""`POST /query`: one read-only SQL statement, as the SQL endpoint runs it (one SELECT over the
tables the caller may read, masks and row filters applied, audited), in any of the formats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from medallion.serve.http.auth import current_user
from medallion.serve.http.formats import Format
from medallion.serve.http.reading import stream

router = APIRouter(tags=["query"])


class QueryBody(BaseModel):
    sql: str = Field(description="one SELECT in DuckDB SQL: select * from gold.sales limit 5")
    params: list[Any] | None = Field(
        default=None, description="values for $1, $2 (or ?), bound as literals, never as SQL"
    )
    as_of: int | str | None = Field(
        default=None, description="a version (the query reads one table) or an ISO time"
    )
    format: Format | None = None


@router.post("/query", response_class=StreamingResponse)
def run_query(
    request: Request,
    body: QueryBody,
    user: Annotated[Any, Depends(current_user)],
    format: Annotated[Format | None, Query(description="overrides the body's")] = None,
) -> StreamingResponse:
    """Run `sql` as the caller and stream its rows (json unless `format` says otherwise)."""
    fmt = format or body.format or "json"
    return stream(request, user, body.sql, fmt, "query", as_of=body.as_of, params=body.params)
