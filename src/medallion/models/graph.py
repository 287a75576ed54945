"""The DAG of sources and models, its order, and dbt-style graph selection.

Selection syntax (`medallion run --select ...`), several expressions separated by spaces or commas:

    orders              one node (a model or source; `layer.name` when a name is in two layers)
    +fact_orders        the node and everything upstream of it
    dim_customers+      the node and everything downstream of it
    +sales_summary+     both
    layer:silver        every node of a layer (accepts + too)
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping

from medallion.errors import ModelError, SelectionError, suggest

_SELECTOR_RE = re.compile(r"^(?P<up>\+)?(?P<name>[A-Za-z0-9_.:]+)(?P<down>\+)?$")


class Graph:
    """Nodes are fully qualified table names; edges point from a table to the tables it reads."""

    def __init__(self, upstream: Mapping[str, Iterable[str]], layers: list[str]) -> None:
        self.layers = layers
        self.up: dict[str, list[str]] = {n: list(deps) for n, deps in upstream.items()}
        self.down: dict[str, list[str]] = {n: [] for n in self.up}
        for node, deps in list(self.up.items()):
            for dep in deps:
                self.down.setdefault(dep, []).append(node)
                self.up.setdefault(dep, [])
        self._order = self._toposort()

    def _key(self, fqn: str) -> tuple[int, str]:
        layer = fqn.split(".", 1)[0]
        return (self.layers.index(layer) if layer in self.layers else len(self.layers), fqn)

    def _toposort(self) -> list[str]:
        """Kahn's algorithm; among ready nodes, earlier layers and then names come first, so the
        order is stable and reads naturally (bronze before silver before gold)."""
        indegree = {n: len(set(deps)) for n, deps in self.up.items()}
        ready = [self._key(n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, node = heapq.heappop(ready)
            order.append(node)
            for child in sorted(set(self.down.get(node, []))):
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, self._key(child))
        if len(order) != len(self.up):
            raise ModelError(f"dependency cycle: {' -> '.join(self.find_cycle())}")
        return order

    def find_cycle(self) -> list[str]:
        """One cycle as a path a -> b -> ... -> a (for the error message)."""
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            stack.append(node)
            for dep in sorted(self.up.get(node, [])):
                if state.get(dep) == 1:
                    return [*stack[stack.index(dep) :], dep]
                if dep not in state:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            state[node] = 2
            return None

        for node in sorted(self.up):
            if node not in state:
                cycle = visit(node)
                if cycle:
                    # print in data-flow order: a is read by b is read by ... a
                    return list(reversed(cycle))
        return []

    @property
    def order(self) -> list[str]:
        return list(self._order)

    def ancestors(self, node: str) -> set[str]:
        return self._walk(node, self.up)

    def descendants(self, node: str) -> set[str]:
        return self._walk(node, self.down)

    @staticmethod
    def _walk(node: str, edges: Mapping[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        todo = list(edges.get(node, []))
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(edges.get(n, []))
        return seen

    def resolve(self, name: str) -> str:
        """A node from `layer.name` or a bare name that is unique across layers."""
        if name in self.up:
            return name
        matches = [n for n in self.up if n.split(".", 1)[1] == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise SelectionError(
                f"{name!r} is ambiguous: {', '.join(sorted(matches))}",
                hint="qualify it with its layer",
            )
        names = sorted(set(self.up) | {n.split(".", 1)[1] for n in self.up})
        guess = suggest(name, names)
        raise SelectionError(
            f"nothing named {name!r} to select",
            hint=f"did you mean {guess!r}?" if guess else "`medallion lineage` lists every table",
        )

    def select(self, expressions: Iterable[str] | None) -> list[str]:
        """Nodes matched by selection expressions, in run order. None or empty selects all."""
        exprs = [e for raw in (expressions or []) for e in re.split(r"[\s,]+", raw) if e]
        if not exprs:
            return self.order
        chosen: set[str] = set()
        for expr in exprs:
            m = _SELECTOR_RE.match(expr)
            if not m:
                raise SelectionError(
                    f"cannot read selection {expr!r}",
                    hint="use name, +name (with upstream), name+ (with downstream) "
                    "or layer:<layer>",
                )
            name = m.group("name")
            if name.startswith("layer:"):
                layer = name.removeprefix("layer:")
                if layer not in self.layers:
                    raise SelectionError(
                        f"unknown layer {layer!r}", hint=f"layers are: {', '.join(self.layers)}"
                    )
                roots = {n for n in self.up if n.split(".", 1)[0] == layer}
            else:
                roots = {self.resolve(name)}
            chosen |= roots
            for root in roots:
                if m.group("up"):
                    chosen |= self.ancestors(root)
                if m.group("down"):
                    chosen |= self.descendants(root)
        return [n for n in self._order if n in chosen]
