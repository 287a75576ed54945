"""Tables: the catalog of what the signed-in user may read, with a search; one table's schema
with column descriptions, checks and expectations, Delta history (each version's run), a
governed sample and downloads (the API's rows endpoint: CSV, Parquet, xlsx)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlglot import exp

from medallion.serve.http import tables as api_tables
from medallion.serve.http.auth import api, peer
from medallion.serve.http.reading import table_ref
from medallion.serve.web.pages.common import User, render

router = APIRouter()

#: rows in a table page's sample
SAMPLE = 20


@router.get("/tables")
def tables_page(request: Request, user: User, q: str | None = None) -> Response:
    listed = api_tables.list_tables(request, user)
    needle = (q or "").strip().lower()
    if needle:
        listed = [
            t
            for t in listed
            if needle in f"{t['layer']}.{t['name']}".lower()
            or needle in (t.get("description") or "").lower()
        ]
    return render(
        request, user, "tables.html", fragment="tables_list.html", tables=listed, q=q or ""
    )


def sample(request: Request, user: Any, layer: str, name: str, limit: int) -> dict[str, Any]:
    """The first `limit` rows as `user` reads them (grants, masks, row filters; audited as an
    HTTP read), capped by the user's row cap."""
    _, cap = api(request).limits(user.role)
    if cap:
        limit = min(limit, cap)
    sql = exp.select("*").from_(table_ref(layer, name)).limit(limit).sql(dialect="duckdb")
    reader = api(request).project.query_reader(
        sql,
        None,
        user,
        service="http",
        client=request.headers.get("user-agent"),
        source=peer(request),
    )
    table = reader.read_all()
    return {"columns": table.column_names, "rows": [list(r.values()) for r in table.to_pylist()]}


@router.get("/tables/{layer}/{name}")
def table_page(request: Request, layer: str, name: str, user: User) -> Response:
    detail = api_tables.table_detail(request, layer, name, user)  # 404 unknown, 403 refused
    rows = sample(request, user, layer, name, SAMPLE)
    base = f"/api/v1/tables/{layer}/{name}/rows"
    downloads = [(fmt, f"{base}?format={fmt}") for fmt in ("csv", "parquet", "xlsx")]
    return render(
        request,
        user,
        "table.html",
        t=detail,
        fqn=f"{layer}.{name}",
        # a quarantine table is not a node of the lineage: link to the table it belongs to
        lineage_of=api(request).project.lineage_node(f"{layer}.{name}"),
        sample=rows,
        downloads=downloads,
    )
