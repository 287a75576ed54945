"""The `scd2` kind: history by `unique_key`. A changed row (any `track` column differs) closes
the current version (`valid_to`, `is_current = false`) and adds a new one (`valid_from`); an
unchanged row adds nothing, so re-running the same input creates no new versions. One merge
commit does both: a delta-rs MERGE, or, on an engine writing the files itself (Spark's
executors), one commit that rewrites the files holding a changed key's current version with it
closed and adds the new versions (`_rewrite`).

A rebuild (`--full-refresh`, a reset, a Delta log that no longer tells what is new) makes one
version per key from what the inputs hold now: the closed versions are only in the table. One
that would drop some fails before anything is written unless the run is confirmed (`--yes`, or
the question a terminal asks), naming how many versions of how many keys."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from medallion import sqltree
from medallion.build.incremental.base import IncrementalBuild
from medallion.build.incremental.commit import FirstBuild, count_duplicates_as_dropped, dedupe
from medallion.build.incremental.scope import find_scope, replaces, restrict
from medallion.build.route import write_routed
from medallion.engine.base import SRC
from medallion.errors import ExecutionError, MedallionError
from medallion.storage import snapshot, tables
from medallion.storage.tables import MergeClause

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.build.incremental.increment import Increment
    from medallion.engine.base import Relation, Session
    from medallion.models.kinds import SCD2Kind
    from medallion.state.records import StepResult

SCD_COLUMNS = ("valid_from", "valid_to", "is_current")
#: why a rebuild drops closed versions, as the plan and the refusal say it
HISTORY_NOT_IN_INPUTS = "history its inputs no longer hold (a rebuild keeps one version per key)"


class SCD2Build(IncrementalBuild):
    @classmethod
    def added_fields(cls) -> list[pa.Field]:
        import pyarrow as pa

        when = pa.timestamp("us", tz="UTC")
        return [
            pa.field("valid_from", when),
            pa.field("valid_to", when),
            pa.field("is_current", pa.bool_()),
        ]

    def build_increment(self, inc: Increment) -> None:
        import sqlglot.expressions as exp

        ctx = self.ctx
        kind: SCD2Kind = ctx.model.config.kind_config  # type: ignore[assignment]
        self.kind = kind
        model, engine = ctx.model, ctx.engine
        keys = kind.unique_key
        scope = find_scope(ctx, inc, keys, self.model_rel)
        rel = self.model_rel()
        columns = engine.columns(rel)
        clash = [c for c in SCD_COLUMNS if c in columns]
        if clash:
            raise ExecutionError(
                f"the output has a column {clash[0]!r}, which scd2 adds itself",
                model=model.fqn,
                file=model.path,
                hint="rename it; scd2 adds valid_from, valid_to and is_current",
            )
        self.tracked = kind.track or [c for c in columns if c not in keys]
        ctx.require_columns([*self.tracked, *keys], columns, "scd2")
        if scope is not None:
            rel = restrict(engine, rel, scope)
            ctx.result.details["touched"] = scope.rows
        self.valid_from: exp.Expression = (
            exp.Cast(
                this=exp.paren(sqltree.parse(kind.valid_from)),
                to=exp.DataType.build("TIMESTAMPTZ"),
            )
            if kind.valid_from
            else sqltree.lit(datetime.now(UTC))
        )
        guarded = inc.full and not ctx.confirmed and tables.is_delta_table(ctx.path)
        with ExitStack() as stack:
            if guarded and kind.valid_from:
                # the guard reads the rebuild's valid_from, the rebuild writes its rows: the
                # model computed once for both (and the rows judged are the rows written)
                rel = stack.enter_context(self._computed(rel))
            if guarded:
                self.refuse_dropped_history(rel)
            self.first = FirstBuild(
                ctx, keys, kind.order_by, inc.full or not tables.is_delta_table(ctx.path)
            )
            # an engine writing the files itself merges the rows where they are (write_relation)
            target = self.routed_target(self.write, self.write_relation)
            self.first.run(
                lambda: write_routed(ctx, rel, self.write, replaces(scope), target=target)
            )
        count_duplicates_as_dropped(ctx)
        _count_unchanged_as_dropped(ctx.result)

    @contextmanager
    def _computed(self, rel: Relation) -> Iterator[Relation]:
        """The model's rows computed (staged) for the block; its failure names the model."""
        engine = self.ctx.engine
        with ExitStack() as stack:
            try:
                computed = stack.enter_context(engine.staged(rel))
            except MedallionError:
                raise
            except Exception as e:
                raise engine.model_error(e, self.ctx.model) from None
            yield computed

    def refuse_dropped_history(self, rel: Relation) -> None:
        """An ExecutionError, before anything is written, when rebuilding the table from `rel`
        (the model's rows) would drop closed versions: those whose (key, valid_from) the
        rebuild does not produce. With the default valid_from (the run's time) that is all of
        them; a declared one is computed over the rebuild's rows (one per key)."""
        import sqlglot.expressions as exp

        from medallion.sqltree import col

        ctx, kind, engine = self.ctx, self.kind, self.ctx.engine
        rebuilt = None
        if kind.valid_from:
            rebuilt = engine.over(
                dedupe(engine, rel, kind.unique_key, kind.order_by),
                exp.select(
                    *[col(k) for k in kind.unique_key],
                    exp.alias_(self.valid_from.copy(), "valid_from"),
                ).from_(SRC),
            )
        try:
            versions, keys = dropped_versions(engine, ctx.path, kind.unique_key, rebuilt)
        except MedallionError:
            raise
        except Exception as e:  # the valid_from expression or the model failed in the engine
            raise engine.model_error(e, ctx.model) from None
        if not versions:
            return
        details = ctx.result.details
        why = details.get("rebuild") or (
            "the Delta log no longer tells what is new"
            if "incomplete" in details.get("mode", "")
            else "rebuild"
        )
        raise ExecutionError(
            f"not rebuilt ({why}): it would drop {versions_of_keys(versions, keys)}, "
            f"{HISTORY_NOT_IN_INPUTS}; nothing was written",
            model=ctx.model.fqn,
            file=ctx.model.path,
            hint="if that is what you want, run it again with --yes (-y)"
            + ("; without --full-refresh the history is kept" if ctx.full_refresh else ""),
        )

    def opened(self) -> exp.Select:
        """The rows of `__src` as their keys' first versions."""
        import sqlglot.expressions as exp

        return exp.select(
            exp.Star(),
            exp.alias_(self.valid_from.copy(), "valid_from"),
            exp.alias_(exp.Cast(this=exp.Null(), to=exp.DataType.build("TIMESTAMPTZ")), "valid_to"),
            exp.alias_(exp.true(), "is_current"),
        ).from_(SRC)

    def write_relation(self, session: Session, rel: Relation) -> tuple[int, int]:
        """The model's rows merged by an engine that writes the files itself: computed once
        (staged), then written by the engine (a first build) or merged as a rewrite of the files
        holding a changed key's current version (`_merge`); returns (version, rows read)."""
        with session.staged(rel) as staged:
            n_staged = session.count(staged)
            if self.first.mode is None:
                return self._merge(session, staged), n_staged
            deduped = dedupe(session, staged, self.kind.unique_key, self.kind.order_by)
            version, n_written = self.put(
                session, session.over(deduped, self.opened()), "overwrite"
            )
            details = self.ctx.result.details
            details["duplicates_dropped"] = n_staged - n_written
            details["delta_rows"] = n_written
            details["scd2"] = {"new_keys": n_written, "changed": 0, "unchanged": 0}
            return version, n_staged

    def write(self, reader: pa.RecordBatchReader) -> int:
        details = self.ctx.result.details
        if self.first.mode is not None:  # every key opens its first version
            version, n_written = self.first.build(
                reader, lambda rows: self.commit(rows, "overwrite"), select=self.opened()
            )
            details["scd2"] = {"new_keys": n_written, "changed": 0, "unchanged": 0}
            return version
        # the side session: the engine's own streams the model's rows into `reader`
        side = self.ctx.engine.side()
        with side.staged(reader) as staged:
            return self._merge(side, staged)

    def _merge(self, side: Session, staged: Relation) -> int:
        import sqlglot.expressions as exp

        from medallion.sqltree import aliased, and_, col, or_

        ctx, details, keys = self.ctx, self.ctx.result.details, self.kind.unique_key
        deduped = dedupe(side, staged, keys, self.kind.order_by)
        src = side.over(
            deduped,
            exp.select(exp.Star(), exp.alias_(self.valid_from.copy(), "__valid_from")).from_(SRC),
        )
        n_src = side.count(src)
        self.model_columns = [c for c in side.columns(src) if c != "__valid_from"]
        details["duplicates_dropped"] = side.count(staged) - n_src
        # the target's current versions, visible to the staging session
        scan = side.name(side.files(snapshot.snapshot(ctx.path).files))
        current = exp.select(exp.Star()).from_(scan).where(col("is_current")).subquery("c")
        with side.staged(src) as src_rows:
            s = aliased(side.name(src_rows), "s")
            join = and_(*[exp.EQ(this=col(k, "s"), expression=col(k, "c")) for k in keys])
            diff = or_(
                *[exp.NullSafeNEQ(this=col(c, "s"), expression=col(c, "c")) for c in self.tracked]
            )
            source_rows = exp.Column(this=exp.Star(), table=exp.Identifier(this="s"))
            changed = (
                exp.select(source_rows)
                .from_(s.copy())
                .join(current.copy(), on=join.copy())
                .where(diff)
            )
            new = (
                exp.select(source_rows.copy())
                .from_(s.copy())
                .join(current.copy(), on=join.copy(), join_type="anti")
            )
            n_changed = side.count(side.relation(changed))
            n_new = side.count(side.relation(new))
            details["scd2"] = {
                "new_keys": n_new,
                "changed": n_changed,
                "unchanged": n_src - n_new - n_changed,
            }
            if not n_changed and not n_new:
                details["delta_rows"] = 0
                ctx.result.note = "no changes"
                return -1
            if side.writes_files:
                details["delta_rows"] = 2 * n_changed + n_new
                return self._rewrite(side, s, current, changed, new)
            # one merge: rows flagged __insert add a version; the others close one
            flagged = exp.alias_(exp.true(), "__insert")
            closing = exp.select(
                *[col(k) for k in keys],
                col("__valid_from"),
                exp.alias_(exp.false(), "__insert"),
            ).from_(changed.subquery())
            source = exp.union(
                exp.union(
                    exp.select(exp.Star(), flagged).from_(changed.subquery()),
                    exp.select(exp.Star(), exp.true()).from_(new.subquery()),
                    distinct=False,
                ),
                closing,
                distinct=False,
            )
            source.set("by_name", True)
            source_rel = side.relation(source)
            n_source = side.count(source_rel)
            columns = self.model_columns
            on = and_(
                *[exp.EQ(this=col(k, "t"), expression=col(k, "s")) for k in keys],
                col("is_current", "t"),
                exp.not_(col("__insert", "s")),
            )
            inserts: dict[str, exp.Expression] = {c: col(c, "s") for c in columns}
            inserts.update(
                {
                    "valid_from": col("__valid_from", "s"),
                    "valid_to": exp.Null(),
                    "is_current": exp.true(),
                }
            )
            version, _ = self.merge(
                side.reader(source_rel),
                on,
                [
                    MergeClause(
                        "update",
                        values={"valid_to": col("__valid_from", "s"), "is_current": exp.false()},
                    ),
                    MergeClause("insert", col("__insert", "s"), inserts),
                ],
                what="scd2 merge",
            )
            details["delta_rows"] = n_source
            return -1 if version is None else version

    def _rewrite(
        self,
        side: Session,
        s: exp.Expression,
        current: exp.Expression,
        changed: exp.Select,
        new: exp.Select,
    ) -> int:
        """The merge by an engine writing the files itself: the current versions (`c`) of
        changed keys closed, and the source rows (`s`) of changed and new keys opened, added in
        one commit that rewrites only the files holding a changed key's current version
        (`WriteTarget.replace`)."""
        import sqlglot.expressions as exp

        from medallion.sqltree import aliased, and_, col

        ctx, keys = self.ctx, self.kind.unique_key
        names = tables.schema(ctx.path).names
        missing = [c for c in self.model_columns if c not in names]
        if missing:
            raise ExecutionError(
                f"the model has a column {missing[0]!r} its table lacks, which an engine writing "
                "the files itself cannot add to an scd2 history",
                model=ctx.model.fqn,
                file=ctx.model.path,
                hint=f"rebuild it: medallion run --select {ctx.model.name} --full-refresh "
                "(its history is lost) or drop the column",
            )
        join = and_(*[exp.EQ(this=col(k, "s"), expression=col(k, "c")) for k in keys])
        values = {"valid_to": col("__valid_from", "s"), "is_current": exp.false()}
        closed = (
            exp.select(*[exp.alias_(values[c] if c in values else col(c, "c"), c) for c in names])
            .from_(aliased(side.name(side.relation(changed)), "s"))
            .join(current.copy(), on=join)
        )
        typed_null = exp.Cast(this=exp.Null(), to=exp.DataType.build("TIMESTAMPTZ"))
        values = {
            "valid_from": col("__valid_from", "s"),
            "valid_to": typed_null,
            "is_current": exp.true(),
        }
        either = exp.union(changed.copy(), new.copy(), distinct=False)
        opened = exp.select(
            *[
                exp.alias_(
                    values[c]
                    if c in values
                    else col(c, "s")
                    if c in self.model_columns
                    else exp.Null(),
                    c,
                )
                for c in names
            ]
        ).from_(aliased(side.name(side.relation(either)), "s"))
        rows = exp.union(closed, opened, distinct=False)
        rows.set("by_name", True)
        # the table's rows replaced: the current versions of the changed keys (closed above)
        changed_keys = aliased(
            side.name(
                side.over(side.relation(changed), exp.select(*[col(k) for k in keys]).from_(SRC))
            ),
            "k",
        )
        same = and_(*[exp.EQ(this=col(k, "k"), expression=col(k, "t")) for k in keys])
        replace = and_(
            col("is_current", "t"),
            exp.Exists(this=exp.select(exp.Literal.number(1)).from_(changed_keys).where(same)),
        )
        return self.put(side, side.relation(rows), "append", replace)[0]


def dropped_versions(
    session: Session, path: Path, keys: list[str], rebuilt: Relation | None
) -> tuple[int, int]:
    """(versions, keys) of the closed versions of the scd2 table at `path` that a rebuild
    would drop: those whose (key, valid_from) is not a row of `rebuilt` (the rebuild's keys and
    valid_from; None: a rebuild stamping the run's time, which no version has)."""
    import sqlglot.expressions as exp

    from medallion.sqltree import aliased, and_, col

    snap = snapshot.snapshot(path)
    if not snap.rows or not is_history(snap.schema, keys):
        return 0, 0
    t = aliased(session.name(session.files(snap.files)), "t")
    closed = (
        exp.select(*[col(k, "t") for k in keys]).from_(t).where(exp.not_(col("is_current", "t")))
    )
    if rebuilt is not None:
        same = and_(
            *[exp.EQ(this=col(c, "r"), expression=col(c, "t")) for c in [*keys, "valid_from"]]
        )
        produced = exp.select(exp.Literal.number(1)).from_(aliased(session.name(rebuilt), "r"))
        closed = closed.where(exp.not_(exp.Exists(this=produced.where(same))))
    with session.staged(session.relation(closed)) as lost:
        versions = session.count(lost)
        if not versions:
            return 0, 0
        distinct = exp.select(*[col(k) for k in keys]).distinct().from_(SRC)
        return versions, session.count(session.over(lost, distinct))


def closed_versions(path: Path, keys: list[str]) -> tuple[int, int]:
    """(versions, keys) of the closed versions in the scd2 table at `path`, read with Arrow
    batch by batch (the key columns of the rows not current): what `plan` says a rebuild
    drops."""
    import pyarrow as pa
    import pyarrow.compute as pc

    closed: list[pa.Table] = []
    snap = snapshot.snapshot(path)
    if not snap.rows or not is_history(snap.schema, keys):
        return 0, 0
    for batch in snap.dataset.to_batches(columns=[*keys, "is_current"]):
        # Arrow's filter has no kernel for string_view (files other writers made)
        plain = pa.schema(
            [
                f.with_type(pa.string()) if pa.types.is_string_view(f.type) else f
                for f in batch.schema
            ]
        )
        rows = pa.Table.from_batches([batch]).cast(plain)
        closed.append(rows.filter(pc.invert(rows["is_current"])).select(keys))
    found = pa.concat_tables(closed) if closed else None
    if found is None or not found.num_rows:
        return 0, 0
    return found.num_rows, found.group_by(keys).aggregate([]).num_rows


def is_history(schema: pa.Schema, keys: list[str]) -> bool:
    """Whether a table holds scd2 versions (a table another writer made under the model's
    name may not): it has the keys and the columns scd2 adds."""
    return all(c in schema.names for c in [*keys, *SCD_COLUMNS])


def versions_of_keys(versions: int, keys: int) -> str:
    """The phrase `3 closed versions of 2 keys`."""
    return (
        f"{versions:,} closed version{'s' if versions != 1 else ''} of "
        f"{keys:,} key{'s' if keys != 1 else ''}"
    )


def _count_unchanged_as_dropped(res: StepResult) -> None:
    """Rows equal to their current version add nothing: not written, counted dropped."""
    unchanged = (res.details.get("scd2") or {}).get("unchanged", 0)
    if unchanged:
        res.rows_written = (res.rows_written or 0) - unchanged
        res.rows_dropped = (res.rows_dropped or 0) + unchanged
