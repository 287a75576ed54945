"""`/tables`: the tables a caller may read, one table's schema, checks and history, and its rows
(filtered, ordered, paged, as of a version or time) in json, csv, parquet or xlsx."""

from __future__ import annotations

from typing import Annotated, Any

import sqlglot
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlglot import exp
from sqlglot.errors import ParseError

from medallion.errors import MedallionError
from medallion.serve.http.auth import api, current_user, peer
from medallion.serve.http.formats import Format
from medallion.serve.http.reading import cap_message, stream, table_ref

router = APIRouter(tags=["tables"])
User = Annotated[Any, Depends(current_user)]


def table_dict(row: Any) -> dict[str, Any]:
    return {
        "layer": row.layer,
        "name": row.name,
        "kind": row.kind,
        "rows": row.rows,
        "version": row.version,
        "last_written": row.last_written.isoformat() if row.last_written else None,
        "size_bytes": row.size_bytes,
        "partition_by": row.partition_by,
        "description": row.description,
    }


def _listing(request: Request) -> list[Any]:
    a = api(request)
    return a.listing.rows(a.project)


def row_filtered(project: Any, user: Any, fqn: str) -> bool:
    """Whether `user` reads `fqn` through a row filter: then the table's own row counts (the
    listing's, its history's) would tell what the filter hides, and are not shown."""
    access = project.config.access
    return (
        access is not None
        and fqn in access.row_filters
        and not project.role_at_least(user, "contributor")
    )


def _counted(project: Any, user: Any, row: Any) -> dict[str, Any]:
    out = table_dict(row)
    if row_filtered(project, user, f"{row.layer}.{row.name}"):
        out["rows"] = None
    return out


@router.get("/tables")
def list_tables(request: Request, user: User) -> list[dict[str, Any]]:
    """Each table and view the caller may read (a viewer: those its groups' grants name); a
    table the caller reads through a row filter without its row count."""
    project = api(request).project
    return [
        _counted(project, user, r)
        for r in _listing(request)
        if project.may_read(user, f"{r.layer}.{r.name}")
    ]


def _existing(request: Request, layer: str, name: str) -> Any:
    """The table's listing row (for every user: whether it exists); 404 when it does not."""
    for row in _listing(request):
        if row.layer == layer and row.name == name:
            return row
    raise HTTPException(404, detail=f"no table {layer}.{name}")


def _exists(request: Request, layer: str, name: str) -> None:
    """404 unless `layer.name` is a stored table or a view model (without reading any table's
    Delta log, as the full listing does)."""
    project = api(request).project
    fqn = f"{layer}.{name}"
    model = project.models.get(fqn)
    if not project.catalog.exists(fqn) and (model is None or model.kind != "view"):
        raise HTTPException(404, detail=f"no table {fqn}")


def _ref(layer: str, name: str) -> exp.Table:
    return exp.table_(
        exp.to_identifier(name, quoted=True), db=exp.to_identifier(layer, quoted=True)
    )


@router.get("/tables/{layer}/{name}")
def table_detail(request: Request, layer: str, name: str, user: User) -> dict[str, Any]:
    """The table's listing, its columns as the caller reads them (masked columns may be text)
    with their descriptions, its checks and expectations, and its Delta history. Reading the
    schema is a read: refused (403, audited) when the caller may not read the table."""
    project = api(request).project
    row = _existing(request, layer, name)
    fqn = f"{layer}.{name}"
    empty = exp.select("*").from_(table_ref(layer, name)).limit(0).sql(dialect="duckdb")
    reader = project.query_reader(
        empty,
        None,
        user,
        service="http",
        client=request.headers.get("user-agent"),
        source=peer(request),
    )
    schema = reader.schema
    reader.read_all()
    model = project.models.get(fqn)
    described = model.config.column_descriptions() if model else {}
    checks: list[dict[str, Any]] = [
        {**_dump(spec), "name": spec.check_name, "kind": spec.type}
        for spec in project.checks.tables.get(fqn, [])
    ]
    if model is not None:
        for ename, expectation in model.config.expectations.items():
            checks.append({**_dump(expectation), "name": ename, "kind": "expectation"})
    try:
        _, history = project.table_history(fqn, 20)
    except MedallionError:
        history = []  # a view has no Delta history
    if row_filtered(project, user, fqn):
        history = [{k: v for k, v in h.items() if "rows" not in k} for h in history]
    return {
        **_counted(project, user, row),
        "columns": [
            {"name": f.name, "type": str(f.type), "description": described.get(f.name)}
            for f in schema
        ],
        "checks": checks,
        "history": [_plain(h) for h in history],
    }


def _dump(spec: Any) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True) if hasattr(spec, "model_dump") else {}


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in entry.items()}


def _parse(text: str, into: type[exp.Expression], what: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(text, into=into, dialect="duckdb")
    except ParseError:
        raise HTTPException(400, detail=f"{what} {text!r} does not parse as DuckDB SQL") from None


@router.get("/tables/{layer}/{name}/rows", response_class=StreamingResponse)
def table_rows(
    request: Request,
    layer: str,
    name: str,
    user: User,
    limit: Annotated[int | None, Query(ge=0, description="most rows to return")] = None,
    offset: Annotated[int, Query(ge=0, description="rows to skip first")] = 0,
    where: Annotated[str | None, Query(description="a SQL condition: amount > 10")] = None,
    order: Annotated[str | None, Query(description="SQL ORDER BY terms: amount desc, id")] = None,
    as_of: Annotated[str | None, Query(description="a version number or an ISO time")] = None,
    format: Annotated[Format, Query(description="json | csv | parquet | xlsx")] = "json",
) -> StreamingResponse:
    """The table's rows as the caller may read them (row filter and masks applied), streamed.
    `where` and `order` are SQL over the table's columns; the query they make is checked like
    any other (one SELECT over tables the caller may read), so they cannot reach further."""
    _exists(request, layer, name)
    _, cap = api(request).limits(user.role)
    if cap and limit is not None and limit > cap:
        raise HTTPException(413, detail=cap_message(cap))
    query = exp.select("*").from_(table_ref(layer, name))
    if where:
        query = query.where(_parse(where, exp.Condition, "where"))
    if order:
        ordered = _parse("ORDER BY " + order, exp.Order, "order")
        query = query.order_by(*ordered.expressions)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    sql = query.sql(dialect="duckdb")
    return stream(request, user, sql, format, f"{layer}.{name}", as_of=_as_of(as_of))


def _as_of(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    text = value.strip()
    return int(text) if text.isdigit() else text
