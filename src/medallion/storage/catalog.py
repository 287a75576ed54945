"""Where tables live: `<storage>/<layer>/<table>`, one Delta table per folder."""

from __future__ import annotations

from pathlib import Path

from medallion.storage.delta import is_delta_table

#: suffix of the companion table holding rows a source or model could not accept
QUARANTINE_SUFFIX = "__quarantine"


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
