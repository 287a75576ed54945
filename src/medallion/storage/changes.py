"""What changed in a table since a version (read from the Delta log), and what a model's last
build consumed upstream (recorded in its commit)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medallion.storage import snapshot
from medallion.storage.snapshot import FileRef, FileSet, unquote
from medallion.storage.tables import RUN_ID_KEY, is_delta_table, open_table

UPSTREAM_KEY = "medallion.upstream"


#: change types of a Change Data Feed file that are the rows as they are now / were before
CDF_NEW = ("insert", "update_postimage")
CDF_OLD = ("delete", "update_preimage")


@dataclass
class Changes:
    """What the commits after `since` up to `until` did to a table's rows.

    Rows come from two kinds of files. A commit that writes a Change Data Feed (`cdc` actions:
    delta-rs MERGE, DELETE and predicate overwrites on tables with `delta.enableChangeDataFeed`)
    lists exactly the rows it inserted, updated (pre- and post-image) and deleted; its data-file
    rewrites, which copy unchanged rows, are ignored. Any other commit's added data files are
    new rows and its removed data files are rows that changed or went away."""

    since: int
    until: int
    #: every commit file in the range was still in the log (else the caller must recompute all)
    complete: bool
    #: data files added by commits without a change feed: (path in the table, partition values)
    added: list[FileRef] = field(default_factory=list)
    #: data files removed by commits without a change feed, still on disk
    removed: list[FileRef] = field(default_factory=list)
    #: change-feed files (rows with `_change_type`)
    cdc: list[FileRef] = field(default_factory=list)
    #: a removed file is gone from disk (vacuumed): what was removed is no longer knowable
    removed_lost: bool = False
    #: rows of the added files, from their statistics in the log (None: a file has none)
    added_rows: int | None = 0

    @property
    def rewritten(self) -> bool:
        """Rows changed or went away (an append consumer cannot tell new rows from old)."""
        return bool(self.removed or self.cdc or self.removed_lost)

    @property
    def empty(self) -> bool:
        """Nothing changed (a commit gone from the log may have changed anything)."""
        return self.complete and not (self.added or self.removed or self.cdc or self.removed_lost)


#: (files, change types) pairs a table's changed rows are read from (see Engine.swapped)
Sources = list[tuple[FileSet, "tuple[str, ...] | None"]]


def new_rows(path: Path, c: Changes) -> Sources:
    """The rows `c` added: its added data files, and inserted/updated change-feed rows."""
    return _rows(path, c, c.added, CDF_NEW)


def old_rows(path: Path, c: Changes) -> Sources | None:
    """The rows `c` removed or changed (removed files still on disk, deleted and pre-update
    change-feed rows); None when it removed nothing."""
    if not (c.removed or c.cdc):
        return None
    return _rows(path, c, c.removed, CDF_OLD)


def _rows(path: Path, c: Changes, files: list[FileRef], change_types: tuple[str, ...]) -> Sources:
    sources: Sources = []
    if files:
        sources.append((snapshot.file_set(path, files, c.until), None))
    if c.cdc:
        sources.append((snapshot.file_set(path, c.cdc, c.until, change_feed=True), change_types))
    return sources


def changes(path: Path, since: int, until: int) -> Changes:
    """Read the commit files (since, until] of the Delta log directly.

    Compaction (OPTIMIZE) adds and removes files with dataChange=false: it is not a change and
    is skipped. The JSON commit files are the Delta protocol's own record, so this works for
    tables written by any Delta writer."""
    result = Changes(since, until, complete=True)
    removed: list[FileRef] = []
    log = path / "_delta_log"
    for version in range(since + 1, until + 1):
        commit = log / f"{version:020d}.json"
        if not commit.exists():
            result.complete = False
            continue
        adds: list[FileRef] = []
        removes: list[FileRef] = []
        cdcs: list[FileRef] = []
        rows: int | None = 0
        # read whole (a Path or a Location on an object store): commit files are small
        for line in commit.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            for kind, bucket in (("add", adds), ("remove", removes), ("cdc", cdcs)):
                a = action.get(kind)
                if a is not None and (kind == "cdc" or a.get("dataChange", True)):
                    bucket.append((a["path"], a.get("partitionValues") or {}))
                    if kind == "add":
                        rows = _plus(rows, _num_records(a))
        if cdcs:
            result.cdc.extend(cdcs)
            result.added_rows = None  # the feed's rows are not counted in the log
        else:
            result.added.extend(adds)
            removed.extend(removes)
            result.added_rows = _plus(result.added_rows, rows)
    # files added then removed within the range: their rows were new when added (kept while on
    # disk: a superset is fine for key- and period-based consumers); gone from disk: unknowable
    gone = [(p, pv) for p, pv in result.added if not (path / unquote(p)).exists()]
    result.added = [f for f in result.added if f not in gone]
    added_paths = {p for p, _ in result.added}
    removed = [(p, pv) for p, pv in removed if p not in added_paths]
    on_disk = [(p, pv) for p, pv in removed if (path / unquote(p)).exists()]
    result.removed = on_disk
    result.removed_lost = bool(gone) or len(on_disk) != len(removed)
    return result


#: rows `changed_rows` reads at most (the new and the old side together) to count exactly
COUNT_LIMIT = 2_000_000
#: and bytes, as their Parquet footers count them uncompressed: comparing rows whole holds
#: them and a hash table of them, several times that in memory (wide rows reach it first)
COUNT_BYTES = 64 * 1024 * 1024


def changed_rows(path: Path, c: Changes, *, read_files: bool = True) -> int | None:
    """How many rows `c` really added or changed: the rows it added that it did not also
    remove (None: not known). Appended files alone: their rows, from the log's statistics.
    A range that rewrote files (an engine writing the files itself copies the unchanged rows
    of a file it rewrites; a restore adds back files with rows removed since) or wrote a change
    feed: its new rows less its old ones, compared whole (a multiset difference), read from
    the files the range touched, not from the whole table; more than COUNT_LIMIT rows to read
    (counted first from the files' Parquet footers, so a large rewrite costs no read), columns
    Arrow cannot compare (nested types), or not `read_files`: None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not c.complete or c.removed_lost:
        return None
    if not (c.removed or c.cdc):
        return c.added_rows
    if not read_files:
        return None
    new_sources = _rows(path, c, c.added, CDF_NEW)
    old_sources = _rows(path, c, c.removed, CDF_OLD)
    rows, size = _stored([*new_sources, *old_sources])
    if rows > COUNT_LIMIT or size > COUNT_BYTES:
        return None
    new, old = _read(new_sources), _read(old_sources)
    if not old.num_rows or not new.num_rows:
        return new.num_rows
    columns = [n for n in new.column_names if n in old.column_names]
    both = pa.concat_tables(
        [
            new.select(columns).append_column("__new", pa.array([1] * new.num_rows, pa.int64())),
            old.select(columns).append_column("__new", pa.array([0] * old.num_rows, pa.int64())),
        ]
    )
    del new, old
    try:
        groups = both.group_by(columns, use_threads=False).aggregate(
            [("__new", "sum"), ("__new", "count")]
        )
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    added, total = groups["__new_sum"], groups["__new_count"]
    removed = pc.subtract(total, added)
    return int(pc.sum(pc.max_element_wise(pc.subtract(added, removed), 0)).as_py() or 0)


def _stored(sources: Sources) -> tuple[int, int]:
    """The rows the files of `sources` hold (all change types of a change feed) and their
    uncompressed bytes, read from their Parquet footers: no data is read."""
    rows = size = 0
    for files, _ in sources:
        for part in files.datasets():
            for fragment in part.get_fragments():
                meta = fragment.metadata
                rows += meta.num_rows
                size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return rows, size


def _read(sources: Sources) -> Any:
    """The rows of `sources` (a change feed's of its change types), as one Arrow table in the
    table's columns (strings as plain strings), read batch by batch: only the rows kept and
    the columns compared are held."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for files_set, types in sources:
        schema = pa.schema(
            [
                f.with_type(pa.string())
                if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type)
                else f.with_type(pa.binary())
                if pa.types.is_binary_view(f.type)
                else f
                for f in files_set.schema
            ]
        )
        for part in files_set.datasets():
            for batch in part.to_batches(columns=schema.names):
                rows = pa.Table.from_batches([batch]).cast(schema)
                if types:
                    rows = rows.filter(pc.is_in(rows["_change_type"], pa.array(list(types))))
                    rows = rows.drop_columns(["_change_type"])
                parts.append(rows)
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts)


def _num_records(add: dict[str, Any]) -> int | None:
    stats = add.get("stats")
    if not stats:
        return None
    n = json.loads(stats).get("numRecords")
    return int(n) if n is not None else None


def _plus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def is_restore(commit: dict[str, Any]) -> bool:
    return commit.get("operation") == "RESTORE"


def restored_to(commit: dict[str, Any], history: list[dict[str, Any]] | None = None) -> int | None:
    """The version a RESTORE commit made the table's content again, None for other commits:
    what was committed after that version is no longer in the table. A restore to a time
    (another tool's: delta-rs records `datetime` in epoch milliseconds, Spark `timestamp`) is
    the version current at that time, read from `history` (the table's commits, newest
    first; without it, unknown: None)."""
    if not is_restore(commit):
        return None
    params = commit.get("operationParameters") or {}
    target = params.get("version")
    if target is not None:
        try:
            return int(target)
        except (TypeError, ValueError):
            return None
    when = _restore_time(params.get("datetime") or params.get("timestamp"))
    if when is None or history is None:
        return None
    restore = commit.get("version")
    return next(
        (
            int(c["version"])
            for c in history
            if c.get("version") is not None
            and (restore is None or c["version"] < restore)
            and c.get("timestamp", when + 1) <= when
        ),
        None,
    )


def unzoned_restore_time(commit: dict[str, Any]) -> str | None:
    """The time a RESTORE commit restored to, when it is a text without a time zone (None:
    a version, epoch milliseconds, or a time saying its zone). Spark records the user's
    `TIMESTAMP AS OF` text, which it read in the session's time zone; the commit does not say
    which, so `restored_to` reads it as UTC, and the plan says so."""
    if not is_restore(commit):
        return None
    params = commit.get("operationParameters") or {}
    if params.get("version") is not None:
        return None
    text = str(params.get("datetime") or params.get("timestamp") or "").strip()
    if not text or text.lstrip("-").isdigit() or _restore_time(text) is None:
        return None
    from datetime import datetime

    return text if datetime.fromisoformat(text).tzinfo is None else None


def _restore_time(value: object) -> int | None:
    """A restore's time as epoch milliseconds: a number of them, or an ISO time (UTC unless it
    says otherwise: see `unzoned_restore_time`)."""
    from datetime import UTC, datetime

    if value is None:
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def foreign_change(path: Path, commit: dict[str, Any]) -> bool:
    """Whether a commit was written by another Delta writer (no medallion run id) and changed
    rows (a data file added or removed with `dataChange`, or a change feed), read from its
    commit file: after it, no build's record says what the table holds. A RESTORE is told
    apart by `restored_to`; OPTIMIZE, VACUUM and property changes change no row."""
    version = commit.get("version")
    if RUN_ID_KEY in commit or is_restore(commit) or version is None:
        return False
    file = path / "_delta_log" / f"{int(version):020d}.json"
    if not file.exists():
        return False
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "cdc" in action:
            return True
        for kind in ("add", "remove"):
            a = action.get(kind)
            if a is not None and a.get("dataChange", True):
                return True
    return False


def records_content(path: Path, commit: dict[str, Any]) -> bool:
    """Whether a commit says what its table's rows were built from: a build carrying
    `medallion.upstream`, a RESTORE, which carries the upstream of the content it restored,
    or none when no build recorded that content (written by another Delta writer, or restored
    from such content), or another writer's change of rows (after which no build's record
    holds). Other commits (OPTIMIZE, a quarantine replay) keep the record before."""
    return (
        commit.get(UPSTREAM_KEY) is not None or is_restore(commit) or foreign_change(path, commit)
    )


def build_record(path: Path, history: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    """The commit (of `history`, newest first) whose record describes the table's content at
    `version`: the newest at or before it that `records_content` (None: no such commit)."""
    return next(
        (c for c in history if c.get("version", -1) <= version and records_content(path, c)),
        None,
    )


def consumed_upstream_at(path: Path, version: int) -> dict[str, int] | None:
    """The upstream record of the table's content at `version` (None: no build recorded it)."""
    commit = build_record(path, open_table(path).history(), version)
    return consumed(commit) if commit is not None else None


def last_build(path: Path) -> dict[str, Any] | None:
    """The commit info recording what a model's table holds now: the newest commit carrying
    `medallion.upstream` or restoring an earlier version (maintenance commits such as OPTIMIZE
    carry none and are skipped), or another writer's change of rows after it. A RESTORE
    without it restored content no build recorded, and another writer's change leaves content
    no build recorded: what the builds read says nothing about the rows. A table no build ever
    wrote: None (a first build), whatever another writer wrote."""
    if not is_delta_table(path):
        return None
    dt = open_table(path)
    limit = 20
    foreign: dict[str, Any] | None = None  # the newest change by another writer
    while True:
        history = dt.history(limit)
        for commit in history:
            if commit.get(UPSTREAM_KEY) is not None or is_restore(commit):
                return foreign or commit
            if foreign is None and foreign_change(path, commit):
                foreign = commit
        if len(history) < limit:
            # another writer's rows and no build: the model's first build replaces them
            return None
        limit *= 4


def consumed(commit: dict[str, Any]) -> dict[str, int] | None:
    """What a model's build commit (`last_build`) had read: {input table: version}; None for
    a restore of content no build recorded (all of it is to be built again)."""
    raw = commit.get(UPSTREAM_KEY)
    if raw is None:
        return None
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {k: int(v) for k, v in data.items()}
