"""The lineage graph as a server-rendered SVG: tables left to right in the order data flows.

Input is `Project.lineage()` (node -> {kind, upstream, checks_read}); the picture is laid out
by grandalf's Sugiyama layout (layers by longest path, crossing reduction, Brandes-Köpf
coordinates) and written as plain SVG: every table a link with a tooltip, every edge a path
with an arrow head, the edges a check adds (`relationships`, `reconciliation` reading another
table) dashed. No script: the page works without JavaScript, and the same input gives the same
bytes.

Big graphs are what other lineage pages choke on (Dagster's global lineage hangs at 200-500
assets), so the whole graph is drawn only up to `max_nodes`; above it the caller asks for a
focus, and a focus draws the neighbourhood of one table, `up` levels of inputs and `down`
levels of readers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from medallion.errors import MedallionError
from medallion.serve.web.svg import FONT, SVG_NS, esc, num, shorten, text_width

#: edge kinds: a model reads its input; a check of the model reads another table
READS, CHECK = "reads", "check"

#: fill and stroke per medallion layer; other layers take PALETTE colours in order of appearance
LAYER_COLOURS = {
    "bronze": ("#f6e2cf", "#9c5a22"),
    "silver": ("#e7ebf0", "#5f6f80"),
    "gold": ("#fbeeb4", "#a57b00"),
}
PALETTE = [
    ("#dcefd0", "#4a7f2a"),
    ("#d6e6f8", "#2f5f9a"),
    ("#efdcf7", "#7b3fa0"),
    ("#f9d9d9", "#a33a3a"),
    ("#d4f0ee", "#2a7c76"),
]

NAME_SIZE = 12.0
SUB_SIZE = 10.0
NODE_H = 38.0
PAD_X = 10.0
MIN_W = 110.0
COL_GAP = 70.0  # between columns: room for the edges' curves
ROW_GAP = 12.0  # between tables of one column
MARGIN = 16.0
LEGEND_H = 30.0


class LineageError(MedallionError):
    """A lineage picture that cannot be drawn as asked (an unknown focus, negative levels)."""


class LineageTooLargeError(LineageError):
    """More tables than a picture shows at once: the page asks for a focus instead."""

    def __init__(self, nodes: int, max_nodes: int, focus: str | None) -> None:
        self.nodes = nodes
        self.max_nodes = max_nodes
        what = f"the neighbourhood of {focus}" if focus else "the lineage graph"
        super().__init__(
            f"{what} has {nodes} tables, more than the {max_nodes} drawn at once",
            hint=(
                "draw fewer levels up or down"
                if focus
                else "pick a table to focus on: its neighbourhood is drawn, a few levels "
                "of inputs and readers"
            ),
        )


@dataclass
class _Node:
    name: str
    kind: str
    layer: str
    label: str
    sub: str
    w: float
    parents: list[tuple[str, str]] = field(default_factory=list)  # (parent, READS | CHECK)
    rank: int = 0
    y: float = 0.0  # centre, along the column
    x: float = 0.0  # left edge


def edges_of(graph: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(from, to, kind) for every edge between nodes of `graph`, in the graph's order: a model
    reads its `upstream`; the tables its checks read point at it too (they are built before
    it). A name the graph does not hold (hidden from the user) has no edge."""
    out: list[tuple[str, str, str]] = []
    for node, entry in graph.items():
        seen: set[str] = set()
        for kind, key in ((READS, "upstream"), (CHECK, "checks_read")):
            for parent in entry.get(key) or ():
                if parent in graph and parent not in seen and parent != node:
                    seen.add(parent)
                    out.append((parent, node, kind))
    return out


def resolve(graph: Mapping[str, Any], name: str) -> str:
    """`layer.table`, or a bare table name when one layer holds it."""
    if name in graph:
        return name
    lowered = name.lower()
    if lowered in graph:
        return lowered
    matches = [n for n in graph if n.split(".", 1)[-1] == lowered]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise LineageError(
            f"{name!r} is in more than one layer: {', '.join(matches)}",
            hint="name the table as <layer>.<table>",
        )
    raise LineageError(
        f"no table {name!r} in the lineage graph",
        hint="tables are named <layer>.<table>; the lineage page lists them",
    )


def neighbourhood(
    graph: Mapping[str, Mapping[str, Any]], focus: str, up: int = 2, down: int = 2
) -> dict[str, int]:
    """The tables within `up` levels of inputs and `down` levels of readers of `focus` (a check
    reading a table counts as an edge): node -> its signed level (inputs negative), in the
    graph's order. Inputs of readers and readers of inputs (siblings) are not included."""
    if up < 0 or down < 0:
        raise LineageError(f"levels must be 0 or more, not up={up} down={down}")
    focus = resolve(graph, focus)
    parents: dict[str, list[str]] = {n: [] for n in graph}
    children: dict[str, list[str]] = {n: [] for n in graph}
    for a, b, _ in edges_of(graph):
        parents[b].append(a)
        children[a].append(b)
    level = {focus: 0}
    for links, limit, sign in ((parents, up, -1), (children, down, 1)):
        seen = {focus: 0}
        todo = deque([focus])
        while todo:
            n = todo.popleft()
            if seen[n] == limit:
                continue
            for m in links[n]:
                if m not in seen:
                    seen[m] = seen[n] + 1
                    level.setdefault(m, sign * seen[m])
                    todo.append(m)
    return {n: level[n] for n in graph if n in level}


def lineage_svg(
    graph: Mapping[str, Mapping[str, Any]],
    focus: str | None = None,
    up: int = 2,
    down: int = 2,
    max_nodes: int = 600,
    link: Callable[[str], str] | None = None,
    descriptions: Mapping[str, str | None] | None = None,
) -> str:
    """The lineage graph (`Project.lineage()`), or with `focus` the neighbourhood of one table,
    as an SVG document. `link(node)` gives each table's href; `descriptions` (node -> text)
    go into the tooltips. Raises LineageTooLargeError above `max_nodes` tables, LineageError
    for an unknown focus."""
    if focus is not None:
        levels = neighbourhood(graph, focus, up, down)
        focus = resolve(graph, focus)
        shown: list[str] = list(levels)
    else:
        shown = list(graph)
    if len(shown) > max_nodes:
        raise LineageTooLargeError(len(shown), max_nodes, focus)
    keep = set(shown)
    sub_graph = {n: graph[n] for n in shown}
    edges = edges_of(sub_graph)
    nodes = {n: _node(n, graph[n]) for n in shown}
    for a, b, kind in edges:
        nodes[b].parents.append((a, kind))
    hidden_up, hidden_down = _hidden(graph, keep) if focus is not None else ({}, {})
    routes = _layout(nodes, edges)
    return _render(
        nodes,
        edges,
        routes,
        focus=focus,
        link=link,
        descriptions=descriptions or {},
        hidden_up=hidden_up,
        hidden_down=hidden_down,
    )


def _node(name: str, entry: Mapping[str, Any]) -> _Node:
    layer, _, table = name.rpartition(".")
    kind = str(entry.get("kind") or "table")
    label = shorten(table or name, 48)
    sub = f"{layer} \N{MIDDLE DOT} {kind}" if layer else kind
    w = max(MIN_W, text_width(label, NAME_SIZE, bold=True), text_width(sub, SUB_SIZE)) + 2 * PAD_X
    return _Node(name, kind, layer, label, sub, w)


def _hidden(
    graph: Mapping[str, Mapping[str, Any]], keep: set[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """For each shown node, how many of its direct inputs and readers are not shown."""
    up: dict[str, int] = {}
    down: dict[str, int] = {}
    for a, b, _ in edges_of(graph):
        if b in keep and a not in keep:
            up[b] = up.get(b, 0) + 1
        if a in keep and b not in keep:
            down[a] = down.get(a, 0) + 1
    return up, down


# -- layout ---------------------------------------------------------------------------------


class _View:
    """What grandalf reads and writes per vertex. grandalf lays out top to bottom; the picture
    runs left to right, so its width is a node's height and its height a node's width."""

    __slots__ = ("h", "w", "xy")

    def __init__(self, w: float, h: float) -> None:
        self.w = w
        self.h = h
        self.xy = (0.0, 0.0)


def _sugiyama() -> type:
    from grandalf.layouts import SugiyamaLayout  # type: ignore[import-untyped]

    class Sugiyama(SugiyamaLayout):  # type: ignore[misc]
        """grandalf keeps its alignment conflicts in a list and tests membership once per
        aligned pair: quadratic, most of a 500-table layout's time. A set gives the same
        result."""

        def _detect_alignment_conflicts(self) -> None:
            super()._detect_alignment_conflicts()
            self.conflicts: set[tuple[Any, Any]] = set(self.conflicts)

    return Sugiyama


def _layout(
    nodes: dict[str, _Node], edges: list[tuple[str, str, str]]
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """Ranks and positions for `nodes`; returns the bends of each long edge (rank, position
    along the column) where it crosses the columns between its ends."""
    from grandalf.graphs import Edge, Vertex, graph_core  # type: ignore[import-untyped]

    if not nodes:
        return {}
    if not _is_acyclic(nodes, edges):
        # a loaded project never has one (models and checks are refused at load): this is a
        # graph from elsewhere, and a layered picture of it would be a lie
        raise LineageError(
            "the lineage graph has a cycle",
            hint="medallion refuses a model or check that reads a table built from itself; "
            "`medallion validate` names it",
        )
    # One virtual root above every table without inputs keeps the graph connected: one
    # layout in which unconnected parts share the columns instead of stacking one below another.
    root = Vertex("")
    root.view = _View(1.0, 1.0)
    vertex: dict[str, Any] = {}
    for name, node in nodes.items():
        v = Vertex(name)
        v.view = _View(NODE_H, node.w)
        vertex[name] = v
    gedges = [Edge(vertex[a], vertex[b]) for a, b, _ in edges]
    has_input = {b for _, b, _ in edges}
    gedges += [Edge(root, vertex[n]) for n in nodes if n not in has_input]
    core = graph_core([root, *vertex.values()], gedges)
    sug = _sugiyama()(core)
    sug.xspace = ROW_GAP
    sug.yspace = COL_GAP
    sug.dw = 8.0  # a long edge's slot in a column it crosses: a thin lane, not a node's height
    sug.init_all(roots=[root], inverted_edges=[])
    sug.draw(2)
    for name, v in vertex.items():
        nodes[name].rank = sug.grx[v].rank - 1
        nodes[name].y = v.view.xy[0]
    routes: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for (a, b, _), e in zip(edges, gedges, strict=False):
        ctrl = sug.ctrls.get(e)
        if ctrl:
            lo, hi = sorted((sug.grx[e.v[0]].rank, sug.grx[e.v[1]].rank))
            routes[(a, b)] = [(r - 1, ctrl[r].view.xy[0]) for r in range(lo + 1, hi)]
    return routes


def _is_acyclic(nodes: Iterable[str], edges: list[tuple[str, str, str]]) -> bool:
    indegree = dict.fromkeys(nodes, 0)
    children: dict[str, list[str]] = {n: [] for n in indegree}
    for a, b, _ in edges:
        indegree[b] += 1
        children[a].append(b)
    todo = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while todo:
        n = todo.pop()
        seen += 1
        for m in children[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                todo.append(m)
    return seen == len(indegree)


# -- drawing --------------------------------------------------------------------------------


def _colours(nodes: Iterable[_Node]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for node in nodes:
        if node.layer not in out:
            known = LAYER_COLOURS.get(node.layer)
            spare = sum(1 for layer in out if layer not in LAYER_COLOURS)
            out[node.layer] = known or PALETTE[spare % len(PALETTE)]
    return out


def _render(
    nodes: dict[str, _Node],
    edges: list[tuple[str, str, str]],
    routes: dict[tuple[str, str], list[tuple[int, float]]],
    *,
    focus: str | None,
    link: Callable[[str], str] | None,
    descriptions: Mapping[str, str | None],
    hidden_up: dict[str, int],
    hidden_down: dict[str, int],
) -> str:
    ranks = max((n.rank for n in nodes.values()), default=-1) + 1
    col_w = [MIN_W] * ranks
    for n in nodes.values():
        col_w[n.rank] = max(col_w[n.rank], n.w)
    col_x = []
    x = MARGIN + 14.0  # room for the "+N inputs" badges left of the first column
    for w in col_w:
        col_x.append(x)
        x += w + COL_GAP
    width = max(x - COL_GAP + MARGIN + 14.0, 420.0)
    ys = [n.y for n in nodes.values()] + [y for r in routes.values() for _, y in r]
    top = min(ys, default=0.0) - NODE_H / 2
    bottom = max(ys, default=0.0) + NODE_H / 2
    shift = MARGIN + LEGEND_H - top
    for n in nodes.values():
        n.y += shift
        n.x = col_x[n.rank] + (col_w[n.rank] - n.w) / 2
    height = bottom - top + 2 * MARGIN + LEGEND_H
    colours = _colours(nodes.values())
    title = (
        f"Lineage of {focus}: {len(nodes)} tables, {len(edges)} edges"
        if focus
        else f"Lineage: {len(nodes)} tables, {len(edges)} edges"
    )

    out: list[str] = [
        f'<svg xmlns="{SVG_NS}" class="medallion-lineage" width="{num(width)}" '
        f'height="{num(height)}" viewBox="0 0 {num(width)} {num(height)}" '
        f'aria-label="{esc(title)}" font-family="{esc(FONT)}">',
        f"<title>{esc(title)}</title>",
        "<style>.medallion-lineage a:hover rect,.medallion-lineage a:focus rect"
        "{stroke-width:3}.medallion-lineage g.edge:hover path{stroke:#1f4e9a;"
        "stroke-width:2.5}.medallion-lineage a:hover text{text-decoration:underline}</style>",
        "<defs>"
        '<marker id="medallion-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0L10,5L0,10z" fill="#66707a"/></marker>'
        '<marker id="medallion-arrow-check" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0L10,5L0,10z" fill="#8a6fb0"/></marker>'
        "</defs>",
    ]
    out.append(
        _legend(
            colours,
            any(n.kind == "view" for n in nodes.values()),
            any(k == CHECK for *_, k in edges),
        )
    )

    shifted = {k: [(r, y + shift) for r, y in v] for k, v in routes.items()}
    out.append('<g class="edges" fill="none">')
    for a, b, kind in edges:
        out.append(_edge(nodes[a], nodes[b], kind, shifted.get((a, b), []), col_x, col_w))
    out.append("</g>")

    out.append('<g class="nodes">')
    for node in nodes.values():
        out.append(
            _node_svg(
                node,
                colours[node.layer],
                focus=node.name == focus,
                href=link(node.name) if link else None,
                description=descriptions.get(node.name),
                hidden_up=hidden_up.get(node.name, 0),
                hidden_down=hidden_down.get(node.name, 0),
            )
        )
    out.append("</g></svg>")
    return "\n".join(out)


def _legend(colours: dict[str, tuple[str, str]], views: bool, checks: bool) -> str:
    parts = ['<g class="legend" font-size="11" fill="#333">']
    x = MARGIN
    y = MARGIN
    for layer, (fill, stroke) in colours.items():
        name = layer or "table"
        parts.append(
            f'<rect x="{num(x)}" y="{num(y)}" width="14" height="12" rx="3" fill="{fill}" '
            f'stroke="{stroke}"/><text x="{num(x + 19)}" y="{num(y + 10)}">{esc(name)}</text>'
        )
        x += 30 + text_width(name, 11)
    if views:
        parts.append(
            f'<rect x="{num(x)}" y="{num(y)}" width="14" height="12" rx="3" fill="#fff" '
            f'stroke="#666" stroke-dasharray="3 2"/>'
            f'<text x="{num(x + 19)}" y="{num(y + 10)}">view (not stored)</text>'
        )
        x += 30 + text_width("view (not stored)", 11)
    parts.append(
        f'<path d="M{num(x)},{num(y + 6)}h26" stroke="#66707a" stroke-width="1.4" '
        f'marker-end="url(#medallion-arrow)"/>'
        f'<text x="{num(x + 32)}" y="{num(y + 10)}">reads</text>'
    )
    x += 40 + text_width("reads", 11)
    if checks:
        parts.append(
            f'<path d="M{num(x)},{num(y + 6)}h26" stroke="#8a6fb0" stroke-width="1.4" '
            f'stroke-dasharray="5 3" marker-end="url(#medallion-arrow-check)"/>'
            f'<text x="{num(x + 32)}" y="{num(y + 10)}">a check reads</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _edge(
    a: _Node,
    b: _Node,
    kind: str,
    bends: list[tuple[int, float]],
    col_x: list[float],
    col_w: list[float],
) -> str:
    """A path from a's right side to b's left side: straight through each column it crosses
    (at the slot the layout kept free for it), a smooth curve between columns."""
    points: list[tuple[float, float]] = [(a.x + a.w, a.y)]
    for rank, y in bends:
        points.append((col_x[rank], y))
        points.append((col_x[rank] + col_w[rank], y))
    points.append((b.x - 1.5, b.y))
    x0, y0 = points[0]
    d = [f"M{num(x0)},{num(y0)}"]
    for i, (x1, y1) in enumerate(points[1:]):
        if i % 2 == 1:  # across a column
            d.append(f"H{num(x1)}")
        else:
            mid = (x0 + x1) / 2
            d.append(f"C{num(mid)},{num(y0)} {num(mid)},{num(y1)} {num(x1)},{num(y1)}")
        x0, y0 = x1, y1
    if kind == CHECK:
        style = (
            'stroke="#8a6fb0" stroke-width="1.3" stroke-dasharray="5 3" '
            'marker-end="url(#medallion-arrow-check)"'
        )
        tip = f"a check of {b.name} reads {a.name}"
    else:
        style = 'stroke="#66707a" stroke-width="1.3" marker-end="url(#medallion-arrow)"'
        tip = f"{b.name} reads {a.name}"
    return (
        f'<g class="edge {kind}" data-from="{esc(a.name)}" data-to="{esc(b.name)}">'
        f'<path d="{"".join(d)}" {style}><title>{esc(tip)}</title></path></g>'
    )


def _node_svg(
    node: _Node,
    colour: tuple[str, str],
    *,
    focus: bool,
    href: str | None,
    description: str | None,
    hidden_up: int,
    hidden_down: int,
) -> str:
    fill, stroke = colour
    x, y, w = node.x, node.y - NODE_H / 2, node.w
    tip = [node.name, f"kind: {node.kind}"]
    ins = [p for p, k in node.parents if k == READS]
    checked = [p for p, k in node.parents if k == CHECK]
    if ins:
        tip.append("reads: " + ", ".join(ins))
    if checked:
        tip.append("its checks read: " + ", ".join(checked))
    if hidden_up:
        tip.append(f"{hidden_up} more input{'s' if hidden_up > 1 else ''} not shown")
    if hidden_down:
        tip.append(f"{hidden_down} more reader{'s' if hidden_down > 1 else ''} not shown")
    if description:
        tip.append(shorten(" ".join(str(description).split()), 600))
    dash = ' stroke-dasharray="4 3"' if node.kind == "view" else ""
    weight = "3" if focus else "1.3"
    body = [
        f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(NODE_H)}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{weight}"{dash}/>',
        f'<text x="{num(x + PAD_X)}" y="{num(y + 16)}" font-size="{num(NAME_SIZE)}" '
        f'font-weight="{"700" if focus else "600"}" fill="#1d1d1d">{esc(node.label)}</text>',
        f'<text x="{num(x + PAD_X)}" y="{num(y + 30)}" font-size="{num(SUB_SIZE)}" '
        f'fill="#555">{esc(node.sub)}</text>',
    ]
    # inputs or readers left out of a neighbourhood: a "+N" tab on that side's top corner
    for count, cx in ((hidden_up, x), (hidden_down, x + w)):
        if count:
            label = f"+{count}"
            bw = text_width(label, 10) + 8
            body.append(
                f'<g class="more"><rect x="{num(cx - bw / 2)}" y="{num(y - 7)}" '
                f'width="{num(bw)}" height="14" rx="7" fill="#fff" stroke="{stroke}"/>'
                f'<text x="{num(cx)}" y="{num(y + 3.5)}" font-size="10" text-anchor="middle" '
                f'fill="#333">{label}</text></g>'
            )
    inner = f"<title>{esc(chr(10).join(tip))}</title>{''.join(body)}"
    cls = "node focus" if focus else "node"
    if href is not None:
        inner = f'<a href="{esc(href)}">{inner}</a>'
    return f'<g class="{cls}" data-node="{esc(node.name)}">{inner}</g>'
