"""Land a source in its bronze table: new files only, audit columns, one commit, rejects kept.

Each ingest of a source is one *batch*: the files not ingested before, read into one Arrow stream
and appended to `<landing layer>.<source>` as one Delta commit. The commit records, in its
metadata, the batch number and the files it holds, and carries a Delta application transaction
(`medallion.ingest.<source>`, batch number). The table is therefore the record of what has been
ingested; the state database only caches it (and is rebuilt from the Delta log when it is behind
or missing), so a checkpoint can never claim a file the table does not hold.

Rows that could not be parsed go to `<source>__quarantine` with the file, line, raw text and
reason, in a second commit with the same application transaction id — unless they are more than
the source's `max_rejected`: then the ingest fails before either commit.

A file rewritten under the same name is a new file (its identity changed). By default
(`on_rewrite: append`) its rows are appended beside the earlier version's; with `on_rewrite:
replace` the batch's commit is a Delta overwrite with the predicate `_source_file IN (the batch's
files)`: the earlier rows of those paths are removed and the new rows added in that one commit
(its metadata names the paths replaced and the rows removed), and the quarantine's rows of those
paths are replaced likewise in the quarantine commit. A file deleted from the landing folder
changes nothing: its rows stay.

A full refresh rebuilds bronze from the files in the landing folder. When files it holds rows of
are gone from there (rotated away, moved), that would delete their rows: it is refused unless
the user says so (`allow_missing_files`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.config.names import QUARANTINE_SUFFIX
from medallion.errors import SourceError
from medallion.faults import fault_point
from medallion.ingest.files import (
    AUDIT_COLUMNS,
    FileReader,
    Reject,
    SourceFile,
    column_types,
    discover,
)
from medallion.ingest.files.rejects import check_rejected, reasons, rejected_lines
from medallion.storage import quarantine, tables
from medallion.storage.catalog import app_id
from medallion.storage.changes import is_restore, restored_to

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.config.schema import DatabaseSource, FileSource, RestSource
    from medallion.engine.base import Session
    from medallion.ingest.files.reader import Connection
    from medallion.state.records import CheckResult
    from medallion.state.store import StateStore
    from medallion.storage.catalog import Catalog

FILES_KEY = "medallion.files"
BATCH_KEY = "medallion.batch"
#: `on_rewrite: replace`: the paths whose earlier rows a commit removed, and how many rows
REPLACED_KEY = "medallion.replaced"
ROWS_REMOVED_KEY = "medallion.rows_removed"
#: the source's declared column types, as each bronze commit was read with them
DECLARED_KEY = "medallion.declared_types"
#: a CSV source's encoding, as each bronze commit was read in it (rows not valid in it were
#: quarantined), and whether the commit rebuilt the table (a full refresh)
ENCODING_KEY = "medallion.encoding"
FULL_REFRESH_KEY = "medallion.full_refresh"


@dataclass
class IngestResult:
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    version: int | None = None
    quarantine_version: int | None = None
    files: list[str] = field(default_factory=list)
    skipped_files: int = 0
    note: str = ""
    #: database and REST sources: the watermark after this ingest
    watermark: str | None = None
    #: file sources: the rows rejected, explained like a model's expectations (one per column
    #: and reason)
    checks: list[CheckResult] = field(default_factory=list)
    #: `on_rewrite: replace`: rows of the earlier versions of rewritten files the commit removed
    rows_removed: int = 0
    #: what the run log records besides the counters (files replaced, rows removed)
    details: dict[str, Any] = field(default_factory=dict)


def ingested_files(
    state: StateStore, source: str, table_path: Path, latest: bool = False
) -> set[tuple[str, int, str]]:
    """Identities of the files the bronze table holds, from the state cache brought up to date
    with the Delta log (commits since the cached version; a full walk if the cache is missing or
    the table was re-created). `latest`: only each path's last ingested version."""
    if not tables.is_delta_table(table_path):
        if state.ingest_cache(source) is not None:
            state.forget_source(source)  # table deleted by hand: start over
        return set()
    dt = tables.open_table(table_path)
    table_id, version = dt.metadata().id, dt.version()
    cached = state.ingest_cache(source)
    if cached == (table_id, version):
        return state.ingested_files(source, latest)
    since = cached[1] if cached and cached[0] == table_id and cached[1] <= version else -1
    history = dt.history(version - since if since >= 0 else None)
    if since >= 0 and any(is_restore(c) for c in history):
        # a restore since the cache: the files it holds are those of the restored version,
        # whose commits may be older than the cache; read the whole log again
        since, history = -1, dt.history()
    new: list[tuple[str, int, int, int, str | None]] = []
    reset = since < 0
    held_up_to = version  # a RESTORE to version n: the commits after n no longer count
    # newest first; stop at the cached version or at an overwrite (which replaced everything)
    for commit in history:
        v = commit.get("version")
        if v is None or v <= since:
            break
        if v > held_up_to:
            continue
        restored = restored_to(commit, history)
        if restored is not None:
            held_up_to = restored
            continue
        for path, size, fp in json.loads(commit.get(FILES_KEY) or "[]"):
            new.append((path, size, fp, v, commit.get(tables.RUN_ID_KEY)))
        if _overwrote_all(commit):
            reset = True
            break
    state.record_ingested(source, table_id, version, new, reset=reset)
    return state.ingested_files(source, latest)


def _overwrote_all(commit: dict[str, Any]) -> bool:
    """Whether a commit replaced the whole table (a full refresh), not the rows of some paths
    (an overwrite with a predicate: `on_rewrite: replace`)."""
    params = commit.get("operationParameters") or {}
    return params.get("mode") == "Overwrite" and not params.get("predicate")


def new_files(
    root: Path,
    source: FileSource,
    name: str,
    state: StateStore,
    table_path: Path,
    full_refresh: bool = False,
) -> tuple[list[SourceFile], list[SourceFile]]:
    """(every file the source matches, those not ingested yet). Under `on_rewrite: replace` a
    file is compared with its path's last ingested version only: one reverted to earlier content
    is new again, as bronze holds the later version's rows."""
    files = discover(root, source, name)
    latest = source.on_rewrite == "replace"
    done = set() if full_refresh else ingested_files(state, name, table_path, latest)
    return files, [f for f in files if f.identity not in done and _absolute(f) not in done]


def _absolute(f: SourceFile) -> tuple[str, int, str]:
    """The identity a file outside the project was recorded with before such files were
    recorded relative to it (`../exports/x.csv`): those are not new again."""
    return (f.path.as_posix(), f.size, f.fingerprint)


def rewritten(
    source: FileSource, name: str, new: list[SourceFile], state: StateStore, table_path: Path
) -> list[str]:
    """Paths of `new` files whose earlier version bronze holds, when the source replaces
    rewritten files (`on_rewrite: replace`); else none (and the ingested files are not read)."""
    if source.on_rewrite != "replace" or not new:
        return []
    paths = {rel for rel, _, _ in ingested_files(state, name, table_path)}
    return [f.rel for f in new if f.rel in paths]


def of_paths(paths: list[str]) -> exp.Expression:
    """The predicate `_source_file IN (paths)`: the rows of those files (bronze and its
    quarantine both name a row's file in `_source_file`)."""
    import sqlglot.expressions as exp

    from medallion.sqltree import col, lit

    return exp.In(this=col("_source_file"), expressions=[lit(p) for p in paths])


def rows_of(table_path: Path, paths: list[str]) -> int:
    """Rows of the table (as it is now) whose `_source_file` is one of `paths`: what an overwrite
    with `of_paths(paths)` removes. Reads that one column, skipping files by its statistics."""
    import pyarrow.dataset as pads

    from medallion.storage import snapshot

    if not tables.is_delta_table(table_path):
        return 0
    where = pads.field("_source_file").isin(paths)
    return sum(part.count_rows(filter=where) for part in snapshot.snapshot(table_path).parts)


def rows_by_path(table_path: Path, paths: list[str]) -> dict[str, int]:
    """`rows_of` per path (paths without rows left out)."""
    import pyarrow.dataset as pads

    from medallion.storage import snapshot

    counts: dict[str, int] = {}
    if not tables.is_delta_table(table_path):
        return counts
    where = pads.field("_source_file").isin(paths)
    for part in snapshot.snapshot(table_path).parts:
        column = part.to_table(columns=["_source_file"], filter=where).column(0)
        for path, n in _value_counts(column).items():
            counts[path] = counts.get(path, 0) + n
    return counts


def _value_counts(column: Any) -> dict[str, int]:
    import pyarrow.compute as pc

    found = pc.value_counts(column)
    return dict(
        zip(found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True)
    )


def declared_types(source: FileSource | DatabaseSource | RestSource) -> dict[str, str]:
    """The source's `columns:` types as a commit records them (spacing and case do not count)."""
    import re

    columns = getattr(source, "columns", None) or {}
    return {
        c: re.sub(r"\s*([(),])\s*", r"\1", " ".join(t.upper().split())) for c, t in columns.items()
    }


def declared_change(
    name: str, source: FileSource, table_path: Path, con: Connection | None = None
) -> str | None:
    """A column whose declared type differs from the one the bronze table's rows were read
    with: the type declared at its last ingest ("sources.x.columns.amount changed from
    DECIMAL(12,2) to DOUBLE"), or, for a column declared since (or a table that records no
    declared types), the type the table holds it as ("sources.x.columns.ref is declared
    VARCHAR, but bronze.x holds ref as BIGINT"). None when none does. `con`: a DuckDB
    connection to compare types with (None: a private one)."""
    if not tables.is_delta_table(table_path):
        return None
    now = declared_types(source)
    before: dict[str, str] | None = None
    for commit in tables.history(table_path, 20):
        if commit.get(FILES_KEY) is None:
            continue
        raw = commit.get(DECLARED_KEY)
        if raw is not None:
            before = json.loads(raw) if isinstance(raw, str) else raw
        break
    from medallion.ingest.files.reader import retyped

    changed = {
        c: t for c, t in now.items() if before is not None and before.get(c) not in (None, t)
    }
    if found := retyped(changed, before or {}, con):
        column, (was, type_) = next(iter(found.items()))
        return (
            f"sources.{name}.columns.{column} changed from {was} to {type_} since the last ingest"
        )
    since = {c: t for c, t in now.items() if before is None or c not in before}
    if found := retyped(since, tables.schema(table_path), con):
        column, (held, type_) = next(iter(found.items()))
        return (
            f"sources.{name}.columns.{column} is declared {type_}, but the table holds it as {held}"
        )
    return None


def encoding_change(source: FileSource, table_path: Path) -> str | None:
    """The encoding other than the CSV source's present one that rows of its bronze table were
    read in since its last full refresh (as its commits record it), or None."""
    if source.file_format != "csv" or not tables.is_delta_table(table_path):
        return None
    now = source.encoding or "utf-8"
    for commit in tables.history(table_path):
        if commit.get(FILES_KEY) is None:
            continue
        read = commit.get(ENCODING_KEY)
        if read is not None and read != now:
            return str(read)
        if commit.get(FULL_REFRESH_KEY):
            break
    return None


def known_types(con: Connection, table_path: Path) -> dict[str, str]:
    """Column -> DuckDB type of an existing bronze table, so later files are read the same way."""
    if not tables.is_delta_table(table_path):
        return {}
    return column_types(con, tables.schema(table_path))


def ingest_source(
    *,
    name: str,
    source: FileSource,
    root: Path,
    catalog: Catalog,
    layer: str,
    state: StateStore,
    con: Connection,
    run_id: str,
    full_refresh: bool = False,
    allow_missing_files: bool = False,
    confirmed: bool = False,
    landing: Any = None,
) -> IngestResult:
    """Land the source's new files in its bronze table (see the module's docstring).
    `landing`: the engine's reader and writer of files (`Engine.file_landing`), None to read
    them with `con` on the driver."""
    fqn = f"{layer}.{name}"
    table_path = catalog.path(fqn)
    if not full_refresh:
        changed = declared_change(name, source, table_path, con)
        if changed is not None:
            raise SourceError(
                f"{changed}: the rows already in {fqn} were read with the old type, and new "
                "files would be converted to it. Nothing was changed",
                source=name,
                key=f"sources.{name}.columns",
                hint=f"re-ingest every file with the new type: medallion run --full-refresh "
                f"{name} (or restore the old type)",
            )
    recovered = _recover_rejects(
        name=name, source=source, root=root, catalog=catalog, fqn=fqn, state=state, con=con
    )
    files, new = new_files(root, source, name, state, table_path, full_refresh)
    if full_refresh and not allow_missing_files:
        _refuse_missing_files(name, fqn, files, ingested_files(state, name, table_path))
    replaced = [] if full_refresh else rewritten(source, name, new, state, table_path)
    result = IngestResult(skipped_files=len(files) - len(new))
    if recovered:
        result.note = f"recovered {recovered} quarantined rows of an interrupted run; "
    if not new:
        result.note += f"no new files ({len(files)} already ingested)"
        return result

    known = {} if full_refresh else known_types(con, table_path)
    ingested_at = datetime.now(UTC)
    batch = (tables.transaction_version(table_path, app_id("ingest", name)) or 0) + 1
    metadata = {
        FILES_KEY: [list(f.identity) for f in new],
        BATCH_KEY: batch,
        "medallion.source": name,
        DECLARED_KEY: declared_types(source),
    }
    if source.file_format == "csv":
        metadata[ENCODING_KEY] = source.encoding or "utf-8"
    if full_refresh:
        metadata[FULL_REFRESH_KEY] = True
    # the rows of every file of the batch are replaced (a path seen for the first time has
    # none): the writer checks that each new row matches the predicate
    predicate = of_paths([f.rel for f in new]) if replaced else None
    earlier: dict[str, int] = {}
    if predicate is not None:
        earlier = rows_by_path(table_path, [f.rel for f in new])
        result.rows_removed = sum(earlier.values())
        metadata[REPLACED_KEY] = replaced
        metadata[ROWS_REMOVED_KEY] = result.rows_removed
    before = tables.info(table_path).rows if full_refresh and not confirmed else None
    landed = None
    if landing is not None and predicate is None:
        # read and written by the engine's executors (None: a batch it does not read as the
        # DuckDB reader does, read on the driver below)
        from medallion.ingest.files.spark import land

        landed = land(
            landing,
            con,
            source,
            name,
            new,
            known_types=known,
            ingested_at=ingested_at,
            run_id=run_id,
            table_path=table_path,
            fqn=fqn,
            full_refresh=full_refresh,
            metadata=metadata,
            app_transaction=(app_id("ingest", name), batch),
            check=(lambda rows: _refuse_shrink(name, rows, before)) if before else None,
        )
    if landed is not None:
        written: tables.WriteResult | None = tables.WriteResult(landed.version, landed.rows)
        rejects = landed.rejects
        result.note += "read by Spark"
        if landed.on_driver:
            n = len(landed.on_driver)
            result.note += (
                f" ({n} file{'s' if n > 1 else ''} read on the driver by DuckDB - rows Spark "
                "could not parse, or values it does not read as DuckDB does: "
                f"{', '.join(landed.on_driver[:3])}{' ...' if n > 3 else ''})"
            )
    else:
        if landing is not None:
            result.note += "read on the driver (a batch the engine does not read itself)"
        written, rejects = _read_and_land(
            con, source, name, new, known, ingested_at, run_id, table_path, full_refresh,
            metadata, batch, before, predicate, None if confirmed else earlier,
        )  # fmt: skip
    fault_point(f"after-bronze:{fqn}")
    if written is not None:
        result.version = written.version
        result.rows_written = written.rows
    result.files = [f.rel for f in new]
    result.rows_quarantined = len(rejects)
    result.rows_read = result.rows_written + len(rejects)
    # the checks count the file's rows a rejected row ran on over (a quote left open)
    result.checks = explain_rejects(fqn, rejects, result.rows_written + rejected_lines(rejects))
    q_path = catalog.path(f"{fqn}{QUARANTINE_SUFFIX}")
    q_replaced = [f.rel for f in new] if written is not None and replaced else []
    q_removed = rows_of(q_path, q_replaced) if q_replaced else 0
    if rejects or q_removed or (full_refresh and catalog.exists(f"{fqn}{QUARANTINE_SUFFIX}")):
        q = _write_quarantine(
            q_path,
            rejects,
            batch=batch,
            ingested_at=ingested_at,
            run_id=run_id,
            source=name,
            overwrite=full_refresh,
            replacing=q_replaced,
        )
        result.quarantine_version = q
    if replaced and written is not None:
        result.details = {
            "replaced_files": replaced,
            "rows_removed": result.rows_removed,
            "quarantine_rows_removed": q_removed,
        }
        n = len(replaced)
        result.note += "; " if result.note and not result.note.endswith("; ") else ""
        result.note += (
            f"{n} rewritten file{'s' if n > 1 else ''} replaced ({', '.join(replaced[:3])}"
            f"{' ...' if n > 3 else ''}): {result.rows_removed:,} earlier rows removed, "
            f"{result.rows_written:,} added"
        )
    if written is not None:
        state.set_rejects_done(name, batch)
        # bring the cache up to date now (the next run would do it from the Delta log anyway)
        ingested_files(state, name, table_path)
    return result


def _read_and_land(
    con: Connection,
    source: FileSource,
    name: str,
    new: list[SourceFile],
    known: dict[str, str],
    ingested_at: datetime,
    run_id: str,
    table_path: Path,
    full_refresh: bool,
    metadata: dict[str, Any],
    batch: int,
    before: int | None,
    predicate: exp.Expression | None,
    replaced_rows: dict[str, int] | None,
) -> tuple[tables.WriteResult | None, list[Reject]]:
    """The batch read by DuckDB on the driver and streamed into one bronze commit: (what was
    written, None if nothing; the rejects). See `_land` for `before` and `replaced_rows`."""
    read = FileReader(con, source, name, known_types=known).read(
        new, ingested_at=ingested_at, run_id=run_id
    )
    try:
        stream = read.reader if read.reader.schema.names else None
        if stream is None:  # nothing readable in any file: still record the files as seen
            # (every row rejected, its rejects all known: past max_rejected, nothing is written)
            check_rejected(source, name, 0, read.rejects, new)
            stream = _empty_like(table_path)
        if stream is None:
            written = None
        else:
            try:
                written = _land(
                    table_path,
                    stream,
                    source,
                    name,
                    full_refresh,
                    run_id,
                    metadata,
                    batch,
                    keep_half_of=before,
                    predicate=predicate,
                    replaced_rows=replaced_rows,
                    rejects=read.rejects,
                )
            except Exception:
                if read.error is not None:  # the files' own error, not the writer's wrapping
                    raise read.error from None
                raise
    finally:
        read.close()
    return written, read.rejects


def explain_rejects(table: str, rejects: list[Reject], rows_read: int) -> list[CheckResult]:
    """The rejected rows as the results of the source's implicit expectations, one per column
    and reason ("qty: does not convert to INTEGER: 3 of 1,009 rows violate it (quarantined)"),
    the words a model's expectations get."""
    from medallion.quality.expectations import explained

    return [explained(r.text, table, "quarantine", r.rows, rows_read) for r in reasons(rejects)]


def _refuse_missing_files(
    name: str, fqn: str, files: list[SourceFile], held: set[tuple[str, int, str]]
) -> None:
    """A full refresh rebuilds bronze from the files there are: if files bronze holds rows of
    are gone from the landing folder, their rows would go too. Refused, naming them."""
    present = {f.rel for f in files}
    missing = sorted({rel for rel, _, _ in held} - present)
    if not missing:
        return
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5:,} more" if len(missing) > 5 else "")
    total = len({rel for rel, _, _ in held})
    raise SourceError(
        f"a full refresh would rebuild {fqn} from the {len(files):,} files in the landing folder, "
        f"but {len(missing):,} of the {total:,} files it holds rows of are no longer there "
        f"({shown}): their rows would be deleted. Nothing was changed",
        source=name,
        key=f"sources.{name}.path",
        hint=f"put the files back (or point sources.{name}.path at them), or run with "
        "--allow-missing-files to rebuild from the files there are and delete the missing "
        "files' rows",
    )


def _recover_rejects(
    *,
    name: str,
    source: FileSource,
    root: Path,
    catalog: Catalog,
    fqn: str,
    state: StateStore,
    con: Connection,
) -> int:
    """Land the rejected rows of a batch whose bronze commit happened but whose quarantine
    commit did not (the process died in between): re-read that batch's files for their rejects.

    The state database remembers up to which batch rejects are landed; the quarantine table's
    application transaction says which batches it holds, so nothing is written twice."""
    table_path = catalog.path(fqn)
    last = tables.transaction_version(table_path, app_id("ingest", name)) or 0
    q_path = catalog.path(f"{fqn}{QUARANTINE_SUFFIX}")
    q_done = tables.transaction_version(q_path, app_id("ingest", name)) or 0
    done = state.rejects_done(name)
    if done is None:
        # no record (a first run killed before its quarantine commit, or a lost state
        # database): batches after the quarantine's last are checked by re-reading their files
        done = q_done
    if done >= last:
        return 0
    recovered = 0
    commits = {
        c.get(BATCH_KEY): c
        for c in tables.history(table_path, max(1, last - done) * 2 + 10)
        if c.get(BATCH_KEY) is not None
    }
    for batch in range(done + 1, last + 1):
        commit = commits.get(batch)
        if commit is None or q_done >= batch:
            continue
        wanted = {tuple(f) for f in json.loads(commit.get(FILES_KEY) or "[]")}
        files = [f for f in discover(root, source, name) if f.identity in wanted]
        if not files:
            continue
        # (the batch is in bronze already: its rejects are landed whatever max_rejected says now)
        read = FileReader(con, source, name, known_types=known_types(con, table_path)).read(
            files,
            ingested_at=datetime.now(UTC),
            run_id=str(commit.get(tables.RUN_ID_KEY)),
            limit=False,
        )
        try:
            for _ in read.reader:
                pass  # the good rows are in bronze already: only the rejects are wanted
        finally:
            read.close()
        overwrite = _overwrote_all(commit)
        # a replacing batch replaces the quarantine's rows of its files too
        replacing = [f.rel for f in files] if commit.get(REPLACED_KEY) else []
        if read.rejects or overwrite or (replacing and rows_of(q_path, replacing)):
            _write_quarantine(
                q_path,
                read.rejects,
                batch=batch,
                ingested_at=datetime.now(UTC),
                run_id=str(commit.get(tables.RUN_ID_KEY)),
                source=name,
                overwrite=overwrite,
                replacing=replacing,
            )
            recovered += len(read.rejects)
    state.set_rejects_done(name, last)
    return recovered


WATERMARK_KEY = "medallion.watermark"


def last_watermark(table_path: Path) -> str | None:
    """The watermark recorded by the newest bronze commit that carries one."""
    if not tables.is_delta_table(table_path):
        return None
    for commit in tables.history(table_path, 200):
        if WATERMARK_KEY in commit:
            value = commit[WATERMARK_KEY]
            return None if value in (None, "", "null") else str(value)
    return None


def ingest_cursor_source(
    *,
    name: str,
    source: DatabaseSource | RestSource,
    root: Path,
    catalog: Catalog,
    layer: str,
    session: Session,
    run_id: str,
    full_refresh: bool = False,
) -> IngestResult:
    """Land the rows of a database or REST source past its watermark as one bronze commit that
    also records the new watermark. A failure (after retries) commits nothing."""
    from medallion.connectors.retry import retrying
    from medallion.ingest.sources import cursor_kind

    fqn = f"{layer}.{name}"
    table_path = catalog.path(fqn)
    watermark = None if full_refresh else last_watermark(table_path)
    result = IngestResult()
    batch = (tables.transaction_version(table_path, app_id("ingest", name)) or 0) + 1
    ingested_at = datetime.now(UTC)
    kind = cursor_kind(source)

    def attempt() -> tuple[tables.WriteResult | None, str | None]:
        ex = kind.extract(source, name, watermark, full_refresh, root)
        try:
            stream = _with_audit(session, ex.reader, source, ex.origin, ingested_at, run_id)
            if stream is None:
                return None, ex.high
            metadata = {WATERMARK_KEY: ex.high or "", BATCH_KEY: batch, "medallion.source": name}
            written = _land(table_path, stream, source, name, full_refresh, run_id, metadata, batch)
            return written, ex.high
        except Exception:
            if ex.failure is not None:
                raise ex.failure from None  # its type decides whether to retry
            raise
        finally:
            if ex.close is not None:
                ex.close()

    classify = kind.classifier(source)
    if classify is not None:
        written, high = retrying(
            attempt,
            classify=classify,
            retries=source.retries,
            backoff=source.retry_backoff,
            what=kind.describe(source),
            source=name,
        )
    else:
        written, high = attempt()
    if written is not None:
        result.version = written.version
        result.rows_written = result.rows_read = written.rows
    result.watermark = high
    result.note = f"watermark {high}" if high else ""
    if written is None:
        result.note = "no rows" + (f" past watermark {watermark}" if watermark else "")
    return result


def _with_audit(
    session: Session,
    reader: pa.RecordBatchReader,
    source: DatabaseSource | RestSource,
    origin: str,
    ingested_at: datetime,
    run_id: str,
) -> pa.RecordBatchReader | None:
    """The rows plus `_source_file`, `_ingested_at`, `_run_id`, with the `columns:` types."""
    import pyarrow as pa

    if not reader.schema.names:
        return None
    clash = [c for c in reader.schema.names if c in AUDIT_COLUMNS]
    if clash:
        raise SourceError(f"column {clash[0]!r} clashes with medallion's audit column")
    import sqlglot.expressions as exp

    from medallion.engine.base import SRC
    from medallion.sqltree import col, lit

    rel = session.arrow(reader)
    select: list[exp.Expression] = [
        exp.Cast(
            this=col(c), to=exp.DataType.build(source.columns[c], dialect=session.dialect, udt=True)
        ).as_(c, quoted=True)
        if c in source.columns
        else col(c)
        for c in session.columns(rel)
    ]
    select += [
        lit(origin).as_("_source_file"),
        lit(ingested_at).as_("_ingested_at"),
        lit(run_id).as_("_run_id"),
    ]
    out = session.reader(session.over(rel, exp.select(*select).from_(SRC)))
    # nothing new: no commit (the watermark cannot have moved without rows)
    batches = iter(out)
    head = next(batches, None)
    if head is None:
        return None
    import itertools

    return pa.RecordBatchReader.from_batches(out.schema, itertools.chain([head], batches))


def _empty_like(table_path: Path) -> pa.RecordBatchReader | None:
    import pyarrow as pa

    if not tables.is_delta_table(table_path):
        return None
    schema = pa.schema(tables.open_table(table_path).schema().to_arrow())
    return pa.RecordBatchReader.from_batches(schema, iter(()))


def _write_quarantine(
    path: Path,
    rejects: list[Reject],
    *,
    batch: int,
    ingested_at: datetime,
    run_id: str,
    source: str,
    overwrite: bool,
    replacing: list[str] | None = None,
) -> int:
    """One quarantine commit of a batch's rejected rows: appended, or replacing the whole table
    (`overwrite`: a full refresh) or the rows of the files `replacing` names (`on_rewrite:
    replace`)."""
    import pyarrow as pa

    from medallion import arrays

    n = len(rejects)
    schema = quarantine.source_schema()
    # built from buffers: `pa.table` of Python lists would make pyarrow import pandas
    table = pa.RecordBatch.from_arrays(
        [
            arrays.strings([r.file for r in rejects]),
            arrays.ints([r.line for r in rejects]),
            arrays.strings([r.raw for r in rejects]),
            arrays.strings([r.error for r in rejects]),
            arrays.ints([batch] * n),
            arrays.instants(ingested_at, n, schema.field("_ingested_at").type),
            arrays.repeat(arrays.strings([run_id]), n),
        ],
        schema=schema,
    )
    return tables.write(
        path,
        pa.RecordBatchReader.from_batches(schema, [table]),
        mode="overwrite" if overwrite or replacing else "append",
        run_id=run_id,
        metadata={BATCH_KEY: batch, "medallion.source": source}
        | ({REPLACED_KEY: replacing} if replacing and not overwrite else {}),
        app_transaction=(app_id("ingest", source), batch),
        description=f"rows of source {source} that could not be parsed",
        predicate=of_paths(replacing) if replacing and not overwrite else None,
    ).version


def _land(
    table_path: Path,
    stream: pa.RecordBatchReader,
    source: FileSource | DatabaseSource | RestSource,
    name: str,
    full_refresh: bool,
    run_id: str,
    metadata: dict[str, Any],
    batch: int,
    keep_half_of: int | None = None,
    predicate: exp.Expression | None = None,
    replaced_rows: dict[str, int] | None = None,
    rejects: list[Reject] | None = None,
) -> tables.WriteResult:
    """One bronze commit: the rows, the source's metadata and its app transaction (the record of
    what the commit holds, for exactly-once ingestion). `keep_half_of`: the rows of the table
    a full refresh replaces without the user's confirmation — one that would keep fewer than
    half of them fails before committing (`run --yes` accepts it). `predicate`: the rows it
    replaces (the earlier versions of rewritten files), in the same commit; `replaced_rows`:
    their number per path, when a new version with fewer than half of its path's earlier rows
    (an export cut short, a header-only file) must fail likewise. A new version's rows are its
    rows landed and its lines rejected (`rejects`, complete once the stream is): bad lines are
    the reject threshold's business, a missing half is this guard's."""
    _check_partition_columns(name, source.partition_by, stream)
    refused: list[SourceError] = []
    counter = tables.RowCounter()
    landed: dict[str, int] = {}

    def at_end() -> None:
        try:
            _refuse_shrink(name, counter.rows, keep_half_of)
        except SourceError as e:
            refused.append(e)
            raise
        now = dict(landed)
        for r in rejects or []:
            now[r.file] = now.get(r.file, 0) + 1
        shrunk = [
            (path, before, now.get(path, 0))
            for path, before in sorted((replaced_rows or {}).items())
            if now.get(path, 0) * 2 < before
        ]
        if shrunk:
            shown = ", ".join(f"{p} ({b:,} rows before, {n:,} now)" for p, b, n in shrunk[:3])
            more = f" and {len(shrunk) - 3} more" if len(shrunk) > 3 else ""
            refused.append(
                SourceError(
                    f"a rewritten file would replace its earlier rows with fewer than half as "
                    f"many: {shown}{more} (an export cut short?); nothing was written",
                    source=name,
                    hint="if the new version is right, run it again with --yes (-y); else "
                    "put the complete file back and run again",
                )
            )
            raise refused[0]

    def counting(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """The stream, counting its rows per `_source_file` (for `replaced_rows`)."""
        import pyarrow as pa

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                for path, n in _value_counts(batch.column("_source_file")).items():
                    landed[path] = landed.get(path, 0) + n
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    guarded = bool(keep_half_of) or bool(replaced_rows)
    if replaced_rows:
        stream = counting(stream)
    try:
        return tables.write(
            table_path,
            counter.wrap(stream, at_end=at_end) if guarded else stream,
            mode="overwrite" if full_refresh or predicate is not None else "append",
            run_id=run_id,
            partition_by=source.partition_by,
            predicate=None if full_refresh else predicate,
            metadata=metadata,
            app_transaction=(app_id("ingest", name), batch),
            description=source.description,
        )
    except Exception:
        if refused:
            raise refused[0] from None
        raise


def _refuse_shrink(name: str, rows: int, keep_half_of: int | None) -> None:
    """A full refresh that would keep fewer than half of the table's `keep_half_of` rows fails
    before its commit (`run --yes` accepts it)."""
    if keep_half_of and rows * 2 < keep_half_of:
        raise SourceError(
            f"the full refresh would leave {rows:,} of the table's {keep_half_of:,} rows; "
            "nothing was written",
            source=name,
            hint="if that is what you want, run it again with --yes (-y)",
        )


def _check_partition_columns(source: str, partition_by: list[str], stream: Any) -> None:
    """A `partition_by` column the source does not have: named before anything is written
    (the unread stream is closed: left open, DuckDB objects outlive the process's teardown)."""
    columns = stream.schema.names
    missing = [c for c in partition_by if c not in columns]
    if missing:
        stream.close()
        raise SourceError(
            f"source {source}: partition_by column {missing[0]!r} is not in its data",
            key=f"sources.{source}.partition_by",
            hint=f"columns: {', '.join(c for c in columns if not c.startswith('_'))}",
        )
