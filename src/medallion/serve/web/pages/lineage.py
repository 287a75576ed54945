"""Lineage: the graph of the tables the signed-in user may read as a server-drawn SVG. The whole
graph while it is small enough (`MAX_NODES`), else a form asks for a focus; `?node=&up=&down=`
draws a table's neighbourhood, and a SQL model's column lineage below it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlglot import exp

from medallion.errors import MedallionError
from medallion.serve.http.auth import api, peer
from medallion.serve.http.reading import table_ref
from medallion.serve.web.column_lineage_svg import column_lineage, column_lineage_svg
from medallion.serve.web.lineage_svg import LineageError, LineageTooLargeError, lineage_svg
from medallion.serve.web.pages.common import User, project_of, render, svg, table_url, url

router = APIRouter()

#: the most tables drawn at once (the whole graph of a 500-model project is drawn in < 1 s)
MAX_NODES = 600


@router.get("/lineage")
def lineage_page(
    request: Request,
    user: User,
    node: str | None = None,
    up: int = Query(2, ge=0, le=50),
    down: int = Query(2, ge=0, le=50),
) -> Response:
    project = project_of(request)
    graph = project.lineage(None, user)  # only the tables the user may read
    focus = (node or "").strip() or None
    if focus is not None:
        # as the API answers: unknown 404, not the user's to read 403 (audited)
        focus = project.lineage(focus, user)["node"]

    def link(n: str) -> str:
        return url("/lineage", node=n, up=up, down=down)

    listing = api(request).listing.rows(project)
    descriptions = {
        f"{r.layer}.{r.name}": r.description for r in listing if f"{r.layer}.{r.name}" in graph
    }
    picture, problem, too_large, status = None, None, None, 200
    try:
        picture = lineage_svg(
            graph,
            focus=focus,
            up=up,
            down=down,
            max_nodes=MAX_NODES,
            link=link,
            descriptions=descriptions,
        )
    except LineageTooLargeError as e:
        too_large = e
    except LineageError as e:
        problem, status = e, 404
    columns = None
    if focus and picture is not None:
        columns = _columns(request, user, focus, graph)
    return render(
        request,
        user,
        "lineage.html",
        status,
        picture=svg(picture) if picture else None,
        problem=problem,
        too_large=too_large,
        node=focus,
        resolved=focus,
        up=up,
        down=down,
        nodes=list(graph),
        columns=columns,
    )


def _columns(request: Request, user: Any, fqn: str, graph: dict[str, Any]) -> dict[str, Any]:
    """The column lineage of a SQL model whose inputs the user may all read (their columns
    read as the user: a hidden input's names are not shown), as a picture or why not."""
    project = project_of(request)
    model = project.models.get(fqn)
    if model is None or not getattr(model, "text", None) or model.kind == "python":
        return {"picture": None, "why": None}
    inputs: dict[str, list[str]] = {}
    # the model's own inputs, not the user's filtered view of them: a hidden input hides all
    for parent in project.lineage(fqn)["direct_upstream"]:
        if not project.may_read(user, parent):
            return {"picture": None, "why": "an input of this model is not yours to read"}
        layer, _, name = parent.partition(".")
        sql = exp.select("*").from_(table_ref(layer, name)).limit(0).sql(dialect="duckdb")
        try:
            reader = project.query_reader(sql, None, user, service="http", source=peer(request))
            inputs[parent] = list(reader.schema.names)
            reader.read_all()
        except MedallionError as e:
            return {"picture": None, "why": e.message}
    try:
        traced = column_lineage(model.text, inputs)
        # only columns of the inputs read above: SQL naming another table shows nothing of it
        traced = {
            col: [(table, column) for table, column in sources if table in inputs]
            for col, sources in traced.items()
        }
        return {"picture": svg(column_lineage_svg(fqn, traced, link=table_url)), "why": None}
    except LineageError as e:
        return {"picture": None, "why": e.message}
