"""What is new upstream of an incremental model since its last build.

A model's Delta commit records the version of every table it read (`medallion.upstream`). On the
next run, for each *incremental input* the new rows are those of the data files added by the
commits since that version (read from the Delta log; compaction is not a change), and the rows a
change feed lists as inserted or updated. Because the record is in the same commit as the data it
produced, a run killed at any instant and run again reads exactly the same new rows: the
checkpoint cannot disagree with the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from medallion.storage import changes
from medallion.storage.changes import Sources

if TYPE_CHECKING:
    from medallion.build.step import StepContext


class Increment:
    """The new rows of each incremental input since the model's last build."""

    def __init__(self, ctx: StepContext) -> None:
        model, engine = ctx.model, ctx.engine
        self.catalog = ctx.ws.catalog
        built = None if ctx.full_refresh else ctx.last_build
        self.consumed: dict[str, int] | None = changes.consumed(built) if built else None
        #: versions of every base input now (recorded with the new commit)
        self.current = {t: v for t, v in engine.attached_versions().items() if t != model.fqn}
        self.changes: dict[str, changes.Changes] = {}
        self.full = self.consumed is None
        if self.consumed is None:
            return
        for table in model.incremental_inputs:
            # an incremental input is a stored table (a version, never None)
            now = cast(int, engine.version_of(table))
            before = self.consumed.get(table)
            path = self.catalog.path(table)
            if before is None or before > now:
                # an input the last build did not read (or a table re-created since): all of it
                self.changes[table] = changes.changes(path, -1, now)
            elif now > before:
                self.changes[table] = changes.changes(path, before, now)

    @property
    def nothing_new(self) -> bool:
        return not self.full and all(c.empty for c in self.changes.values())

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.changes.values())

    @property
    def removals_known(self) -> bool:
        return not any(c.removed_lost for c in self.changes.values())

    def dataset(self, table: str) -> Sources:
        """The input's new rows: added data files, and inserted/updated change-feed rows."""
        return changes.new_rows(self.catalog.path(table), self.changes[table])

    def removed_dataset(self, table: str) -> Sources | None:
        """The rows the input lost or changed since (removed files still on disk, deleted and
        pre-update change-feed rows), so the periods/keys they fed are recomputed too."""
        return changes.old_rows(self.catalog.path(table), self.changes[table])
