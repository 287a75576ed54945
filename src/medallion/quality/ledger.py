"""The row ledger: every row a step took in is written, dropped or quarantined, and the counts
agree with what the Delta tables themselves recorded.

For each ingest and model step of recent runs, `verify` checks

- balance: rows_in = rows_written + rows_dropped + rows_quarantined;
- the table: the commit the step recorded (its Delta version) added exactly rows_written rows
  (the writer's `num_added_rows` metric in the Delta log, independent of medallion's counters;
  for files written by Spark, counted from the files' Parquet footers when they are committed:
  engine/spark/commit.py);
- the quarantine: the quarantine commit added exactly rows_quarantined rows;
- rows removed (a source with `on_rewrite: replace` swapping a rewritten file's earlier rows):
  the commit removed exactly rows_removed rows, counted from the Delta log's file statistics
  (the rows of the files it removed, less those it copied into the files it added);

and it runs every reconciliation check on the current tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.config.names import QUARANTINE_SUFFIX
from medallion.errors import StorageError
from medallion.storage import tables

if TYPE_CHECKING:
    from medallion.state.records import CheckResult
    from medallion.workspace import Workspace


@dataclass
class LedgerLine:
    run_id: str
    step_no: int
    step: str
    table: str
    rows_in: int | None
    rows_written: int | None
    rows_dropped: int | None
    rows_quarantined: int | None
    balanced: bool
    table_matches: bool | None  # None: the commit is no longer in the Delta log
    quarantine_matches: bool | None
    problem: str = ""
    #: rows the step's commit removed (the earlier versions of rewritten files), if any
    rows_removed: int | None = None

    @property
    def ok(self) -> bool:
        return (
            self.balanced
            and self.table_matches is not False
            and (self.quarantine_matches is not False)
        )


@dataclass
class Verification:
    lines: list[LedgerLine] = field(default_factory=list)
    reconciliations: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        # an audit: any reconciliation that does not hold is a mismatch, whatever its severity
        return all(line.ok for line in self.lines) and all(
            r.status == "pass" for r in self.reconciliations
        )

    def runs(self) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for line in self.lines:
            out[line.run_id] = out.get(line.run_id, True) and line.ok
        return out


class _Commits:
    """num_added_rows per (table, version), read once per table from the Delta log."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.cache: dict[str, dict[int, dict[str, Any]]] = {}

    def commit(self, table: str, version: int) -> dict[str, Any] | None:
        if table not in self.cache:
            try:
                history = tables.history(self.ws.catalog.path(table))
            except StorageError:
                history = []
            self.cache[table] = {h["version"]: h for h in history if "version" in h}
        return self.cache[table].get(version)

    def added(self, table: str, version: int | None) -> int | None:
        if version is None:
            return None
        commit = self.commit(table, version)
        if commit is None:
            return None
        metrics = commit.get("operationMetrics") or {}
        if commit.get("operation") == "MERGE":
            # a merge applies its source rows: inserted, updated or deleted
            value = metrics.get("num_source_rows")
        else:
            value = metrics.get("num_added_rows", metrics.get("numOutputRows"))
        return int(value) if value is not None else None

    def removed(self, table: str, version: int | None) -> int | None:
        """Rows the commit removed, from the Delta log alone: the rows of the data files it
        removed (their statistics in the version before) less the rows it copied from them into
        the files it added (their statistics less the rows it added). None when the log cannot
        tell (commits or files no longer there, a file without statistics, a change feed)."""
        from medallion.storage import changes
        from medallion.storage.snapshot import unquote

        commit = None if version is None or version < 1 else self.commit(table, version)
        if commit is None:
            return None
        new_rows = (commit.get("operationMetrics") or {}).get("num_added_rows")
        path = self.ws.catalog.path(table)
        try:
            c = changes.changes(path, version - 1, version)
            if not c.complete or c.removed_lost or c.cdc or None in (c.added_rows, new_rows):
                return None
            before = tables.add_actions(tables.open_table(path, version - 1))
        except StorageError:
            return None
        records = dict(
            zip(
                [unquote(p) for p in before.column("path").to_pylist()],
                before.column("num_records").to_pylist(),
                strict=True,
            )
        )
        removed = [records.get(unquote(p)) for p, _ in c.removed]
        if None in removed:
            return None
        return sum(removed) - (c.added_rows - int(new_rows))


def verify(ws: Workspace, runs: int | None = 20) -> Verification:
    from medallion.config.checks import Reconciliation
    from medallion.engine import attach
    from medallion.quality.checks import run_check

    result = Verification()
    commits = _Commits(ws)
    for s in ws.state.ledger(runs):
        # a step that failed only its checks still committed its rows: it is in the ledger
        wrote = s["status"] == "success" or s.get("delta_version") is not None
        if s["step"] not in ("ingest", "model") or not wrote:
            continue
        table = f"{s['layer']}.{s['table_name']}"
        rows_in = s.get("rows_in")
        written = s.get("rows_written") or 0
        dropped = s.get("rows_dropped") or 0
        quarantined = s.get("rows_quarantined") or 0
        balanced = rows_in is None or rows_in == written + dropped + quarantined
        problems = []
        if not balanced:
            problems.append(
                f"in {rows_in:,} != written {written:,} + dropped {dropped:,} "
                f"+ quarantined {quarantined:,}"
            )
        version = s.get("delta_version")
        details = s.get("details") or {}
        # incremental kinds say how many rows their commit applies (a merge's source rows, an
        # scd2's closes + inserts); otherwise the commit adds exactly the rows written
        expected = details.get("delta_rows", written) if isinstance(details, dict) else written
        added = commits.added(table, version)
        table_ok = None if added is None else added == expected
        if version is None and written:
            table_ok = False
        if table_ok is False:
            problems.append(f"the Delta commit v{version} applied {added} rows, not {expected:,}")
        q_version = details.get("quarantine_version") if isinstance(details, dict) else None
        q_added = commits.added(f"{table}{QUARANTINE_SUFFIX}", q_version)
        q_expected = quarantined
        if isinstance(details, dict) and "quarantine_delta_rows" in details:
            q_expected = details["quarantine_delta_rows"]  # a replaced quarantine: all its rows
        q_ok = None if q_added is None else q_added == q_expected
        if q_version is None and quarantined:
            q_ok = False
        if q_ok is False:
            problems.append(f"the quarantine commit added {q_added} rows, not {q_expected:,}")
        rows_removed = details.get("rows_removed") if isinstance(details, dict) else None
        if rows_removed is not None:
            logged = commits.removed(table, version)
            if logged is not None and logged != rows_removed:
                table_ok = False
                problems.append(
                    f"the Delta commit v{version} removed {logged:,} rows, not {rows_removed:,}"
                )
            q_removed = details.get("quarantine_rows_removed") or 0
            q_logged = commits.removed(f"{table}{QUARANTINE_SUFFIX}", q_version)
            if q_logged is not None and q_logged != q_removed:
                q_ok = False
                problems.append(
                    f"the quarantine commit v{q_version} removed {q_logged:,} rows, "
                    f"not {q_removed:,}"
                )
        result.lines.append(
            LedgerLine(
                s["run_id"],
                s["step_no"],
                s["step"],
                table,
                rows_in,
                s.get("rows_written"),
                s.get("rows_dropped"),
                s.get("rows_quarantined"),
                balanced,
                table_ok,
                q_ok,
                "; ".join(problems),
                rows_removed,
            )
        )
    recon = [
        (table, spec)
        for table, specs in ws.checks.tables.items()
        for spec in specs
        if isinstance(spec, Reconciliation)
    ]
    if recon:
        engine = ws.new_engine()
        try:

            def readable(fqn: str) -> bool:  # built, or a view over built tables
                model = ws.models.get(fqn)
                if model is not None and model.kind == "view":
                    return all(readable(dep) for dep in model.depends_on)
                return ws.catalog.exists(fqn)

            for table, spec in recon:
                if not readable(table) or not readable(spec.equals.table):
                    continue
                attach.readable(engine, ws.lakehouse, table, reader=table)
                attach.readable(engine, ws.lakehouse, spec.equals.table, reader=table)
                result.reconciliations.append(run_check(engine, table, spec))
        finally:
            engine.close()
    return result
