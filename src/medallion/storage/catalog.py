"""Where tables live: `<storage>/<layer>/<table>`, one Delta table per folder; and the ids that
tie Delta commits to what wrote them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from medallion.errors import StorageError, permission_problem, unwritable
from medallion.storage.location import Location, Where, check_store, is_remote
from medallion.storage.tables import is_delta_table


def app_id(writer: Literal["ingest", "model", "replay"], name: str) -> str:
    """The Delta application transaction id of a source's ingests, a model's builds or a
    model's replays (`medallion.<writer>.<name>`): its version in a table's log says which of
    that writer's batches the table holds, which is how a re-run after a crash knows what was
    committed."""
    return f"medallion.{writer}.{name}"


class Catalog:
    def __init__(self, root: Where, layers: list[str]) -> None:
        self.root = root
        self.layers = layers

    @property
    def remote(self) -> bool:
        """Whether the lakehouse is on an object store."""
        return is_remote(self.root)

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

    def check_writable(self) -> None:
        """StorageError when the storage folder (or a layer's folder in it) may not be written
        by this user (permissions, a read-only mount): said once before a run starts, instead
        of by every step. A table folder of its own that may not be written fails its step.
        On an object store: the container or bucket must exist and take the credentials."""
        if isinstance(self.root, Location):
            check_store(self.root)
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            why = permission_problem(e)
            if why is None:
                raise
            raise unwritable(StorageError, "the lakehouse", self.root, "storage", why) from None
        folders = [self.root, *(self.root / layer for layer in self.layers)]
        for folder in folders:
            # access() answers for the real user, and EROFS for a read-only mount
            if folder.is_dir() and not os.access(folder, os.W_OK):
                raise unwritable(
                    StorageError, "the lakehouse", folder, "storage", "permission denied"
                )
