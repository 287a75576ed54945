"""Row-level expectations: evaluated in one pass over a model's output as it streams to Delta.

The model's relation is wrapped in SQL (built as SQLGlot trees) that adds one boolean column per
expectation (`TRUE` = the row passes; FALSE and NULL are violations). The stream is then routed
batch by batch, in Arrow (the names of the expectations a row broke are computed only for the
rows set aside, as they are set aside):

- `warn`: the row is kept; violations are counted;
- `drop`: the row is removed and counted;
- `quarantine`: the row is removed and written to `<layer>.<model>__quarantine` with
  `_failed_expectations`, `_run_id`, `_quarantined_at` and `_quarantine_id`;
- `fail`: the whole stream is still read (to count), then an error is raised, so the Delta writer
  never commits: the table keeps its previous version.

A row failing several expectations gets the strictest action: fail > quarantine > drop > warn;
its route (kept, quarantined, failing; the other rows are dropped) is the AND of its boolean
columns by action, bitmaps in Arrow. Batches are routed on a thread of their own, a few ahead of
the Delta writer (`_Ahead`), which encodes the previous ones meanwhile.
Quarantined rows get their quarantine
columns as they are set aside (in Arrow, through `medallion.arrays`: any Python value given to
pyarrow — `pa.array`, `pa.scalar`, a number to compare with — makes it import pandas, where
installed, to check the value's type: 0.3-0.5 s), are kept in memory up to QUARANTINE_MEMORY
bytes, then spilled to a Parquet file (bounded memory), and land in their Delta table after the
model's own commit: a model that fails sets no row aside. (Writing them alongside the model, on
a second Delta writer, was tried: deltalake pulls both streams on its worker threads, and with
one worker — one CPU — the model's pull waited for the routing, the routing for the quarantine's
writer, which never got the worker: a deadlock.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.engine.base import SRC
from medallion.errors import ExecutionError, display_value, first_line
from medallion.models.checks import parse_predicate
from medallion.storage import quarantine

if TYPE_CHECKING:
    from contextlib import ExitStack

    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.config.checks import Expectation
    from medallion.engine.base import Engine, Relation
    from medallion.state.records import CheckResult

OK_PREFIX = "__medallion_ok_"
FAILED = "__medallion_failed"
#: quarantined rows held in memory before they go to a Parquet spill file
QUARANTINE_MEMORY = 64 << 20
#: rows per batch of a stream routed through expectations: smaller than the engine's
#: BATCH_ROWS, as routing is one more stage between DuckDB and the Delta writer, which waits for
#: the first batch to be routed and, at the end, for the last. Measured on the 1M-row benchmark
#: model (2 cores, 15 fresh runs each, step over the same model without expectations): +28% at
#: 128K rows per batch, +18% at 64K, +15% at 32K and at 16K
ROUTED_BATCH_ROWS = 32 * 1024
#: batches routed ahead of the Delta writer (DuckDB's pace is uneven; 4 measured 2-4 points
#: better than 2 at 32K rows, 8 no better)
ROUTED_AHEAD = 4
_spills = itertools.count()

#: what happened to the rows that broke an expectation, by its action
_VERB = {"warn": "kept", "drop": "dropped", "quarantine": "quarantined", "fail": "failed"}


def explained(name: str, table: str, action: str, violations: int, rows_in: int) -> CheckResult:
    """The result of an expectation that `violations` of `rows_in` rows broke, as every run
    shows it ("3 of 1,009 rows violate it (quarantined)"): a model's expectations, and a file
    source's implicit one — its rows parse and its values convert to the column types — alike."""
    from medallion.state.records import CheckResult

    status = "pass" if not violations else "warn"
    return CheckResult(
        name=name,
        kind="expectation",
        table=table,
        severity=action,
        status=status,
        failing_rows=violations,
        message=f"{violations:,} of {rows_in:,} rows violate it ({_VERB[action]})"
        if violations
        else f"all {rows_in:,} rows pass",
    )


def wrap(
    engine: Engine,
    rel: Relation,
    expectations: dict[str, Expectation],
    *,
    model: str,
    file: Path | None,
) -> Relation:
    """The model relation plus one `__medallion_ok_<i>` column per expectation (never NULL). A
    predicate that does not bind (e.g. an unknown column) is an ExecutionError naming its
    expectation."""
    import sqlglot.expressions as exp

    trees = {
        name: parse_predicate(e.expect, model=model, name=name, file=file)
        for name, e in expectations.items()
    }
    checked = exp.select(
        exp.Star(),
        *[
            exp.alias_(
                exp.func("coalesce", exp.paren(tree.copy()), exp.false()),
                f"{OK_PREFIX}{i}",
                quoted=True,
            )
            for i, tree in enumerate(trees.values())
        ],
    ).from_(SRC)
    try:  # the engine binds the relation here: every predicate at once
        return engine.over(rel, checked)
    except Exception as err:
        _name_unbound(engine, rel, trees, model=model, file=file)
        raise ExecutionError(
            f"the expectations do not bind: {first_line(err)}", file=file, model=model
        ) from None


def _name_unbound(
    engine: Engine,
    rel: Relation,
    trees: dict[str, exp.Expression],
    *,
    model: str,
    file: Path | None,
) -> None:
    """Raise an ExecutionError naming the first expectation that does not bind. Each is bound
    against an empty table of the model's columns: binding against the model itself would plan
    the model's whole query (e.g. large IN lists) once per expectation. One that reads another
    table does not bind there and is bound against the model."""
    import pyarrow as pa
    import sqlglot.expressions as exp

    schema = engine.schema(rel)
    scratch = engine.scratch()
    try:
        probe = scratch.arrow(pa.RecordBatchReader.from_batches(schema, []).read_all())
        for name, tree in trees.items():
            query = exp.select(exp.paren(tree.copy())).from_(SRC)
            try:
                try:
                    scratch.fetch(scratch.over(probe, query))
                except Exception:
                    engine.fetch(engine.over(rel, query.limit(0)))
            except Exception as err:
                raise ExecutionError(
                    f"expectation {name!r}: {first_line(err)}",
                    file=file,
                    model=model,
                    hint=f"columns of the model: {', '.join(engine.columns(rel))}",
                ) from None
    finally:
        scratch.close()


@dataclass
class Outcome:
    rows_in: int = 0
    rows_dropped: int = 0
    rows_quarantined: int = 0
    #: expectation name -> rows violating it (whatever the action)
    violations: dict[str, int] = field(default_factory=dict)
    fail_rows: int = 0
    fail_samples: list[dict[str, Any]] = field(default_factory=list)
    #: the quarantined rows (None: none)
    spill: QuarantineBuffer | None = None


class QuarantineBuffer:
    """Quarantined rows in their quarantine table's columns (storage.quarantine.model_schema):
    in memory up to QUARANTINE_MEMORY bytes, then in a Parquet file. `add` takes rows with their
    `__medallion_ok_<i>` columns and names the expectations each broke; rows are numbered from 0
    in the order they are added (`_quarantine_id` = `<run_id>:<n>`)."""

    def __init__(
        self, spill_dir: Path, names: list[str], model_schema: pa.Schema, run_id: str
    ) -> None:
        self.spill_dir = spill_dir
        self.names = names
        self.schema = quarantine.model_schema(model_schema)
        self.run_id = run_id
        self.at = datetime.now(UTC)
        self.count = 0
        self.memory: list[pa.RecordBatch] = []
        self.nbytes = 0
        self.path: Path | None = None
        self._writer: Any = None

    def add(self, rows: pa.RecordBatch) -> None:
        batch = self._with_quarantine_columns(rows)
        if self._writer is None and self.nbytes + batch.nbytes <= QUARANTINE_MEMORY:
            self.memory.append(batch)
            self.nbytes += batch.nbytes
            return
        if self._writer is None:
            import pyarrow.parquet as pq

            self.spill_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.spill_dir / f"quarantine-{next(_spills)}-{id(self)}.parquet"
            self._writer = pq.ParquetWriter(str(self.path), self.schema)
        self._writer.write_batch(batch)

    def _with_quarantine_columns(self, rows: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow as pa
        import pyarrow.compute as pc

        from medallion import arrays

        n = rows.num_rows
        numbers = arrays.fixed(range(self.count, self.count + n), pa.int64())
        self.count += n
        run_ids = arrays.repeat(arrays.strings([self.run_id]), n)
        extra = {
            "_failed_expectations": _failed_lists(rows, self.names),
            "_run_id": run_ids,
            "_quarantined_at": arrays.instants(
                self.at, n, self.schema.field("_quarantined_at").type
            ),
            # <run_id>:<n>, the last argument being the separator
            "_quarantine_id": pc.binary_join_element_wise(
                run_ids, pc.cast(numbers, pa.string()), arrays.repeat(arrays.strings([":"]), n)
            ),
        }
        columns = [
            rows.column(f.name) if f.name not in extra else extra[f.name] for f in self.schema
        ]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def batches(self) -> Iterator[pa.RecordBatch]:
        yield from self.memory
        if self.path is not None:
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(str(self.path)).iter_batches(batch_size=64 * 1024)

    def discard(self) -> None:
        self.close()
        self.memory = []
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _failed_lists(rows: pa.RecordBatch, names: list[str]) -> pa.Array:
    """Per row, the names of the expectations it broke (in the header's order), from its
    `__medallion_ok_<i>` columns (never NULL: coalesced to FALSE). In Arrow: the (row,
    expectation) pairs of the broken ones, sorted by row then expectation, give the lists'
    values; the broken count per row, summed up, their offsets."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from medallion import arrays

    where, which, counts = [], [], None
    for i in range(len(names)):
        broken = pc.invert(rows.column(f"{OK_PREFIX}{i}"))
        at = pc.indices_nonzero(broken)
        where.append(at)
        which.append(arrays.repeat(arrays.fixed([i], pa.int32()), len(at)))
        ones = pc.cast(broken, pa.int32())
        counts = ones if counts is None else pc.add(counts, ones)
    expectation = pa.concat_arrays(which)
    pairs = pa.RecordBatch.from_arrays([pa.concat_arrays(where), expectation], ["row", "which"])
    order = pc.sort_indices(pairs, sort_keys=[("row", "ascending"), ("which", "ascending")])
    offsets = pa.concat_arrays(
        [arrays.fixed([0], pa.int32()), pc.cumulative_sum(counts).cast(pa.int32())]
    )
    return pa.ListArray.from_arrays(offsets, arrays.strings(names).take(expectation.take(order)))


def _passing(batch: pa.RecordBatch, oks: list[str]) -> pa.Array | None:
    """Which rows pass every expectation of `oks` (their columns ANDed); None if `oks` is empty."""
    import pyarrow.compute as pc

    passing = None
    for ok in oks:
        passing = batch.column(ok) if passing is None else pc.and_(passing, batch.column(ok))
    return passing


class Router:
    """Splits the wrapped stream into kept rows (returned as a reader for the Delta writer),
    dropped rows (counted) and quarantined rows (a QuarantineBuffer)."""

    def __init__(
        self,
        reader: pa.RecordBatchReader,
        expectations: dict[str, Expectation],
        *,
        model: str,
        file: Path | None,
        spill_dir: Path,
        run_id: str,
    ) -> None:
        self.reader = reader
        self.expectations = expectations
        self.model = model
        self.file = file
        self.spill_dir = spill_dir
        self.run_id = run_id  # of the quarantined rows
        self.names = list(expectations)
        self.outcome = Outcome(violations=dict.fromkeys(self.names, 0))
        #: the error raised at the end of the stream (the Delta writer wraps it; we re-raise it)
        self.error: ExecutionError | None = None
        self.oks = [f"{OK_PREFIX}{i}" for i in range(len(self.names))]
        actions = [expectations[name].action for name in self.names]

        def oks(*of: str) -> list[str]:
            return [ok for ok, action in zip(self.oks, actions, strict=True) if action in of]

        self.removing = oks("drop", "quarantine", "fail")
        self.quarantining = oks("quarantine")
        self.failing = oks("fail")
        self.columns = [n for n in reader.schema.names if n not in self.oks]
        self._kept: _Ahead | None = None

    def _samples(self, rows: pa.RecordBatch) -> list[dict[str, Any]]:
        """`rows` as dicts of the model's columns plus FAILED."""
        from medallion import arrays

        samples = []
        for row in arrays.rows(rows):
            sample = {c: row[c] for c in self.columns}
            sample[FAILED] = [n for n, ok in zip(self.names, self.oks, strict=True) if not row[ok]]
            samples.append(sample)
        return samples

    def kept(self) -> pa.RecordBatchReader:
        """The kept rows as a stream, routed ahead of the reader on a thread of their own. The
        Delta writer pulls batches on its thread, which is the pipeline's bottleneck: routing
        there made it wait (+0.15 s at 1M rows, as much as the predicates), while routed
        ahead the routing overlaps the writer's encoding."""
        import pyarrow as pa

        schema = pa.schema([self.reader.schema.field(c) for c in self.columns])
        self._kept = _Ahead(self._route(), ROUTED_AHEAD)
        return pa.RecordBatchReader.from_batches(schema, self._kept)

    def _route(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.compute as pc

        o = self.outcome
        try:
            for batch in self.reader:
                n = batch.num_rows
                o.rows_in += n
                for name, ok in zip(self.names, self.oks, strict=True):
                    o.violations[name] += n - (pc.sum(batch.column(ok)).as_py() or 0)
                out = batch.select(self.columns)
                keep = _passing(batch, self.removing)
                kept = n if keep is None else pc.sum(keep).as_py() or 0
                if kept == n:
                    yield out  # every row kept (warnings at most)
                    continue
                passing = _passing(batch, self.failing)
                fail = None if passing is None else pc.invert(passing)
                failed = 0 if fail is None else pc.sum(fail).as_py() or 0
                if failed:
                    o.fail_rows += failed
                    if len(o.fail_samples) < 5:
                        rows = batch.filter(fail).slice(0, 5 - len(o.fail_samples))
                        o.fail_samples.extend(self._samples(rows))
                quarantine = _passing(batch, self.quarantining)
                if quarantine is not None:  # breaks a quarantine rule, and no fail rule
                    quarantine = pc.invert(quarantine)
                    if passing is not None:
                        quarantine = pc.and_(quarantine, passing)
                quarantined = 0 if quarantine is None else pc.sum(quarantine).as_py() or 0
                if quarantined:
                    o.rows_quarantined += quarantined
                    if o.spill is None:
                        o.spill = QuarantineBuffer(
                            self.spill_dir, self.names, out.schema, self.run_id
                        )
                    o.spill.add(batch.filter(quarantine))
                o.rows_dropped += n - kept - failed - quarantined
                yield out.filter(keep)
        finally:
            if o.spill is not None:
                o.spill.close()
        if o.fail_rows:
            self._discard_spill()
            self.error = self._failure()
            raise self.error

    def _failure(self) -> ExecutionError:
        o = self.outcome
        failing = [
            f"{name!r} ({o.violations[name]:,} rows)"
            for name in self.names
            if self.expectations[name].action == "fail" and o.violations[name]
        ]
        lines = [f"  {_short(row)}" for row in o.fail_samples]
        error = ExecutionError(
            f"expectation {', '.join(failing)} failed (action: fail) on {o.fail_rows:,} of "
            f"{o.rows_in:,} rows; nothing was written\n  sample rows:\n" + "\n".join(lines),
            file=self.file,
            model=self.model,
            hint="fix the data upstream, or relax the expectation (action: quarantine keeps the "
            "bad rows aside instead of failing)",
        )
        error.data_failure = True
        return error

    def discard(self) -> None:
        if self._kept is not None:  # stops the routing thread, if the writer gave up early
            self._kept.close()
        self._discard_spill()

    def _discard_spill(self) -> None:
        if self.outcome.spill is not None:
            self.outcome.spill.discard()
            self.outcome.spill = None


class _Ahead:
    """`items`, computed on a thread of their own up to `depth` ahead of the consumer, as an
    iterator; the items' error is raised to the consumer. The thread starts at the first item
    asked for.

    `close()` may be called from any thread, even while the consumer waits in `__next__` on a
    thread of its own: deltalake pulls the stream on a Rust thread, which can still be there
    when `write_deltalake` has already returned its error. It stops the worker, which closes
    `items`, and waits for it: once it returns, nothing reads the DuckDB stream any more (the
    engine's connection can be closed) and the routing's spill is closed. A consumer still
    waiting then gets an error, never a normal end: a stream cut short must not look complete."""

    def __init__(self, items: Iterator[Any], depth: int) -> None:
        import queue
        import threading

        self._items = items
        self._ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._start = threading.Lock()
        self._worker: threading.Thread | None = None
        self._done = False  # the consumer saw the end or the error

    def __iter__(self) -> _Ahead:
        return self

    def __next__(self) -> Any:
        import queue
        import threading

        if self._done:
            raise StopIteration
        with self._start:
            if self._worker is None and not self._stop.is_set():
                self._worker = threading.Thread(
                    target=self._produce, name="medallion-route", daemon=True
                )
                self._worker.start()
        while not self._stop.is_set():
            try:
                kind, value = self._ready.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "item":
                return value
            self._done = True
            self.close()
            if kind == "error":
                raise value
            raise StopIteration
        raise ExecutionError("the routing of the model's rows was stopped before the end")

    def close(self) -> None:
        import threading

        with self._start:  # a worker starting now would be missed and left running
            self._stop.set()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join()

    def _hand_over(self, kind: str, value: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._ready.put((kind, value), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._hand_over("item", item):
                    return
            self._hand_over("end", None)
        except BaseException as e:  # handed to the consumer, raised there
            self._hand_over("error", e)
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()


def _short(row: dict[str, Any], width: int = 160) -> str:
    text = ", ".join(f"{k}={display_value(v)}" for k, v in row.items() if k != FAILED)
    failed = row.get(FAILED)
    if failed:
        text = f"[{', '.join(failed)}] " + text
    return text if len(text) <= width else text[: width - 1] + "…"


def quarantine_reader(
    spill: QuarantineBuffer | None, model_schema: pa.Schema
) -> pa.RecordBatchReader:
    """The quarantined rows as a stream (empty if there are none)."""
    import pyarrow as pa

    if spill is None:
        return pa.RecordBatchReader.from_batches(quarantine.model_schema(model_schema), iter(()))
    return pa.RecordBatchReader.from_batches(spill.schema, spill.batches())


class RelationRouter:
    """The routing of `Router` done by the engine, for an engine that writes the data files
    itself (`Session.writes_files`: Spark's executors): the rows never come to the driver. The
    wrapped relation (computed once: `staged`) is counted by one aggregate query (rows in,
    violations per expectation, rows failing, quarantined, kept); a `fail` stops here, before
    anything is written, with up to 5 sample rows; `kept` and `quarantined` are relations the
    engine writes, the quarantined ones in their quarantine table's columns (the expectations
    each broke, the run, when, `<run_id>:<n>`)."""

    def __init__(
        self,
        engine: Engine,
        staged: Relation,
        expectations: dict[str, Expectation],
        *,
        model: str,
        file: Path | None,
        run_id: str,
    ) -> None:
        self.router = Router(
            _NoRows(engine.schema(staged)),
            expectations,
            model=model,
            file=file,
            spill_dir=Path("."),
            run_id=run_id,
        )
        self.engine = engine
        self.staged = staged
        #: the rows set aside, computed whole (`set_aside`); else read from `staged`
        self.aside: Relation | None = None
        self.at = datetime.now(UTC)

    @property
    def outcome(self) -> Outcome:
        return self.router.outcome

    def _all(self, oks: list[str]) -> exp.Expression | None:
        from medallion.sqltree import and_, col

        return and_(*[col(ok) for ok in oks]) if oks else None

    def count(self) -> None:
        """Fill the outcome's counts; raise the `fail` error (nothing written) if a row broke
        a `fail` expectation."""
        import sqlglot.expressions as exp

        from medallion import arrays
        from medallion.sqltree import col

        r, engine = self.router, self.engine

        def rows(condition: exp.Expression | None) -> exp.Expression:
            if condition is None:
                return exp.Literal.number(0)
            return exp.Sum(
                this=exp.If(this=condition, true=exp.Literal.number(1), false=exp.Literal.number(0))
            )

        passing, quarantining = self._all(r.failing), self._all(r.quarantining)
        kept = self._all(r.removing)
        quarantined = None
        if quarantining is not None:
            quarantined = exp.not_(exp.paren(quarantining))
            if passing is not None:
                quarantined = exp.and_(quarantined, exp.paren(passing.copy()))
        counted = [
            exp.Count(this=exp.Star()),
            *[rows(exp.not_(col(ok))) for ok in r.oks],
            rows(None if passing is None else exp.not_(exp.paren(passing.copy()))),
            rows(quarantined),
            rows(exp.true() if kept is None else kept.copy()),
        ]
        query = exp.select(*[exp.alias_(c, f"n{i}") for i, c in enumerate(counted)]).from_(SRC)
        values = [
            v or 0 for v in arrays.rows(engine.fetch(engine.over(self.staged, query)))[0].values()
        ]
        o = self.outcome
        o.rows_in = int(values[0])
        for i, name in enumerate(r.names):
            o.violations[name] = int(values[1 + i])
        fail, quar, n_kept = (int(v) for v in values[1 + len(r.oks) :])
        o.fail_rows, o.rows_quarantined = fail, quar
        o.rows_dropped = o.rows_in - n_kept - fail - quar
        if fail:
            assert passing is not None
            sample = exp.select(exp.Star()).from_(SRC).where(exp.not_(exp.paren(passing)))
            for batch in engine.fetch(engine.over(self.staged, sample.limit(5))).to_batches():
                o.fail_samples.extend(r._samples(batch))
            r.error = r._failure()
            raise r.error

    def kept(self) -> Relation:
        """The rows kept, in the model's columns."""
        import sqlglot.expressions as exp

        from medallion.sqltree import col

        r = self.router
        query = exp.select(*[col(c) for c in r.columns]).from_(SRC)
        keep = self._all(r.removing)
        return self.engine.over(self.staged, query if keep is None else query.where(keep))

    def _where_quarantined(self) -> exp.Expression:
        import sqlglot.expressions as exp

        r = self.router
        quarantining, passing = self._all(r.quarantining), self._all(r.failing)
        # no quarantine expectation (a rebuild's quarantine emptied): no row
        where = exp.false() if quarantining is None else exp.not_(exp.paren(quarantining))
        if passing is not None:
            where = exp.and_(where, exp.paren(passing))
        return where

    def set_aside(self, stack: ExitStack) -> None:
        """The rows to quarantine computed now, every value, for the block of `stack`: a value
        of theirs that fails to compute (a cast) fails the step before the kept rows are
        committed, as the DuckDB path (which computes every row) does. Nothing when none is."""
        import sqlglot.expressions as exp

        if not self.outcome.rows_quarantined:
            return
        rows = exp.select(exp.Star()).from_(SRC).where(self._where_quarantined())
        self.aside = stack.enter_context(
            self.engine.staged(self.engine.over(self.staged, rows), whole=True)
        )

    def quarantined(self, model_schema: pa.Schema) -> Relation:
        """The rows set aside, in their quarantine table's columns (storage.quarantine)."""
        import sqlglot.expressions as exp

        from medallion.sqltree import col, lit

        r = self.router
        where = self._where_quarantined()
        if self.aside is not None:
            where = exp.true()  # the rows are those set aside already
        broken = exp.Array(
            expressions=[
                exp.Case(ifs=[exp.If(this=exp.not_(col(ok)), true=exp.Literal.string(name))])
                for ok, name in zip(r.oks, r.names, strict=True)
            ]
        )
        x = exp.to_identifier("x")
        failed = exp.ArrayFilter(
            this=broken,
            expression=exp.Lambda(
                this=exp.not_(exp.Is(this=x, expression=exp.Null())), expressions=[x]
            ),
        )
        number = exp.Sub(this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1))
        extra = {
            "_failed_expectations": failed,
            "_run_id": exp.Literal.string(r.run_id),
            "_quarantined_at": lit(self.at),
            "_quarantine_id": exp.DPipe(
                this=exp.Literal.string(f"{r.run_id}:"),
                expression=exp.cast(number, "VARCHAR"),
            ),
        }
        schema = quarantine.model_schema(model_schema)
        columns = [
            exp.alias_(extra[f.name], f.name, quoted=True) if f.name in extra else col(f.name)
            for f in schema
        ]
        source = self.staged if self.aside is None else self.aside
        return self.engine.over(source, exp.select(*columns).from_(SRC).where(where))


class _NoRows:
    """A reader's schema with no rows: a Router made only for its bookkeeping."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
