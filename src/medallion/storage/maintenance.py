"""Table maintenance and recovery: restore, optimize (compaction, Z-order), vacuum with retention.

Every operation is one Delta commit carrying the run id, like any other write, so a table's
history shows who restored or compacted it and when. None of them changes what the current
version contains: optimize rewrites files with the same rows, vacuum deletes only files that
no version within the retention window uses (never a file of the current version), restore adds
a new version equal to an old one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from medallion.errors import StorageError
from medallion.storage import changes, parquet, tables
from medallion.storage.location import Where


def _props(run_id: str, extra: dict[str, Any] | None = None) -> Any:
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={tables.RUN_ID_KEY: run_id, **(extra or {})})


def restore(path: Path, target: int | datetime, run_id: str) -> int:
    """Make the table's content that of `target` (a version or a time), as a new version."""
    dt = tables.open_table(path)
    current = dt.version()
    if isinstance(target, int) and not 0 <= target <= current:
        raise StorageError(
            f"version {target} does not exist (versions 0 to {current})",
            file=path,
            hint="`medallion history TABLE` lists the versions",
        )
    # a time before the first commit is an error (delta-rs would restore version 0)
    version = target if isinstance(target, int) else tables.version_at(path, target)
    if version == current:
        raise StorageError(
            f"version {version} is the current version: there is nothing to restore",
            file=path,
            hint="`medallion history TABLE` lists the earlier versions",
        )
    extra: dict[str, Any] = {"medallion.restore_to": str(target)}
    # The restored content was built from some upstream versions: record them again, so an
    # incremental model's next run reads what is new since *those* (its checkpoint moves back
    # with its data).
    upstream = changes.consumed_upstream_at(path, version)
    if upstream is not None:
        extra[changes.UPSTREAM_KEY] = json.dumps(upstream)
    try:
        dt.restore(version, commit_properties=_props(run_id, extra))
    except Exception as e:
        raise StorageError(
            f"cannot restore to {target}: {e}",
            file=path,
            hint="files of that version may have been removed by vacuum",
        ) from None
    return tables.open_table(path).version()


@dataclass
class OptimizeResult:
    files_removed: int
    files_added: int
    version: int


def optimize(path: Path, run_id: str, zorder: list[str] | None = None) -> OptimizeResult:
    dt = tables.open_table(path)
    before = dt.version()
    props = _props(run_id, {"medallion.optimize": "zorder" if zorder else "compact"})
    try:
        if zorder:
            missing = [c for c in zorder if c not in dt.schema().to_arrow().names]  # type: ignore[attr-defined]
            if missing:
                raise StorageError(f"cannot Z-order by {missing[0]!r}: no such column", file=path)
            metrics = dt.optimize.z_order(
                zorder, commit_properties=props, writer_properties=parquet.writer_properties()
            )
        else:
            metrics = dt.optimize.compact(
                commit_properties=props, writer_properties=parquet.writer_properties()
            )
    except StorageError:
        raise
    except Exception as e:
        raise StorageError(f"optimize failed: {e}", file=path) from None
    after = tables.open_table(path).version()
    return OptimizeResult(
        int(metrics.get("numFilesRemoved", 0)),
        int(metrics.get("numFilesAdded", 0)),
        after if after != before else before,
    )


def vacuum(path: Path, hours: int, run_id: str, dry_run: bool = False) -> list[str]:
    """Delete files no version younger than `hours` needs; returns the files (to be) deleted."""
    dt = tables.open_table(path)
    try:
        return dt.vacuum(
            retention_hours=hours,
            dry_run=dry_run,
            enforce_retention_duration=False,
            commit_properties=_props(run_id),
        )
    except Exception as e:
        raise StorageError(f"vacuum failed: {e}", file=path) from None


def drop(path: Where) -> None:
    """Remove the table's folder: every version of it, with no undo."""
    import shutil

    from medallion.storage.location import Location

    try:
        if isinstance(path, Location):
            path.store.arrow_fs.delete_dir(path.arrow_path)
        else:
            shutil.rmtree(path)
    except OSError as e:
        raise StorageError(f"could not drop the table: {e}", file=path) from None


def versions(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The table's history as rows for people: version, time, operation, run, rows."""
    out = []
    for h in tables.history(path, limit):
        params = h.get("operationParameters") or {}
        metrics = h.get("operationMetrics") or {}
        ts = h.get("timestamp")
        out.append(
            {
                "version": h.get("version"),
                "timestamp": datetime.fromtimestamp(ts / 1000).astimezone() if ts else None,
                "operation": h.get("operation"),
                "mode": params.get("mode"),
                "run_id": h.get(tables.RUN_ID_KEY),
                "rows_added": metrics.get("num_added_rows", metrics.get("numOutputRows")),
                "rows_removed": metrics.get(
                    "num_removed_rows", metrics.get("numTargetRowsDeleted")
                ),
                "files_added": metrics.get("num_added_files", metrics.get("numFilesAdded")),
                "files_removed": metrics.get("num_removed_files", metrics.get("numFilesRemoved")),
            }
        )
    return out
