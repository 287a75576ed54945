"""Where tables live: `<storage>/<layer>/<table>`, one Delta table per folder; and the ids that
tie Delta commits to what wrote them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from medallion.storage.tables import is_delta_table


def app_id(writer: Literal["ingest", "model", "replay"], name: str) -> str:
    """The Delta application transaction id of a source's ingests, a model's builds or a
    model's replays (`medallion.<writer>.<name>`): its version in a table's log says which of
    that writer's batches the table holds, which is how a re-run after a crash knows what was
    committed."""
    return f"medallion.{writer}.{name}"


class Catalog:
    def __init__(self, root: Path, layers: list[str]) -> None:
        self.root = root
        self.layers = layers

    def path(self, fqn: str) -> Path:
        layer, name = fqn.split(".", 1)
        return self.root / layer / name

    def exists(self, fqn: str) -> bool:
        return is_delta_table(self.path(fqn))

    def tables(self) -> list[str]:
        """Every Delta table in storage, `<layer>.<name>`, in layer order then by name."""
        found: list[str] = []
        for layer in self.layers:
            folder = self.root / layer
            if folder.is_dir():
                found.extend(
                    f"{layer}.{child.name}"
                    for child in sorted(folder.iterdir())
                    if child.is_dir() and is_delta_table(child)
                )
        return found
