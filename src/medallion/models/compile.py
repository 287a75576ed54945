"""`medallion compile --dialect D`: every SQL model's SELECT, transpiled with SQLGlot for another
engine (Spark/Databricks, Snowflake, BigQuery, PostgreSQL), written to
`target/compiled/<dialect>/<layer>/<name>.sql` with a `manifest.json` (kinds, keys, order, what
each model needs created first) and, where needed, `medallion_functions.sql`.

SQLGlot translates most DuckDB SQL, but where it has no translation it often emits the DuckDB
spelling unchanged (`COLUMNS(...)`, a struct literal, `GROUP BY ALL`), which is wrong SQL for the
target, and some of its translations return other rows than DuckDB (MAX_BY for arg_max, 0-based
POSEXPLODE for WITH ORDINALITY, ...). So:

- the model's tree is first rewritten where DuckDB's meaning needs other words on the target
  (`models/dialects.py`, each rewrite with its reason);
- SQLGlot's own "unsupported" messages are collected, each with the node it came from;
- every function is checked: one SQLGlot renders with a rule of the target dialect is trusted;
  one it would print under its generic name must be on the target's list below (functions known
  to exist there with DuckDB's meaning), and one SQLGlot does not know at all is refused;
- DuckDB-only syntax and types are refused per dialect (`_syntax_problems`): `SELECT *`
  modifiers the target lacks, `x[...]` on a value not known to be a list (DuckDB indexes text
  by character), ...;
- the output is parsed back with the target dialect.

Every refusal of every model is reported at once, each with its file, line and construct, and
nothing is written (the output folder is replaced only when every model compiled). What is not
checked: column references (a lateral column alias — `select 1 as x, x + 1 as y` — is emitted as
written, which PostgreSQL and BigQuery reject), and types the model does not write (the rewrites
see casts, not the columns' types). Incremental kinds compile to their full SELECT (as dbt's
compiled SQL with `is_incremental()` false); the manifest says how each table is materialized.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import CompileError, ModelError

if TYPE_CHECKING:
    import sqlglot.expressions as exp

    from medallion.models.loader import Model

DIALECTS = ("spark", "databricks", "snowflake", "bigquery", "postgres")
#: functions the compiled models call that the target lacks (see dialects.SETUP), written
#: beside them: run once in the database before the models
SETUP_FILE = "medallion_functions.sql"

#: functions SQLGlot prints under their generic name that exist, with DuckDB's meaning, in every
#: target dialect
_COMMON = """
    ABS AVG CEIL COALESCE CONCAT CORR COUNT COVAR_POP COVAR_SAMP CUME_DIST CURRENT_DATE
    CURRENT_TIMESTAMP DENSE_RANK EXP FIRST_VALUE FLOOR GREATEST LAG LAST_VALUE LEAD LEAST LEFT
    LENGTH LN LOWER LPAD LTRIM MAX MIN MOD NTH_VALUE NTILE NULLIF PERCENT_RANK POWER RANK REPLACE
    REVERSE RIGHT ROUND ROW_NUMBER RPAD RTRIM SIGN SQRT STDDEV STDDEV_POP STDDEV_SAMP SUBSTRING SUM
    TRIM UPPER VARIANCE VAR_POP VAR_SAMP
"""
#: ... and those that exist in some of them only
_EXTRA = {
    "postgres": "ARRAY_AGG BOOL_AND BOOL_OR DATE_TRUNC INITCAP MD5 PERCENTILE_CONT PERCENTILE_DISC "
    "SPLIT_PART STRING_AGG TO_CHAR",
    # MEDIAN interpolates an even count as DuckDB's does (a DOUBLE, where DuckDB keeps a
    # DECIMAL); TRANSFORM is list_transform; LISTAGG string_agg (NULLs skipped, ',' default)
    "spark": "BOOL_AND BOOL_OR COUNT_IF HOUR INITCAP LISTAGG LOCATE MAX_BY MD5 MEDIAN MIN_BY "
    "MINUTE PERCENTILE_CONT PERCENTILE_DISC POSEXPLODE REGEXP_LIKE SECOND SPLIT_PART TRANSFORM "
    "ARRAY",
    "snowflake": "ARRAY_AGG BOOLAND_AGG BOOLOR_AGG COUNT_IF DATE_TRUNC HOUR INITCAP MAX_BY MD5 "
    "MIN_BY MINUTE PERCENTILE_CONT PERCENTILE_DISC REGEXP_INSTR SECOND SPLIT SPLIT_PART",
    "bigquery": "ARRAY_AGG COUNTIF INITCAP LOGICAL_AND LOGICAL_OR MD5 SPLIT TIMESTAMP_TRUNC",
}
COMMON_FUNCTIONS = frozenset(_COMMON.split())
DIALECT_FUNCTIONS = {dialect: frozenset(names.split()) for dialect, names in _EXTRA.items()}
DIALECT_FUNCTIONS["databricks"] = DIALECT_FUNCTIONS["spark"]


@dataclass
class CompiledModel:
    model: str
    path: Path | None  # None: skipped
    note: str = ""


@dataclass
class CompileResult:
    dialect: str
    output: Path
    models: list[CompiledModel] = field(default_factory=list)
    #: functions the models call that the target lacks: to run once in the database first
    setup: Path | None = None


def _syntax_problems(tree: exp.Expression, dialect: str) -> list[tuple[exp.Expression, str]]:
    """DuckDB-only syntax and types SQLGlot would pass through unchanged for `dialect`."""
    import sqlglot.expressions as exp

    problems: list[tuple[exp.Expression, str]] = []
    pg = dialect == "postgres"
    star_ok = _STAR_MODIFIERS[dialect]
    for node in tree.walk():
        if isinstance(node, exp.Columns):
            problems.append((node, "COLUMNS(...) (DuckDB only)"))
        elif isinstance(node, exp.Star) and any(
            node.args.get(k) and k not in star_ok for k in _STAR_SPELLING
        ):
            used = next(k for k in _STAR_SPELLING if node.args.get(k) and k not in star_ok)
            problems.append((node, f"SELECT * {_STAR_SPELLING[used]} (no {dialect} equivalent)"))
        elif isinstance(node, exp.Bracket) and not _indexes_a_list(node.this):
            problems.append(
                (
                    node,
                    "a subscript x[...] on a value that is not known to be a list (DuckDB "
                    "indexes text by character, other engines do not): use substring() for "
                    "text",
                )
            )
        elif (
            isinstance(node, exp.RegexpLike)
            and dialect == "snowflake"
            and node.args.get("flag") is not None
        ):
            problems.append((node, "regexp_matches() with options (use an inline flag)"))
        elif isinstance(node, exp.Struct) and pg:
            problems.append((node, "a struct value (PostgreSQL has no named structs)"))
        elif isinstance(node, exp.Lambda) and dialect in ("postgres", "bigquery"):
            problems.append((node, f"a lambda function (no {dialect} equivalent)"))
        elif isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() in (
            "ASOF",
            "POSITIONAL",
        ):
            problems.append((node, f"{str(node.args['method']).upper()} JOIN (DuckDB only)"))
        elif isinstance(node, exp.Group) and node.args.get("all") and pg:
            problems.append((node, "GROUP BY ALL (list the columns for PostgreSQL)"))
        elif (
            isinstance(node, exp.Ordered)
            and isinstance(node.this, exp.Var)
            and node.this.name.upper() == "ALL"
        ):
            problems.append((node, "ORDER BY ALL (DuckDB only)"))
        elif isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries) and not pg:
            # SQLGlot writes EXPLODE(SEQUENCE(...), _u(g)) / numeric-only ranges: not SQL there
            problems.append(
                (
                    node,
                    f"generate_series()/range() as a table (no {dialect} translation): build "
                    "the rows from a small table (e.g. digits cross joined)",
                )
            )
        elif isinstance(node, exp.DataType) and node.this in _unsigned_or_huge():
            problems.append((node, f"type {node.this.name} (no equivalent outside DuckDB)"))
    return problems


#: the `SELECT *` modifiers, as DuckDB spells them, by SQLGlot argument ...
_STAR_SPELLING = {"except_": "EXCLUDE", "replace": "REPLACE", "rename": "RENAME", "ilike": "ILIKE"}
#: ... and those each target has (Spark has none of them; Databricks has EXCEPT)
_STAR_MODIFIERS: dict[str, frozenset[str]] = {
    "postgres": frozenset(),
    "spark": frozenset(),
    "databricks": frozenset({"except_"}),
    "bigquery": frozenset({"except_", "replace"}),
    "snowflake": frozenset({"except_", "replace", "rename", "ilike"}),
}


def _indexes_a_list(value: exp.Expression) -> bool:
    """Whether `value` is known to be a list (or map): a function that makes one, or a value
    SQLGlot typed so. A column's type is not known when compiling."""
    import sqlglot.expressions as exp

    makes_list = (exp.Array, exp.ArrayAgg, exp.Split, exp.RegexpSplit, exp.Map, exp.VarMap)
    return isinstance(value, makes_list) or bool(
        value.type and value.type.is_type(exp.DataType.Type.ARRAY, exp.DataType.Type.MAP)
    )


@cache
def _unsigned_or_huge() -> frozenset[Any]:
    import sqlglot.expressions as exp

    names = "UTINYINT USMALLINT UMEDIUMINT UINT UBIGINT UINT128 UINT256 INT128 INT256 UDECIMAL"
    t = exp.DataType.Type
    return frozenset(getattr(t, n) for n in f"{names} UDOUBLE UNION".split() if hasattr(t, n))


def _generator(dialect: str) -> Any:
    """The target dialect's SQLGlot generator, recording the functions it prints under their
    generic name (no rule of the dialect) and those SQLGlot does not know at all."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ErrorLevel

    from medallion.models.dialects import trusted

    target = Dialect.get_or_raise(dialect)
    base = target.generator_class

    class Checking(base):  # type: ignore[misc, valid-type]
        def function_fallback_sql(self, expression: Any) -> str:
            if not trusted(expression):
                self.generic.append((self.function_name(expression), expression))
            return super().function_fallback_sql(expression)

        def anonymous_sql(self, expression: Any) -> str:
            if not trusted(expression):  # a function the rewrites wrote is known to exist
                self.unknown.append((expression.name, expression))
            return super().anonymous_sql(expression)

        def sql(self, expression: Any, key: str | None = None, comment: bool = True) -> str:
            # the node being generated, for the line of what SQLGlot finds unsupported in it
            if key or not hasattr(expression, "walk"):
                return super().sql(expression, key, comment)
            self.stack.append(expression)
            try:
                return super().sql(expression, key, comment)
            finally:
                self.stack.pop()

        def unsupported(self, message: str) -> None:
            self.problems.append((message, self.stack[-1] if self.stack else None))

    # every problem is collected (unsupported() above), none raised: all are reported at once
    gen = Checking(dialect=target, unsupported_level=ErrorLevel.IGNORE, pretty=True, comments=False)
    gen.generic, gen.unknown, gen.problems, gen.stack = [], [], [], []
    return gen


def _line(node: Any, text: str) -> int | None:
    """The line of a node in the model file: where SQLGlot recorded one (on tokens such as
    identifiers), else where the node's DuckDB spelling first appears in the text, else that of
    the enclosing expression."""
    import re

    for n in node.walk():
        line = n.meta.get("line") if hasattr(n, "meta") else None
        if line:
            return int(line)
    words = node.sql(dialect="duckdb").split()
    found = re.search(r"\s+".join(map(re.escape, words)), text, re.IGNORECASE) if words else None
    if found:
        return text.count("\n", 0, found.start()) + 1
    return _line(node.parent, text) if node.parent is not None else None


@cache
def _duckdb_functions() -> frozenset[str]:
    """Every function DuckDB has (lower-case), from its catalog: a name not in it is misspelt,
    not merely missing on the target."""
    from medallion.models.sql import _parser_connection

    found = _parser_connection().execute(
        "select distinct lower(function_name) from duckdb_functions()"
    )
    return frozenset(row[0] for row in found.fetchall())


@cache
def _duckdb_names() -> dict[type, frozenset[str]]:
    """The names DuckDB's SQL spells each SQLGlot function class with (upper-case)."""
    from sqlglot.dialects.dialect import Dialect

    names: dict[type, set[str]] = {}
    for name, builder in Dialect.get_or_raise("duckdb").parser_class.FUNCTIONS.items():
        cls = getattr(builder, "__self__", None)
        if isinstance(cls, type):
            names.setdefault(cls, set()).add(name.upper())
    return {cls: frozenset(n) for cls, n in names.items()}


def _written_name(node: Any, text: str) -> str:
    """The name the model's author called a function by (`string_agg`, not SQLGlot's
    GROUP_CONCAT): one of the names DuckDB knows the node's function by, called on its line."""
    import re

    from sqlglot.dialects.dialect import Dialect

    line = _line(node, text)
    lines = text.splitlines()
    here = lines[line - 1] if line and line <= len(lines) else text
    called = re.findall(r"([A-Za-z_]\w*)\s*\(", here)
    known = _duckdb_names().get(type(node), frozenset()) | {n.upper() for n in node.sql_names()}
    special = Dialect.get_or_raise("duckdb").parser_class.FUNCTION_PARSERS
    for word in called:
        if word.upper() in known:
            return word
    for word in called:  # parsed by a rule of its own (string_agg, position(a IN b))
        if word.upper() in special:
            return word
    return node.sql_name().lower()


def compile_model(model: Model, dialect: str) -> str:
    """The model's SELECT in `dialect`; raises CompileError listing every construct that cannot
    be expressed (its `refusals`: one ModelError each, with the line)."""
    sql, refusals, _ = _translate(model, dialect)
    if refusals:
        raise _refused(dialect, refusals, f"{model.fqn} cannot be compiled for {dialect}")
    return sql


def _translate(model: Model, dialect: str) -> tuple[str, list[ModelError], set[str]]:
    """The model's SELECT in `dialect`, what in it cannot be expressed there (all of it, in
    the order of the file), and what it needs created in the target database (SETUP)."""
    import sqlglot
    import sqlglot.expressions as exp
    from sqlglot.errors import ParseError

    from medallion.models.dialects import rewrite

    assert model.tree is not None
    found: list[tuple[str, Any]] = [(w, n) for n, w in _syntax_problems(model.tree, dialect)]
    gen = _generator(dialect)
    tree, problems, needs = rewrite(model.tree, dialect)
    found += [(what, node) for node, what in problems]
    said = {id(node) for node, _ in problems}  # a construct a rewrite refused: said once
    sql = gen.generate(tree, copy=False)  # our copy: its nodes are those the rewrites saw
    found += [(message.strip().splitlines()[0], node) for message, node in gen.problems]
    allowed = COMMON_FUNCTIONS | DIALECT_FUNCTIONS.get(dialect, frozenset())
    unknown: set[str] = set()  # refusals of a function no dialect knows (a typo?)
    for name, n in gen.unknown:
        if id(n) in said or name.upper() in allowed:
            continue  # a known function SQLGlot writes under the target's own name
        if isinstance(n, exp.Anonymous) and n.name.lower() not in _duckdb_functions():
            what = f"no function {n.name}() in DuckDB (nor in {dialect}): check its spelling"
            unknown.add(what)
        elif isinstance(n, exp.Anonymous):
            what = f"{n.name}() has no {dialect} equivalent medallion knows of"
        else:
            what = f"{_written_name(n, model.text)}() has no {dialect} equivalent"
        found.append((what, n))
    found += [
        (f"{_written_name(node, model.text)}() has no {dialect} equivalent SQLGlot knows of", node)
        for name, node in gen.generic
        if name.upper() not in allowed and id(node) not in said
    ]
    refusals: dict[tuple[str, int | None], ModelError] = {}
    for what, node in found:
        line = _line(node, model.text) if node is not None else None
        error = refusals.setdefault(
            (what, line), ModelError(what, file=model.path, line=line, model=model.fqn)
        )
        error.unknown_function = what in unknown  # type: ignore[attr-defined]
    if not refusals:
        try:
            sqlglot.parse_one(sql, dialect=dialect)
        except ParseError as e:  # our output does not even parse as the target's SQL
            what = f"the translation does not parse as {dialect} SQL: {e}"
            refusals[(what, None)] = ModelError(what, file=model.path, model=model.fqn)
    ordered = sorted(refusals.values(), key=lambda e: e.line or 0)
    return sql, ordered, needs


def _refused(dialect: str, refusals: list[ModelError], headline: str) -> CompileError:
    """One error listing every refusal as `file:line: construct`, and what to do once."""
    error = CompileError(
        headline
        + ":\n"
        + "\n".join(f"  {e.location}: {e.message}" if e.location else f"  {e}" for e in refusals),
        hint="rewrite each construct in portable SQL (medallion refuses to emit SQL the "
        f"{dialect} engine would reject or read differently)",
    )
    error.refusals = refusals  # type: ignore[attr-defined]
    return error


def compile_models(
    models: dict[str, Model], order: list[str], dialect: str, output: Path, root: Path
) -> CompileResult:
    """Compile every SQL model; on success replace `output` with the new files in one move."""
    if dialect not in DIALECTS:
        from medallion.errors import SelectionError, suggest

        guess = suggest(dialect, DIALECTS)
        raise SelectionError(
            f"unknown dialect {dialect!r}",
            hint=(f"did you mean {guess!r}? " if guess else "")
            + "dialects: "
            + ", ".join(DIALECTS),
        )
    result = CompileResult(dialect, output)
    errors: list[ModelError] = []
    refused: set[str] = set()
    files: dict[Path, str] = {}
    manifest: list[dict[str, Any]] = []
    setup: set[str] = set()  # what the models need created in the target database first
    for fqn in order:
        model = models.get(fqn)
        if model is None:
            continue  # a source
        rel = Path(model.layer) / f"{model.name}.sql"
        if model.language != "sql":
            result.models.append(CompiledModel(fqn, None, "Python model: not compiled"))
            continue
        sql, refusals, needs = _translate(model, dialect)
        if refusals:
            errors += refusals
            refused.add(fqn)
            continue
        cfg = model.config
        source = model.path.relative_to(root) if model.path.is_relative_to(root) else model.path
        header = (
            f"-- {fqn}: compiled by medallion from {source.as_posix()} for {dialect}\n"
            f"-- kind: {cfg.kind}"
            + (f", unique_key: {', '.join(cfg.unique_key)}" if cfg.unique_key else "")
            + " (the full SELECT; see manifest.json)\n"
            + (f"-- needs {SETUP_FILE} run once in the database first\n" if needs else "")
        )
        setup |= needs
        files[rel] = header + sql + ";\n"
        manifest.append(
            {
                "model": fqn,
                "file": rel.as_posix(),
                "kind": cfg.kind,
                "unique_key": list(cfg.unique_key or []),
                "depends_on": list(model.depends_on),
                "needs": sorted(needs),
            }
        )
        result.models.append(CompiledModel(fqn, output / rel))
    if errors:
        raise _refused(
            dialect,
            errors,
            f"{len(refused)} model(s) cannot be compiled for {dialect} ({len(errors)} "
            "construct(s)); nothing was written",
        )
    if setup:
        from medallion.models.dialects import SETUP

        files[Path(SETUP_FILE)] = "\n".join(SETUP[(dialect, name)] for name in sorted(setup))
        result.setup = output / SETUP_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        for rel, text in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text, encoding="utf-8")
        (staging / "manifest.json").write_text(
            json.dumps(
                {
                    "dialect": dialect,
                    "setup": [SETUP_FILE] if setup else [],
                    "models": manifest,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
