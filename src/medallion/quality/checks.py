"""Table-level checks: each becomes SQL over the checked table (SQLGlot trees), run in DuckDB.

A check returns how many rows fail (or the value it observed) and up to five sample rows. Its
status is `pass`, `warn` (failed, severity warn), `fail` (failed, severity error) or `error` (the
check itself could not run, e.g. a misspelt column; it counts as a failure of its severity).

Boolean rules (`expression_is_true`, like expectations) pass only where the expression is TRUE:
NULL is a failure.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from medallion.config.checks import (
    AcceptedValues,
    Anomaly,
    ExpressionIsTrue,
    Freshness,
    NotNull,
    Reconciliation,
    Relationships,
    RowCount,
    Unique,
)
from medallion.errors import display_value
from medallion.state.records import CheckResult

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.config.checks import CheckSpec
    from medallion.engine.base import Engine, Relation, Session
    from medallion.models.checks import SingularCheck

SAMPLE_ROWS = 5
#: the checks that count rows, screened together by run_checks
_COUNTED = (NotNull, Unique, AcceptedValues, Relationships, RowCount, ExpressionIsTrue)


class HistoryLookup:
    """Past observed values of a check (for anomalies): callable(table, name, window) -> values,
    newest first, from successful runs only."""

    def __call__(self, table: str, name: str, window: int) -> list[float]:  # pragma: no cover
        raise NotImplementedError


def _table(fqn: str) -> exp.Table:
    import sqlglot.expressions as exp

    layer, name = fqn.split(".", 1)
    return exp.table_(name, db=layer, quoted=True)


def _cond(sql: str) -> exp.Expression:
    import sqlglot

    return sqlglot.parse_one(sql, dialect="duckdb")


def _col(name: str) -> exp.Column:
    import sqlglot.expressions as exp

    return exp.column(name, quoted=True)


def _source(fqn: str, where: str | None, rows: exp.Table | None = None) -> exp.Select:
    """SELECT * FROM <table> [WHERE <where>] as a subquery-able select; `rows`: read that
    instead of the table (some of its rows, see quality/scoped.py)."""
    import sqlglot.expressions as exp

    q = exp.select(exp.Star()).from_(rows if rows is not None else _table(fqn))
    return q.where(_cond(where)) if where else q


def unbound_check(
    engine: Engine, rel: Relation, specs: list[CheckSpec], added: list[pa.Field]
) -> tuple[CheckSpec, str] | None:
    """(check, why) for the first of a table's checks that would not run on `rel` (the model's
    query, bound but not run): a column it names that the model does not have, or an expression
    of it that does not bind. None when they all bind. Checked before the table is written, so
    a misspelt column fails the step instead of committing a table whose check then cannot
    run. Binding is against an empty table of the model's columns; other tables a check reads
    are not checked here. `added`: the columns the model's kind adds to the output (scd2's)."""
    import pyarrow as pa

    from medallion.errors import first_line

    schema = engine.schema(rel)
    for extra in added:
        if extra.name not in schema.names:
            schema = schema.append(extra)
    names = {n.lower() for n in schema.names}
    columns = ", ".join(schema.names)
    scratch = engine.scratch()
    try:
        rows = scratch.name(scratch.arrow(pa.RecordBatchReader.from_batches(schema, []).read_all()))
        for spec in specs:
            where = f"check {spec.check_name!r}"
            for column in _plain_columns(spec):
                if column.lower() not in names:
                    why = f"{where}: column {column!r} is not in the model's output ({columns})"
                    return spec, why
            for key, query in _bound_queries(spec, rows):
                try:
                    scratch.fetch(scratch.relation(query))
                except Exception as e:
                    return spec, f"{where}: its {key} does not bind: {first_line(e)} ({columns})"
    finally:
        scratch.close()
    return None


def _plain_columns(spec: CheckSpec) -> list[str]:
    """The columns of the checked table a check names."""
    if isinstance(spec, NotNull | Unique):
        return list(spec.columns)
    if isinstance(spec, AcceptedValues | Relationships | Freshness):
        return [spec.column]
    return []


def _bound_queries(spec: CheckSpec, rows: exp.Table) -> list[tuple[str, exp.Select]]:
    """(key, a query of that SQL of the check over `rows`): its `where`, and its expression."""
    import sqlglot.expressions as exp

    texts: list[tuple[str, str]] = []
    if isinstance(spec, ExpressionIsTrue | Reconciliation):
        texts.append(("expression", spec.expression))
    if isinstance(spec, Anomaly) and spec.metric not in ("row_count", "rows_written"):
        texts.append(("metric", spec.metric))
    out = [(key, exp.select(_cond(text)).from_(rows.copy())) for key, text in texts]
    if spec.where:
        out.insert(0, ("where", exp.select("1").from_(rows.copy()).where(_cond(spec.where))))
    return out


def _rows(session: Session, query: exp.Expression) -> list[dict[str, Any]]:
    # through Arrow: DuckDB's own conversion of TIMESTAMPTZ values needs pytz
    from medallion import arrays

    return arrays.rows(session.fetch(session.relation(query)))


def _scalar(session: Session, query: exp.Expression) -> Any:
    rows = _rows(session, query)
    return next(iter(rows[0].values())) if rows else None


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def fix(v: Any) -> Any:
        if isinstance(v, datetime | date):
            return v.isoformat()
        if isinstance(v, int | float | str | bool) or v is None:
            return v
        return str(v)

    return [{k: fix(v) for k, v in r.items()} for r in rows]


def run_checks(
    session: Session,
    table: str,
    specs: list[CheckSpec],
    *,
    history: HistoryLookup | None = None,
    rows_written: int | None = None,
    rows: exp.Table | None = None,
) -> list[CheckResult]:
    """Run a table's checks (`rows`: on those rows of it, see _source). The ones that count
    rows (failing rows, or all rows for row_count) are counted first in one query; a count of
    zero settles its check there, and only the others run their own queries (which find the
    sample rows). A table's checks usually pass: this is one query instead of one per check."""
    counts = _screen(session, table, specs, rows)
    return [
        run_check(
            session,
            table,
            spec,
            history=history,
            rows_written=rows_written,
            screened=counts.get(i),
            rows=rows,
        )
        for i, spec in enumerate(specs)
    ]


def _screen(
    session: Session, table: str, specs: list[CheckSpec], rows: exp.Table | None = None
) -> dict[int, int]:
    """Index of a check in `specs` -> its count (see run_checks), for the checks that count;
    {} when the query fails (each check then runs on its own and reports its own error)."""
    import sqlglot.expressions as exp

    counts = {
        str(i): _count_query(table, spec, rows)
        for i, spec in enumerate(specs)
        if isinstance(spec, _COUNTED)
    }
    if len(counts) < 2:
        return {}  # a check alone is as quick on its own
    query = exp.select(
        *[exp.alias_(exp.Subquery(this=q), name, quoted=True) for name, q in counts.items()]
    )
    try:
        row = _rows(session, query)[0]
    except Exception:
        return {}
    return {int(name): int(n) for name, n in row.items()}


def _count_query(table: str, spec: CheckSpec, rows: exp.Table | None = None) -> exp.Select:
    """SELECT count(*) of the rows failing `spec` (of all rows for row_count)."""
    import sqlglot.expressions as exp

    src = _source(table, spec.where, rows).subquery("t")
    q = exp.select(exp.Count(this=exp.Star())).from_(src)
    if isinstance(spec, NotNull):
        return q.where(
            exp.or_(*[exp.Is(this=_col(c), expression=exp.Null()) for c in spec.columns])
        )
    if isinstance(spec, Unique):
        keys = [_col(c) for c in spec.columns]
        dupes = (
            exp.select(exp.Literal.number(1))
            .from_(src)
            .group_by(*keys)
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
        )
        return exp.select(exp.Count(this=exp.Star())).from_(dupes.subquery("d"))
    if isinstance(spec, AcceptedValues):
        return q.where(_not_accepted(spec))
    if isinstance(spec, Relationships):
        return q.where(_orphan(spec))
    if isinstance(spec, ExpressionIsTrue):
        return q.where(_not_true(spec))
    return q  # RowCount


def _not_accepted(spec: AcceptedValues) -> exp.Expression:
    import sqlglot.expressions as exp

    col = _col(spec.column)
    return exp.and_(
        exp.not_(exp.In(this=col, expressions=[exp.convert(v) for v in spec.values])),
        exp.Is(this=col.copy(), expression=exp.Null()).not_(),
    )


def _orphan(spec: Relationships) -> exp.Expression:
    """A row of `t` whose value has no match in the referenced table."""
    import sqlglot.expressions as exp

    assert spec.field is not None
    col = exp.column(spec.column, table="t", quoted=True)
    exists = exp.Exists(
        this=exp.select(exp.Literal.number(1))
        .from_(_table(spec.to).as_("p"))
        .where(exp.EQ(this=exp.column(spec.field, table="p", quoted=True), expression=col.copy()))
    )
    return exp.and_(exp.Is(this=col, expression=exp.Null()).not_(), exp.not_(exists))


def _not_true(spec: ExpressionIsTrue) -> exp.Expression:
    import sqlglot.expressions as exp

    return exp.not_(exp.func("coalesce", exp.paren(_cond(spec.expression)), exp.false()))


def run_check(
    session: Session,
    table: str,
    spec: CheckSpec,
    *,
    history: HistoryLookup | None = None,
    rows_written: int | None = None,
    screened: int | None = None,
    rows: exp.Table | None = None,
) -> CheckResult:
    """Run one check against `table` (which must be attached to `session`). `screened`: its count
    from run_checks, if it was counted there; `rows`: see _source."""
    result = CheckResult(spec.check_name, spec.type, table, spec.severity, "pass")
    try:
        _evaluate(session, table, spec, result, history, rows_written, screened, rows)
    except Exception as e:
        from medallion.errors import first_line

        result.status = "error"
        result.message = f"could not run: {first_line(e)}"
        return result
    if result.status == "failed":
        result.status = "fail" if spec.severity == "error" else "warn"
    result.sample = _jsonable(result.sample)
    return result


def _fail(result: CheckResult, message: str, failing: int | None = None) -> None:
    result.status = "failed"
    result.message = message
    if failing is not None:
        result.failing_rows = failing


def _evaluate(
    session: Session,
    table: str,
    spec: CheckSpec,
    r: CheckResult,
    history: HistoryLookup | None,
    rows_written: int | None,
    screened: int | None = None,
    rows: exp.Table | None = None,
) -> None:
    import sqlglot.expressions as exp

    if screened == 0 and not isinstance(spec, RowCount):  # found nothing: no sample to fetch
        r.failing_rows = 0
        r.message = _nothing_found(spec)
        return
    src = _source(table, spec.where, rows).subquery("t")
    count = exp.Count(this=exp.Star())

    if isinstance(spec, NotNull):
        sums = [
            exp.alias_(
                exp.func("count_if", exp.Is(this=_col(c), expression=exp.Null())), c, quoted=True
            )
            for c in spec.columns
        ]
        counts = _rows(session, exp.select(*sums).from_(src))[0]
        bad = {c: n for c, n in counts.items() if n}
        r.failing_rows = sum(bad.values())
        if bad:
            any_null = exp.or_(*[exp.Is(this=_col(c), expression=exp.Null()) for c in spec.columns])
            r.sample = _rows(
                session, exp.select(exp.Star()).from_(src).where(any_null).limit(SAMPLE_ROWS)
            )
            _fail(r, "NULL values: " + ", ".join(f"{c} ({n:,})" for c, n in bad.items()))
        else:
            r.message = _nothing_found(spec)

    elif isinstance(spec, Unique):
        keys = [_col(c) for c in spec.columns]
        dupes = (
            exp.select(*keys, exp.alias_(count, "n"))
            .from_(src)
            .group_by(*keys)
            .having(exp.GT(this=count.copy(), expression=exp.Literal.number(1)))
        )
        stats = _rows(
            session,
            exp.select(
                exp.alias_(exp.Count(this=exp.Star()), "keys"),
                exp.alias_(
                    exp.func("coalesce", exp.func("sum", exp.column("n")), exp.Literal.number(0)),
                    "rows",
                ),
            ).from_(dupes.subquery("d")),
        )[0]
        r.failing_rows = int(stats["rows"])
        if stats["keys"]:
            r.sample = _rows(session, dupes.order_by(exp.column("n").desc()).limit(SAMPLE_ROWS))
            _fail(
                r,
                f"{stats['keys']:,} duplicated value(s) of ({', '.join(spec.columns)}) "
                f"over {int(stats['rows']):,} rows",
            )
        else:
            r.message = _nothing_found(spec)

    elif isinstance(spec, AcceptedValues):
        col = _col(spec.column)
        bad_q = (
            exp.select(col, exp.alias_(count, "n"))
            .from_(src)
            .where(_not_accepted(spec))
            .group_by(col.copy())
        )
        bad = _rows(session, bad_q.order_by(exp.column("n").desc()))
        r.failing_rows = sum(b["n"] for b in bad)
        if bad:
            r.sample = bad[:SAMPLE_ROWS]
            shown = ", ".join(display_value(b[spec.column]) for b in bad[:SAMPLE_ROWS])
            _fail(r, f"{r.failing_rows:,} rows with values not accepted: {shown}")
        else:
            r.message = _nothing_found(spec)

    elif isinstance(spec, Relationships):
        col = exp.column(spec.column, table="t", quoted=True)
        orphans = exp.select(col, exp.alias_(count, "n")).from_(src).where(_orphan(spec))
        orphans = orphans.group_by(col.copy())
        bad = _rows(session, orphans.order_by(exp.column("n").desc()))
        r.failing_rows = sum(b["n"] for b in bad)
        if bad:
            r.sample = bad[:SAMPLE_ROWS]
            _fail(
                r,
                f"{r.failing_rows:,} rows ({len(bad):,} values of {spec.column}) "
                f"have no match in {spec.to}.{spec.field}",
            )
        else:
            r.message = _nothing_found(spec)

    elif isinstance(spec, RowCount):
        n = screened if screened is not None else _scalar(session, exp.select(count).from_(src))
        r.observed = float(n)
        low = spec.min is not None and n < spec.min
        high = spec.max is not None and n > spec.max
        low_text = "" if spec.min is None else f"{spec.min:,}"
        high_text = "" if spec.max is None else f"{spec.max:,}"
        bounds = f"[{low_text}, {high_text}]"
        if low or high:
            _fail(r, f"{n:,} rows, outside {bounds}")
        else:
            r.message = f"{n:,} rows, within {bounds}"

    elif isinstance(spec, ExpressionIsTrue):
        bad_rows = exp.select(exp.Star()).from_(src).where(_not_true(spec))
        n = screened if screened is not None else _scalar(session, _count_query(table, spec, rows))
        r.failing_rows = n
        if n:
            r.sample = _rows(session, bad_rows.limit(SAMPLE_ROWS))
            _fail(r, f"{n:,} rows where ({spec.expression}) is not true")
        else:
            r.message = _nothing_found(spec)

    elif isinstance(spec, Freshness):
        newest = _scalar(
            session,
            exp.select(exp.cast(exp.func("max", _col(spec.column)), "TIMESTAMPTZ")).from_(src),
        )
        if newest is None:
            _fail(r, f"no value in {spec.column} (empty table?)")
            return
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - newest).total_seconds()
        r.observed = age
        if age > spec.max_age_seconds:
            _fail(
                r,
                f"newest {spec.column} is {newest.isoformat()}: {_age(age)} old, "
                f"over {spec.max_age}",
            )
        else:
            r.message = f"newest {spec.column} is {_age(age)} old (limit {spec.max_age})"

    elif isinstance(spec, Reconciliation):
        left = _scalar(session, exp.select(_cond(spec.expression)).from_(src))
        other = _source(spec.equals.table, spec.equals.where).subquery("o")
        right = _scalar(session, exp.select(_cond(spec.equals.expression)).from_(other))
        lf = float(left) if left is not None else 0.0
        rf = float(right) if right is not None else 0.0
        diff = abs(lf - rf)
        allowed = spec.tolerance * abs(rf) if spec.relative else spec.tolerance
        r.observed = lf - rf
        text = (
            f"{spec.expression} = {left} vs {spec.equals.table}: {spec.equals.expression} = {right}"
        )
        if left is None or right is None or diff > allowed + 1e-9:
            _fail(r, f"{text}; difference {lf - rf:.6g} over tolerance {allowed:.6g}")
        else:
            r.message = f"{text}; difference {lf - rf:.6g} within tolerance"

    elif isinstance(spec, Anomaly):
        if spec.metric == "rows_written":
            if rows_written is None:
                r.message = "rows_written is measured by runs, not by `medallion test`"
                return
            value = float(rows_written)
        elif spec.metric == "row_count":
            value = float(_scalar(session, exp.select(count).from_(src)))
        else:
            value = float(_scalar(session, exp.select(_cond(spec.metric)).from_(src)) or 0)
        r.observed = value
        past = history(table, spec.check_name, spec.window) if history else []
        if len(past) < spec.needed_history:
            r.message = (
                f"{spec.metric} = {value:,.6g}; not enough history yet "
                f"({len(past)} of {spec.needed_history} past runs)"
            )
            return
        mean = sum(past) / len(past)
        if spec.method == "relative":
            change = abs(value - mean) / abs(mean) if mean else (0.0 if value == 0 else math.inf)
            text = (
                f"{spec.metric} = {value:,.6g} vs mean {mean:,.6g} of {len(past)} past run(s): "
                f"{change:.0%} change"
            )
            if change >= spec.limit:
                _fail(r, f"{text}, over {spec.limit:.0%}")
            else:
                r.message = f"{text}, within {spec.limit:.0%}"
        else:
            var = sum((x - mean) ** 2 for x in past) / (len(past) - 1) if len(past) > 1 else 0.0
            std = math.sqrt(var)
            z = (value - mean) / std if std else (0.0 if value == mean else math.inf)
            text = f"{spec.metric} = {value:,.6g}, z-score {z:.2f} against {len(past)} past run(s)"
            if abs(z) > spec.limit:
                _fail(r, f"{text}, over {spec.limit}")
            else:
                r.message = f"{text}, within {spec.limit}"


def run_singular(session: Session, check: SingularCheck) -> CheckResult:
    """A singular check: its rows are failures."""
    import sqlglot

    result = CheckResult(check.name, "singular", ",".join(check.tables), check.severity, "pass")
    try:
        tree = sqlglot.parse_one(check.sql, dialect="duckdb")
        import sqlglot.expressions as exp

        n = _scalar(session, exp.select(exp.Count(this=exp.Star())).from_(tree.subquery("s")))
        result.failing_rows = n
        if n:
            result.sample = _jsonable(_rows(session, tree.limit(SAMPLE_ROWS)))  # type: ignore[attr-defined]
            result.status = "fail" if check.severity == "error" else "warn"
            result.message = f"{n:,} failing rows"
        else:
            result.message = "no failing rows"
    except Exception as e:
        from medallion.errors import first_line

        result.status = "error"
        result.message = f"could not run: {first_line(e)}"
    return result


def _nothing_found(spec: CheckSpec) -> str:
    """The message of a check that counts failing rows and found none."""
    if isinstance(spec, NotNull):
        return "no NULLs"
    if isinstance(spec, Unique):
        return "all unique"
    if isinstance(spec, AcceptedValues):
        return "all values accepted"
    if isinstance(spec, Relationships):
        return f"every {spec.column} exists in {spec.to}.{spec.field}"
    return "true on every row"  # ExpressionIsTrue


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"
