"""Quarantine: each quarantine table the signed-in user may read, its rows (with `_raw` and
`_error` for a source's, the failed expectations for a model's) grouped by reason, and replay
(member and up): the rows that now pass their model's expectations move into the model."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlglot import exp

from medallion.serve.http import quarantine as api_quarantine
from medallion.serve.http.auth import api, peer
from medallion.serve.http.reading import table_ref
from medallion.serve.web.pages.common import UI, User, render, url

router = APIRouter()

#: rows shown on a quarantine table's page
SHOWN = 100
#: the columns that say why a row was quarantined, by kind of quarantine table
REASON_COLUMNS = ("_error", "_failed_expectations")


@router.get("/quarantine")
def quarantine_page(request: Request, user: User) -> Response:
    listed = api_quarantine.list_quarantine(request, user)
    return render(request, user, "quarantine.html", tables=listed)


def _reason(row: dict[str, Any]) -> str:
    for column in REASON_COLUMNS:
        value = row.get(column)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value) or "?"
        if value:
            return str(value)
    return "?"


@router.get("/quarantine/{table}")
def quarantine_table_page(
    request: Request,
    table: str,
    user: User,
    reason: str | None = None,
    moved: int | None = None,
    remaining: int | None = None,
) -> Response:
    q = api_quarantine._find(request, table)
    layer, name = q.table.split(".", 1)
    sql = exp.select("*").from_(table_ref(layer, name)).sql(dialect="duckdb")
    reader = api(request).project.query_reader(
        sql, None, user, service="http", source=peer(request)
    )
    data = reader.read_all()  # 403 (audited) when the user may not read it
    rows = data.to_pylist()
    reasons = Counter(_reason(r) for r in rows)
    if reason:
        rows = [r for r in rows if _reason(r) == reason]
    columns = data.column_names
    return render(
        request,
        user,
        "quarantine_table.html",
        q=q,
        columns=columns,
        rows=[[r.get(c) for c in columns] for r in rows[:SHOWN]],
        matching=len(rows),
        reasons=reasons.most_common(),
        reason=reason,
        replayable=q.kind == "model",
        replayed=None if moved is None else {"moved": moved, "remaining": remaining},
    )


@router.post("/quarantine/{table}/replay")
def replay(request: Request, table: str, user: User) -> Response:
    """The API's replay (member and up, audited), then back to the table's page saying what
    moved."""
    q = api_quarantine._find(request, table)
    if q.kind != "model":
        raise HTTPException(400, detail=f"{q.table} holds a source's rows: re-run its ingest")
    result = api_quarantine.replay(request, table, user)
    target = url(f"/quarantine/{q.table}", moved=result["moved"], remaining=result["remaining"])
    return RedirectResponse(target if target.startswith(UI) else UI, status_code=303)
