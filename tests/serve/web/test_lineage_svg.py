"""The lineage picture on real projects: the retail template's graph (15 tables, checks that
read other tables) and a small hand-made project whose neighbourhoods are worked out by hand.

Every picture is parsed as XML, so a test fails on an SVG a browser would not draw."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import medallion, write_project

from medallion.project import Project
from medallion.serve.web import (
    LineageError,
    LineageTooLargeError,
    column_lineage,
    column_lineage_svg,
    lineage_svg,
    neighbourhood,
)

NS = {"s": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("retail")
    medallion("init", "shop", "-t", "retail", cwd=root, check=True)
    return Project.load(root / "shop")


#: sources a, b; silver s1 <- a, s2 <- a + b, s3 <- s1; gold g1 <- s3, g2 <- s2 + s3, g3 <- g1
SMALL_MODELS = {
    "silver/s1.sql": "select id from bronze.a",
    "silver/s2.sql": "select a.id from bronze.a a join bronze.b b on a.id = b.id",
    "silver/s3.sql": "select id from silver.s1",
    "gold/g1.sql": """
        /* ---
        description: Totals </title><script>alert(1)</script> & "friends" > 3
        --- */
        select id from silver.s3
    """,
    "gold/g2.sql": "select s2.id from silver.s2 s2 join silver.s3 s3 on s2.id = s3.id",
    "gold/g3.sql": "select id from gold.g1",
}
SMALL_CONFIG = """
name: small
sources:
  a:
    path: data/a.csv
  b:
    path: data/b.csv
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = write_project(
        tmp_path_factory.mktemp("small") / "small",
        SMALL_CONFIG,
        SMALL_MODELS,
        {"data/a.csv": "id\n1\n2\n", "data/b.csv": "id\n2\n3\n"},
    )
    return Project.load(root)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def nodes_of(root: ET.Element) -> dict[str, ET.Element]:
    found = {g.get("data-node"): g for g in root.iter(f"{SVG}g") if g.get("data-node")}
    return {k: v for k, v in found.items() if k is not None}


def edges_of(root: ET.Element) -> list[tuple[str | None, str | None, str]]:
    out = []
    for g in root.iter(f"{SVG}g"):
        if g.get("data-from"):
            kind = (g.get("class") or "").split()[-1]
            out.append((g.get("data-from"), g.get("data-to"), kind))
    return out


def box(node: ET.Element) -> tuple[float, float, float, float]:
    rect = node.find(".//s:rect", NS)
    assert rect is not None
    x, y = float(rect.get("x", "nan")), float(rect.get("y", "nan"))
    return x, y, x + float(rect.get("width", "nan")), y + float(rect.get("height", "nan"))


def title(node: ET.Element) -> str:
    t = node.find(".//s:title", NS)
    assert t is not None and t.text is not None
    return t.text


def expected_edges(graph: dict[str, Any]) -> set[tuple[str, str, str]]:
    out = set()
    for node, entry in graph.items():
        out |= {(u, node, "reads") for u in entry["upstream"]}
        out |= {(c, node, "check") for c in entry["checks_read"]}
    return out


def test_the_whole_retail_graph_every_table_and_edge(retail: Project) -> None:
    graph = retail.lineage()
    assert len(graph) == 15
    svg = lineage_svg(graph, link=lambda n: f"/ui/tables/{n}")
    root = parse(svg)

    nodes = nodes_of(root)
    assert set(nodes) == set(graph)
    edges = edges_of(root)
    want = expected_edges(graph)
    assert len(edges) == sum(len(e["upstream"]) + len(e["checks_read"]) for e in graph.values())
    assert set(edges) == want
    # the retail checks: fact_orders' relationships check reads dim_customers, and
    # fact_order_lines' reads dim_products; both are dashed, the reads are not
    assert ("silver.dim_customers", "silver.fact_orders", "check") in want
    assert ("silver.dim_products", "silver.fact_order_lines", "check") in want
    for g in root.iter(f"{SVG}g"):
        if g.get("data-from"):
            path = g.find("s:path", NS)
            assert path is not None
            dashed = path.get("stroke-dasharray") is not None
            assert dashed == g.get("class", "").endswith("check")
            assert path.get("marker-end", "").startswith("url(#medallion-arrow")

    for name, g in nodes.items():
        link = g.find("s:a", NS)
        assert link is not None and link.get("href") == f"/ui/tables/{name}"
        tip = title(g)
        assert tip.splitlines()[0] == name
        assert f"kind: {graph[name]['kind']}" in tip
        assert any(t.text == name.split(".", 1)[1] for t in g.iter(f"{SVG}text"))
    assert "reads: bronze.orders, silver.fact_order_lines, silver.fact_payments" in title(
        nodes["silver.fact_orders"]
    )
    assert "its checks read: silver.dim_customers" in title(nodes["silver.fact_orders"])
    # a view is drawn with a dashed border
    view = nodes["gold.reporting_customer_stats"].find(".//s:rect", NS)
    assert view is not None and view.get("stroke-dasharray")


def test_layout_flows_left_to_right_without_overlaps(retail: Project) -> None:
    graph = retail.lineage()
    root = parse(lineage_svg(graph))
    width, height = (float(v) for v in root.get("viewBox", "").split()[2:])
    boxes = {name: box(g) for name, g in nodes_of(root).items()}
    for x0, y0, x1, y1 in boxes.values():
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ax0, ay0, ax1, ay1 = boxes[a]
            bx0, by0, bx1, by1 = boxes[b]
            overlap = ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1
            assert not overlap, (a, b)
    # every edge runs from its input's right side to a table further right
    for a, b, _ in edges_of(root):
        assert a is not None and b is not None
        assert boxes[a][2] < boxes[b][0], (a, b)
    # sources, which read nothing, are the first column
    first = min(x0 for x0, *_ in boxes.values())
    assert {n for n, bx in boxes.items() if bx[0] == first} <= {
        n for n, e in graph.items() if e["kind"] == "source"
    }


def test_the_same_graph_gives_the_same_bytes_in_another_process(retail: Project) -> None:
    """grandalf's objects hash by address: the picture must not depend on where they live."""
    graph = retail.lineage()
    here = lineage_svg(graph)
    assert lineage_svg(graph) == here
    code = (
        "import sys\n"
        "from medallion.project import Project\n"
        "from medallion.serve.web import lineage_svg\n"
        "sys.stdout.write(lineage_svg(Project.load(sys.argv[1]).lineage()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", code, str(retail.root)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout
    assert there == here


def test_neighbourhoods_worked_out_by_hand(small: Project) -> None:
    graph = small.lineage()
    assert neighbourhood(graph, "silver.s3", 1, 1) == {
        "silver.s1": -1,
        "silver.s3": 0,
        "gold.g1": 1,
        "gold.g2": 1,
    }
    # two levels: s1's input a, g1's reader g3; not s2 (an input of a reader: a sibling)
    assert neighbourhood(graph, "silver.s3", 2, 2) == {
        "bronze.a": -2,
        "silver.s1": -1,
        "silver.s3": 0,
        "gold.g1": 1,
        "gold.g2": 1,
        "gold.g3": 2,
    }
    assert neighbourhood(graph, "s3", 0, 0) == {"silver.s3": 0}
    assert neighbourhood(graph, "bronze.a", 0, 3) == {
        "bronze.a": 0,
        "silver.s1": 1,
        "silver.s2": 1,
        "silver.s3": 2,
        "gold.g2": 2,
        "gold.g1": 3,
    }

    root = parse(lineage_svg(graph, focus="silver.s3", up=1, down=1))
    nodes = nodes_of(root)
    assert set(nodes) == {"silver.s1", "silver.s3", "gold.g1", "gold.g2"}
    assert set(edges_of(root)) == {
        ("silver.s1", "silver.s3", "reads"),
        ("silver.s3", "gold.g1", "reads"),
        ("silver.s3", "gold.g2", "reads"),
    }
    assert "focus" in nodes["silver.s3"].get("class", "")
    # what the neighbourhood leaves out is counted on the table it hangs from
    assert "1 more input not shown" in title(nodes["silver.s1"])  # bronze.a
    assert "1 more reader not shown" in title(nodes["gold.g1"])  # gold.g3
    assert "1 more input not shown" in title(nodes["gold.g2"])  # silver.s2
    assert "not shown" not in title(nodes["silver.s3"])
    more = {
        name: [t.text for t in g.iter(f"{SVG}text") if (t.text or "").startswith("+")]
        for name, g in nodes.items()
    }
    assert more == {"silver.s1": ["+1"], "silver.s3": [], "gold.g1": ["+1"], "gold.g2": ["+1"]}


def test_a_check_reading_a_table_is_followed_by_a_focus(retail: Project) -> None:
    """dim_customers' readers: reporting_customer_stats reads it, fact_orders' check reads it."""
    graph = retail.lineage()
    assert set(neighbourhood(graph, "silver.dim_customers", 1, 1)) == {
        "bronze.customers",
        "silver.dim_customers",
        "silver.fact_orders",
        "gold.reporting_customer_stats",
    }
    root = parse(lineage_svg(graph, focus="dim_customers", up=1, down=1))
    assert set(edges_of(root)) == {
        ("bronze.customers", "silver.dim_customers", "reads"),
        ("silver.dim_customers", "silver.fact_orders", "check"),
        ("silver.dim_customers", "gold.reporting_customer_stats", "reads"),
    }


def test_the_size_limit(retail: Project) -> None:
    graph = retail.lineage()
    with pytest.raises(LineageTooLargeError) as caught:
        lineage_svg(graph, max_nodes=14)
    err = caught.value
    assert (err.nodes, err.max_nodes) == (15, 14)
    assert "15 tables, more than the 14 drawn at once" in str(err)
    assert err.hint is not None and "focus" in err.hint
    assert len(nodes_of(parse(lineage_svg(graph, max_nodes=15)))) == 15
    # a focus below the limit is drawn; a neighbourhood above it asks for fewer levels
    assert len(nodes_of(parse(lineage_svg(graph, "fact_orders", 1, 1, max_nodes=14)))) == 8
    with pytest.raises(LineageTooLargeError) as caught:
        lineage_svg(graph, "fact_orders", 1, 1, max_nodes=7)
    assert "the neighbourhood of silver.fact_orders has 8 tables" in str(caught.value)
    assert caught.value.hint is not None and "fewer levels" in caught.value.hint


def test_an_unknown_or_ambiguous_focus_is_a_clear_error(small: Project) -> None:
    graph = small.lineage()
    with pytest.raises(LineageError, match=re.escape("no table 'silver.nope'")):
        lineage_svg(graph, focus="silver.nope")
    with pytest.raises(LineageError, match="levels must be 0 or more"):
        lineage_svg(graph, focus="silver.s1", up=-1)
    two_layers = {**graph, "gold.s1": {"kind": "table", "upstream": [], "checks_read": []}}
    with pytest.raises(LineageError, match=re.escape("more than one layer: silver.s1, gold.s1")):
        lineage_svg(two_layers, focus="s1")


def test_a_cycle_is_refused_not_drawn() -> None:
    """Project.load refuses cycles; a graph that has one (hand-written) is an error here too."""
    graph = {
        "silver.a": {"kind": "table", "upstream": ["silver.b"], "checks_read": []},
        "silver.b": {"kind": "table", "upstream": [], "checks_read": ["silver.a"]},
    }
    with pytest.raises(LineageError, match="has a cycle"):
        lineage_svg(graph)


def test_text_cannot_inject_markup(small: Project) -> None:
    """Model names are restricted; descriptions and links are not."""
    small.run()
    descriptions = {f"{t.layer}.{t.name}": t.description for t in small.tables()}
    described = descriptions["gold.g1"]
    assert described is not None and "<script>" in described
    svg = lineage_svg(
        small.lineage(),
        link=lambda n: f'/ui/lineage?node={n}&up=2&x="><script>',
        descriptions=descriptions,
    )
    assert "<script" not in svg
    root = parse(svg)
    assert not list(root.iter(f"{SVG}script"))
    nodes = nodes_of(root)
    assert described.strip() in title(nodes["gold.g1"])
    link = nodes["gold.g1"].find("s:a", NS)
    assert link is not None
    assert link.get("href") == '/ui/lineage?node=gold.g1&up=2&x="><script>'
    # characters XML cannot hold at all (from binary data) are replaced, not passed through
    bad = lineage_svg(small.lineage(), descriptions={"silver.s1": "nul \x00 bell \x07"})
    assert "\N{REPLACEMENT CHARACTER}" in title(nodes_of(parse(bad))["silver.s1"])


def test_tables_hidden_from_a_user_leave_no_dangling_edge(small: Project) -> None:
    """A listing filtered by access keeps the names of hidden inputs out; a graph that still
    names one (an older caller) draws no edge to it."""
    graph = small.lineage()
    del graph["bronze.b"]
    root = parse(lineage_svg(graph))
    assert "bronze.b" not in nodes_of(root)
    assert all("bronze.b" not in (a, b) for a, b, _ in edges_of(root))
    assert len(edges_of(root)) == len(expected_edges(small.lineage())) - 1


def test_an_empty_project_draws_an_empty_picture(tmp_path: Path) -> None:
    root = parse(lineage_svg(Project.load(write_project(tmp_path, "name: empty\n")).lineage()))
    assert nodes_of(root) == {}
    assert title(root).startswith("Lineage: 0 tables")


# -- column lineage -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_retail(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The retail template, run once: its tables' schemas are the models' inputs."""
    root = tmp_path_factory.mktemp("built")
    medallion("init", "shop", "-t", "retail", "--rows", "2000", cwd=root, check=True)
    project = Project.load(root / "shop")
    assert project.run().ok
    return project


def traced(project: Project, fqn: str) -> dict[str, list[tuple[str, str]]]:
    inputs = {u: project.preview(u, 0).schema.names for u in project.lineage()[fqn]["upstream"]}
    return column_lineage(project.models[fqn].text, inputs)


def test_column_lineage_of_fact_orders_read_by_hand(built_retail: Project) -> None:
    """silver.fact_orders: `select *` of bronze.orders in a CTE, line aggregates in another,
    payments picked by a window in a third (models/silver/fact_orders.sql)."""
    cols = traced(built_retail, "silver.fact_orders")
    assert list(cols)[:3] == ["order_id", "customer_id", "order_date"]
    assert cols["order_id"] == [("bronze.orders", "order_id")]
    assert cols["channel"] == [("bronze.orders", "channel")]
    assert cols["item_count"] == [("silver.fact_order_lines", "quantity")]  # sum(quantity)
    assert cols["net_amount"] == [("silver.fact_order_lines", "line_total")]
    assert cols["amount_mismatch"] == [
        ("bronze.orders", "total_amount"),
        ("silver.fact_order_lines", "line_total"),
    ]
    # sum(payment_amount) filter (where is_successful)
    assert cols["paid_amount"] == [
        ("silver.fact_payments", "is_successful"),
        ("silver.fact_payments", "payment_amount"),
    ]
    # max(payment_method) filter (where payment_rank = 1): the window's columns count too
    assert ("silver.fact_payments", "payment_method") in cols["payment_method"]
    assert {t for t, _ in cols["payment_method"]} == {"silver.fact_payments"}
    assert cols["line_count"] == []  # count(*): no input column
    # without the inputs' columns SQLGlot cannot see through `select *`
    blind = column_lineage(built_retail.models["silver.fact_orders"].text)
    assert list(blind) == list(cols)
    assert blind["order_id"] == []


def test_column_lineage_picture(built_retail: Project) -> None:
    fqn = "gold.reporting_sales_wide"
    cols = traced(built_retail, fqn)
    assert cols["customer_name"] == [("silver.customers_history", "full_name")]
    assert cols["product_name"] == [("silver.dim_products", "product_name")]
    # every column of this model is qualified by its table's alias (c.full_name): SQLGlot
    # traces it as well without the inputs' columns
    assert column_lineage(built_retail.models[fqn].text) == cols
    svg = column_lineage_svg(fqn, cols, link=lambda t: f"/ui/tables/{t}?tab=columns&x=1")
    root = parse(svg)
    tables = {
        g.get("data-table"): g for g in root.iter(f"{SVG}g") if g.get("data-table") is not None
    }
    assert set(tables) == {fqn, *built_retail.lineage()[fqn]["upstream"]}
    out = [c.get("data-column") for c in tables[fqn].iter(f"{SVG}g") if c.get("data-column")]
    assert out == list(cols)
    edges = {
        (g.get("data-from"), g.get("data-to")) for g in root.iter(f"{SVG}g") if g.get("data-to")
    }
    want = {(f"{t}.{c}", out_col) for out_col, srcs in cols.items() for t, c in srcs}
    assert edges == want and len(want) == sum(len(s) for s in cols.values())
    # every input column drawn is one some output column reads
    for name, g in tables.items():
        if name != fqn:
            drawn = {c.get("data-column") for c in g.iter(f"{SVG}g") if c.get("data-column")}
            assert drawn == {c for srcs in cols.values() for t, c in srcs if t == name}
    link = tables[fqn].find("s:a", NS)
    assert link is not None and link.get("href") == f"/ui/tables/{fqn}?tab=columns&x=1"
    # the edges leave the inputs' column on the left and reach the model's on the right
    box = tables[fqn].find("s:rect[@fill='none']", NS)
    assert box is not None
    model_x = float(box.get("x", "nan"))
    for g in root.iter(f"{SVG}g"):
        if g.get("data-to"):
            path = g.find("s:path", NS)
            assert path is not None
            end_x = float(path.get("d", "").rsplit(" ", 1)[-1].split(",")[0])
            assert model_x - 2 <= end_x < model_x


def test_column_lineage_errors() -> None:
    with pytest.raises(LineageError, match="SQLGlot cannot parse"):
        column_lineage("select from where (")
    with pytest.raises(LineageError, match="needs a query"):
        column_lineage("create table x (a int)")
    svg = column_lineage_svg("gold.x", {"a": [], 'b"<c>': [("silver.y", "z&w")]})
    root = parse(svg)
    assert "<c>" not in svg
    cols = [g.get("data-column") for g in root.iter(f"{SVG}g") if g.get("data-column")]
    assert cols == ["z&w", "a", 'b"<c>']
