"""The DAG: stable order, cycles, dbt-style selection, and Project.lineage()."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medallion.errors import ModelError, SelectionError
from medallion.models.graph import Graph
from medallion.project import Project

LAYERS = ["bronze", "silver", "gold"]

#: node -> the tables it reads
UPSTREAM: dict[str, list[str]] = {
    "bronze.orders": [],
    "bronze.customers": [],
    "bronze.payments": [],
    "silver.orders": ["bronze.orders"],
    "silver.customers": ["bronze.customers"],
    "silver.payments": ["bronze.payments"],
    "gold.sales": ["silver.orders", "silver.customers"],
    "gold.customer_stats": ["silver.customers", "gold.sales"],
}


@pytest.fixture
def graph() -> Graph:
    return Graph(UPSTREAM, LAYERS)


# -- order ------------------------------------------------------------------------------------


def test_order_is_layer_then_name(graph: Graph) -> None:
    assert graph.order == [
        "bronze.customers",
        "bronze.orders",
        "bronze.payments",
        "silver.customers",
        "silver.orders",
        "silver.payments",
        "gold.sales",
        "gold.customer_stats",  # after gold.sales, which it reads
    ]


def test_order_does_not_depend_on_insertion_order() -> None:
    reversed_upstream = dict(reversed(list(UPSTREAM.items())))
    assert Graph(reversed_upstream, LAYERS).order == Graph(UPSTREAM, LAYERS).order


def test_dependency_beats_layer_order() -> None:
    g = Graph({"gold.a": [], "silver.b": ["gold.a"], "silver.z": [], "bronze.m": []}, LAYERS)
    assert g.order == ["bronze.m", "silver.z", "gold.a", "silver.b"]


def test_order_is_a_copy(graph: Graph) -> None:
    graph.order.clear()
    assert len(graph.order) == len(UPSTREAM)


def test_dependency_not_listed_as_a_node_is_added() -> None:
    g = Graph({"silver.a": ["bronze.x"]}, LAYERS)
    assert g.order == ["bronze.x", "silver.a"]
    assert g.up["bronze.x"] == []


def test_ancestors_and_descendants(graph: Graph) -> None:
    assert graph.ancestors("gold.customer_stats") == {
        "silver.customers",
        "bronze.customers",
        "gold.sales",
        "silver.orders",
        "bronze.orders",
    }
    assert graph.descendants("bronze.customers") == {
        "silver.customers",
        "gold.sales",
        "gold.customer_stats",
    }


# -- cycles -----------------------------------------------------------------------------------


def test_cycle_message_shows_the_path() -> None:
    up = {
        "bronze.x": [],
        "silver.a": ["silver.c"],
        "silver.b": ["silver.a"],
        "silver.c": ["silver.b"],
    }
    with pytest.raises(ModelError) as info:
        Graph(up, LAYERS)
    # data-flow order: a is read by b, b by c, c by a
    assert info.value.message == "dependency cycle: silver.a -> silver.b -> silver.c -> silver.a"


def test_cycle_across_layers() -> None:
    up = {"bronze.x": [], "silver.a": ["gold.b"], "gold.b": ["silver.a", "bronze.x"]}
    with pytest.raises(ModelError, match=r"^dependency cycle: gold\.b -> silver\.a -> gold\.b$"):
        Graph(up, LAYERS)


def test_self_cycle() -> None:
    with pytest.raises(ModelError, match=r"dependency cycle: silver\.a -> silver\.a"):
        Graph({"silver.a": ["silver.a"]}, LAYERS)


# -- selection --------------------------------------------------------------------------------


@pytest.mark.parametrize("expressions", [None, [], ["  "], [" , "]])
def test_empty_selection_selects_all(graph: Graph, expressions: list[str] | None) -> None:
    assert graph.select(expressions) == graph.order


def test_select_one(graph: Graph) -> None:
    assert graph.select(["gold.sales"]) == ["gold.sales"]


def test_select_with_upstream(graph: Graph) -> None:
    assert graph.select(["+gold.sales"]) == [
        "bronze.customers",
        "bronze.orders",
        "silver.customers",
        "silver.orders",
        "gold.sales",
    ]


def test_select_with_downstream(graph: Graph) -> None:
    assert graph.select(["silver.customers+"]) == [
        "silver.customers",
        "gold.sales",
        "gold.customer_stats",
    ]


def test_select_both_directions(graph: Graph) -> None:
    assert graph.select(["+silver.customers+"]) == [
        "bronze.customers",
        "silver.customers",
        "gold.sales",
        "gold.customer_stats",
    ]


def test_select_layer(graph: Graph) -> None:
    assert graph.select(["layer:silver"]) == [
        "silver.customers",
        "silver.orders",
        "silver.payments",
    ]


def test_select_layer_with_upstream(graph: Graph) -> None:
    assert graph.select(["+layer:gold"]) == [
        "bronze.customers",
        "bronze.orders",
        "silver.customers",
        "silver.orders",
        "gold.sales",
        "gold.customer_stats",
    ]


@pytest.mark.parametrize(
    "expressions",
    [
        ["silver.payments gold.sales"],
        ["silver.payments,gold.sales"],
        ["silver.payments, gold.sales"],
        ["gold.sales", "silver.payments"],
        ["gold.sales", "silver.payments", "gold.sales"],
    ],
)
def test_several_expressions_in_run_order(graph: Graph, expressions: list[str]) -> None:
    assert graph.select(expressions) == ["silver.payments", "gold.sales"]


def test_bare_name_resolves_when_unique(graph: Graph) -> None:
    assert graph.resolve("customer_stats") == "gold.customer_stats"
    assert graph.select(["sales+"]) == ["gold.sales", "gold.customer_stats"]


def test_ambiguous_bare_name(graph: Graph) -> None:
    with pytest.raises(SelectionError) as info:
        graph.select(["orders"])
    assert info.value.message == "'orders' is ambiguous: bronze.orders, silver.orders"
    assert info.value.hint == "qualify it with its layer"
    assert info.value.exit_code == 2


def test_unknown_name_with_suggestion(graph: Graph) -> None:
    with pytest.raises(SelectionError, match="nothing named 'salse' to select") as info:
        graph.select(["+salse"])
    assert info.value.hint == "did you mean 'sales'?"


def test_unknown_name_without_suggestion(graph: Graph) -> None:
    with pytest.raises(SelectionError, match="nothing named 'zzz' to select") as info:
        graph.select(["zzz"])
    assert info.value.hint == "`medallion lineage` lists every table"


@pytest.mark.parametrize("expr", ["++sales", "sales++", "sales-x", "gold/sales", "+"])
def test_malformed_selector(graph: Graph, expr: str) -> None:
    with pytest.raises(SelectionError) as info:
        graph.select([expr])
    assert info.value.message == f"cannot read selection {expr!r}"
    assert info.value.hint is not None and "layer:<layer>" in info.value.hint


def test_unknown_layer_selector(graph: Graph) -> None:
    with pytest.raises(SelectionError, match="unknown layer 'platinum'") as info:
        graph.select(["layer:platinum"])
    assert info.value.hint == "layers are: bronze, silver, gold"


# -- Project.lineage() ------------------------------------------------------------------------

CONFIG = """
name: p
sources:
  orders:
    path: data/orders.csv
  customers:
    path: data/customers.csv
"""

MODELS = {
    "silver/fact_orders.sql": """
        select * from bronze.orders o join bronze.customers c using (customer_id)
    """,
    "silver/dim_customers.sql": """
        /* ---
        kind: view
        --- */
        select * from bronze.customers
    """,
    "gold/sales.sql": "select * from silver.fact_orders join silver.dim_customers using (id)",
}


def test_lineage_of_the_whole_project(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, MODELS)
    assert project.lineage() == {
        "bronze.customers": {"kind": "source", "upstream": [], "checks_read": []},
        "bronze.orders": {"kind": "source", "upstream": [], "checks_read": []},
        "silver.dim_customers": {
            "kind": "view",
            "upstream": ["bronze.customers"],
            "checks_read": [],
        },
        "silver.fact_orders": {
            "kind": "table",
            "upstream": ["bronze.customers", "bronze.orders"],
            "checks_read": [],
        },
        "gold.sales": {
            "kind": "table",
            "upstream": ["silver.dim_customers", "silver.fact_orders"],
            "checks_read": [],
        },
    }
    assert list(project.lineage()) == project.graph.order


def test_lineage_of_one_node(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, MODELS)
    assert project.lineage("customers") == {
        "node": "bronze.customers",
        "kind": "source",
        "upstream": [],
        "downstream": ["silver.dim_customers", "silver.fact_orders", "gold.sales"],
        "direct_upstream": [],
        "direct_downstream": ["silver.dim_customers", "silver.fact_orders"],
        "checks_read": [],
        "read_by_checks_of": [],
    }
    one = project.lineage("silver.fact_orders")
    assert one["upstream"] == ["bronze.customers", "bronze.orders"]
    assert one["downstream"] == ["gold.sales"]


def test_lineage_shows_the_tables_checks_read(make_project: Callable[..., Project]) -> None:
    # a relationships check of fact_orders reads dim_customers, which fact_orders' SQL does not:
    # the run builds dim_customers first, and lineage says why
    models = {
        **MODELS,
        "silver/fact_orders.sql": """
            /* ---
            checks:
              - relationships: {column: customer_id, to: silver.dim_customers.customer_id}
            --- */
            select * from bronze.orders
        """,
    }
    project = make_project(CONFIG, models)
    whole = project.lineage()
    assert whole["silver.fact_orders"]["upstream"] == ["bronze.orders"]
    assert whole["silver.fact_orders"]["checks_read"] == ["silver.dim_customers"]
    assert whole["gold.sales"]["checks_read"] == []
    assert project.lineage("fact_orders")["checks_read"] == ["silver.dim_customers"]
    assert project.lineage("dim_customers")["read_by_checks_of"] == ["silver.fact_orders"]
    # --select +fact_orders follows the same edge
    assert "silver.dim_customers" in project.graph.select(["+silver.fact_orders"])


def test_lineage_unknown_node(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, MODELS)
    with pytest.raises(SelectionError, match="nothing named 'fact_order'") as info:
        project.lineage("fact_order")
    assert info.value.hint == "did you mean 'fact_orders'?"
