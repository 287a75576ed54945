"""`/lineage`: the graph of tables as JSON, the whole of it or a node's neighbourhood (`up` and
`down` levels), with only the tables the caller may read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from medallion.serve.http.auth import api, current_user

router = APIRouter(tags=["lineage"])


@router.get("/lineage")
def lineage(
    request: Request,
    user: Annotated[Any, Depends(current_user)],
    node: Annotated[str | None, Query(description="a table: gold.sales (or its bare name)")] = None,
    up: Annotated[int | None, Query(ge=0, description="levels upstream (default: all)")] = None,
    down: Annotated[int | None, Query(ge=0, description="levels downstream (default: all)")] = None,
) -> dict[str, Any]:
    """`{"nodes": [{id, layer, kind}], "edges": [{from, to, kind}]}`: `kind` data (a table
    reads another) or check (a table's checks read another). With `node`: that node and what
    lies within `up` levels upstream and `down` levels downstream of it."""
    project = api(request).project
    graph = project.lineage(None, user)
    focus = None
    if node is not None:
        focus = project.lineage(node, user)["node"]  # 404 unknown, 403 not readable
        keep = {focus} | _reach(graph, focus, up, "up") | _reach(graph, focus, down, "down")
        graph = {n: e for n, e in graph.items() if n in keep}
    nodes = [{"id": n, "layer": n.split(".", 1)[0], "kind": e["kind"]} for n, e in graph.items()]
    edges = [
        {"from": src, "to": n, "kind": kind}
        for n, e in graph.items()
        for kind, key in (("data", "upstream"), ("check", "checks_read"))
        for src in e[key]
        if src in graph
    ]
    return {"node": focus, "nodes": nodes, "edges": edges}


def _reach(graph: dict[str, Any], start: str, levels: int | None, way: str) -> set[str]:
    """Nodes within `levels` steps of `start` upstream or downstream (None: any number)."""
    if way == "up":
        step = {n: set(e["upstream"]) | set(e["checks_read"]) for n, e in graph.items()}
    else:
        step = {n: set() for n in graph}
        for n, e in graph.items():
            for src in {*e["upstream"], *e["checks_read"]}:
                step.setdefault(src, set()).add(n)
    seen: set[str] = set()
    frontier = {start}
    depth = 0
    while frontier and (levels is None or depth < levels):
        frontier = {m for n in frontier for m in step.get(n, ())} - seen - {start}
        seen |= frontier
        depth += 1
    return seen
