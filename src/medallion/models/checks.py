"""Where a project's checks come from, validated at load time (`load_checks`).

- `checks:` in a model header or under a source in medallion.yml;
- `checks.yml` at the project root: `<layer>.<table>: [checks...]`, for tables whose file you
  would rather not touch, or cross-table rules kept in one place;
- singular checks: `checks/<name>.sql`, each a SELECT whose rows are failures, with an optional
  header (`severity: warn`, `description:`).

The SQL inside checks (where, expression, metric, ...) is parsed here, so a typo is a load-time
error naming the check; tables referenced by checks (relationships, reconciliation) must exist,
and the run orders them before the checked table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from medallion.config.checks import (
    Anomaly,
    CheckItem,
    CheckSpec,
    Expectation,
    ExpressionIsTrue,
    Reconciliation,
    Relationships,
    Severity,
)
from medallion.errors import ConfigError, ModelError, suggest

if TYPE_CHECKING:
    from collections.abc import Mapping

    import sqlglot.expressions as exp

    from medallion.config import ProjectConfig
    from medallion.models.loader import Model

CHECKS_FILE = "checks.yml"
CHECKS_DIR = "checks"


@dataclass
class SingularCheck:
    """A `checks/<name>.sql` file: a SELECT whose returned rows are the failures."""

    name: str
    path: Path
    sql: str
    tables: list[str]
    severity: str = "error"
    description: str | None = None


@dataclass
class ProjectChecks:
    #: <layer>.<table> -> its checks, in declaration order
    tables: dict[str, list[CheckSpec]] = field(default_factory=dict)
    singular: list[SingularCheck] = field(default_factory=list)
    #: where each check was declared: (table, check name) -> file (for error messages)
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)

    def refs(self, table: str) -> list[str]:
        """Other tables the checks of `table` read (they are ordered before it)."""
        out: list[str] = []
        for spec in self.tables.get(table, []):
            for ref in check_refs(spec):
                if ref != table and ref not in out:
                    out.append(ref)
        return out

    def blocking_refs(self, table: str) -> list[str]:
        """The tables of `refs` that an error-severity check of `table` reads: when one of them
        fails or is skipped, that check cannot pass, so `table` is skipped too. A table read
        only by warn checks does not stop `table` (a warning never blocks a model, as in dbt)."""
        out: list[str] = []
        for spec in self.tables.get(table, []):
            if spec.severity == "warn":
                continue
            for ref in check_refs(spec):
                if ref != table and ref not in out:
                    out.append(ref)
        return out


def check_refs(spec: CheckSpec) -> list[str]:
    if isinstance(spec, Relationships):
        return [spec.to]
    if isinstance(spec, Reconciliation):
        return [spec.equals.table]
    return []


class _SingularHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Severity = "error"
    description: str | None = None


def load_checks(root: Path, config: ProjectConfig, models: Mapping[str, Model]) -> ProjectChecks:
    """Every table's checks (from model headers, sources in medallion.yml and checks.yml) and
    the singular checks, validated: names, SQL, the tables they read."""
    from medallion.config.loader import PROJECT_FILE

    out = ProjectChecks()
    layer = config.landing_layer
    sources = {f"{layer}.{name}" for name in config.sources}
    for name, source in config.sources.items():
        fqn = f"{layer}.{name}"
        out.tables[fqn] = list(source.checks)
        out.origin.update({(fqn, c.check_name): root / PROJECT_FILE for c in source.checks})
    for fqn, model in models.items():
        out.tables.setdefault(fqn, []).extend(model.config.checks)
        out.origin.update({(fqn, c.check_name): model.path for c in model.config.checks})
    known = sources | set(models)
    _load_file(root, known, out)
    for table, specs in out.tables.items():
        seen: set[str] = set()
        for spec in specs:
            where = out.origin.get((table, spec.check_name))
            if spec.check_name in seen:
                raise ModelError(
                    f"two checks of {table} are named {spec.check_name!r}",
                    file=where,
                    hint="give one of them a `name:`",
                )
            seen.add(spec.check_name)
            _validate_sql(spec, table, where)
            for ref in check_refs(spec):
                if ref not in known:
                    guess = suggest(ref, sorted(known))
                    raise ModelError(
                        f"check {spec.check_name!r} of {table} reads unknown table {ref}",
                        file=where,
                        line=_line_of(where, ref),
                        hint=f"did you mean {guess}?" if guess else None,
                    )
    out.singular = _load_singular(root, config.layers, known)
    return out


def _load_file(root: Path, known: set[str], out: ProjectChecks) -> None:
    from medallion.config.loader import read_yaml, validation_error

    path = root / CHECKS_FILE
    if not path.exists():
        return
    data, node = read_yaml(path, what=CHECKS_FILE)
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(
            f"{CHECKS_FILE} maps tables to lists of checks",
            file=path,
            line=1,
            hint="silver.orders:\n  - unique: order_id",
        )
    adapter = TypeAdapter(list[CheckItem])
    for table, items in data.items():
        if table not in known:
            guess = suggest(str(table), sorted(known))
            from medallion.config.loader import node_line

            raise ConfigError(
                f"unknown table {table!r}",
                file=path,
                line=node_line(node, (table,), key=True),
                hint=f"did you mean {guess}?" if guess else "keys are <layer>.<table>",
            )
        try:
            specs = adapter.validate_python(items or [])
        except ValidationError as e:
            raise validation_error(
                e, list[CheckItem], file=path, node=node, prefix=(table,)
            ) from None
        out.tables.setdefault(table, []).extend(specs)
        out.origin.update({(table, c.check_name): path for c in specs})


def _line_of(path: Path | None, text: str) -> int | None:
    """The first line of `path` mentioning `text` (to point at a bad reference)."""
    if path is None or not path.is_file():
        return None
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if text in line:
            return n
    return None


def _validate_sql(spec: CheckSpec, table: str, where: Path | None) -> None:
    import sqlglot

    from medallion.models.sql import expression_syntax_error

    texts: list[tuple[str, str]] = []
    if spec.where:
        texts.append(("where", spec.where))
    if isinstance(spec, ExpressionIsTrue):
        texts.append(("expression", spec.expression))
    if isinstance(spec, Reconciliation):
        texts.append(("expression", spec.expression))
        texts.append(("equals.expression", spec.equals.expression))
        if spec.equals.where:
            texts.append(("equals.where", spec.equals.where))
    if isinstance(spec, Anomaly) and spec.metric not in ("row_count", "rows_written"):
        texts.append(("metric", spec.metric))
    for key, text in texts:
        bad = expression_syntax_error(text)
        problem = bad[0] if bad else None
        if problem is None:
            try:
                sqlglot.parse_one(text, dialect="duckdb")
            except sqlglot.errors.ParseError as e:
                problem = str(e).splitlines()[0]
        if problem:
            raise ModelError(
                f"check {spec.check_name!r} of {table}: {key} is not a valid SQL expression: "
                f"{problem}",
                file=where,
                key=key,
            )


def _load_singular(root: Path, layers: list[str], known: set[str]) -> list[SingularCheck]:
    from medallion.config.schema import check_name
    from medallion.models.header import split_sql_header
    from medallion.models.jinja import jinja_error
    from medallion.models.sql import parse_select, resolve_refs

    folder = root / CHECKS_DIR
    if not folder.is_dir():
        return []
    found: list[SingularCheck] = []
    for path in sorted(folder.rglob("*.sql")):
        name = path.stem
        try:
            check_name(name, "check name")
        except ValueError as e:
            raise ModelError(str(e), file=path, hint="rename the file") from None
        text = path.read_text(encoding="utf-8-sig")
        body, start = split_sql_header(text, path)
        header = _singular_header(body, start, path)
        try:
            tree = parse_select(text, error=ModelError, file=path)
        except ModelError as e:
            raise jinja_error(text, known, file=path) or e from None
        tables = resolve_refs(
            tree,
            sql=text,
            layers=layers,
            known=known,
            error=ModelError,
            file=path,
        )
        found.append(SingularCheck(name, path, text, tables, header.severity, header.description))
    return found


def _singular_header(body: str | None, start: int, path: Path) -> _SingularHeader:
    from medallion.config.loader import parse_yaml, validation_error

    if not body or not body.strip():
        return _SingularHeader()
    data, node = parse_yaml(body, path, line_offset=start)
    try:
        return _SingularHeader.model_validate(data or {})
    except ValidationError as e:
        err = validation_error(e, _SingularHeader, file=path, node=node, line_offset=start)
        raise ModelError(err.message, file=path, line=err.line, hint=err.hint) from None


def describe(spec: CheckSpec) -> dict[str, Any]:
    return spec.model_dump(exclude_none=True)


# -- expectations ------------------------------------------------------------------------


def parse_predicate(expect: str, *, model: str, name: str, file: Path | None) -> exp.Expression:
    """The predicate as a SQLGlot tree; a ModelError naming the model and expectation if it is
    not one valid SQL expression (checked by DuckDB's parser and SQLGlot's). Parsed once per
    process: loading the project checks it, the run wraps the model with it."""
    if expect in _PARSED:
        return _PARSED[expect]
    import sqlglot
    import sqlglot.expressions as exp

    from medallion.models.sql import expression_syntax_error

    where = f"expectation {name!r} of {model}"
    bad = expression_syntax_error(expect)
    if bad is not None:
        why, pos = bad
        if pos is not None and pos >= len("SELECT (") + len(expect.rstrip()):
            # the parser stopped at the ")" closing the wrapper: the text ended too early
            why = f"{expect.strip()!r} ends before the expression is complete"
        raise ModelError(
            f"{where} is not a valid SQL expression: {why}",
            file=file,
            model=model,
            hint="an expectation is a boolean over the model's columns, e.g. quantity > 0",
        )
    try:
        tree = sqlglot.parse_one(expect, dialect="duckdb")
    except sqlglot.errors.ParseError as e:
        raise ModelError(f"{where} cannot be analysed: {e}", file=file, model=model) from None
    if isinstance(tree, exp.Query):
        raise ModelError(f"{where} must be an expression, not a query", file=file, model=model)
    _PARSED[expect] = tree  # shared: callers copy it before changing it
    return tree


_PARSED: dict[str, exp.Expression] = {}


def validate_expectations(
    expectations: dict[str, Expectation], *, model: str, file: Path | None
) -> None:
    """Every expectation's predicate parses (see parse_predicate); an error names the line of
    the expectation in the model's header."""
    for name, e in expectations.items():
        try:
            parse_predicate(e.expect, model=model, name=name, file=file)
        except ModelError as err:
            if file is None or err.line is not None:
                raise
            from medallion.models.header import header_line

            err.line = header_line(Path(file), ("expectations", name, "expect"))
            raise
