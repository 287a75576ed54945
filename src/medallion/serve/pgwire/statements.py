"""What a statement is, before anything runs it.

A query string is split into statements on the tokenizer's semicolons (never inside quotes or
comments). Each is then one of: transaction control and session commands (answered by the
session itself), a write (refused: the endpoint is read-only), a catalog probe (answered by the
session's catalog database), or a query of the lakehouse (run by the Backend). Parameters of the
extended protocol are bound into the SQLGlot tree as literals before a query runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from medallion.serve.pgwire.protocol import PgError

#: first keyword -> command tag of statements the session answers itself
SESSION_COMMANDS = {
    "BEGIN": "BEGIN",
    "START": "START TRANSACTION",
    "COMMIT": "COMMIT",
    "END": "COMMIT",
    "ROLLBACK": "ROLLBACK",
    "ABORT": "ROLLBACK",
    "SAVEPOINT": "SAVEPOINT",
    "RELEASE": "RELEASE",
    "SET": "SET",
    "RESET": "RESET",
    "SHOW": "SHOW",
    "DISCARD": "DISCARD ALL",
    "LISTEN": "LISTEN",
    "UNLISTEN": "UNLISTEN",
    "CLOSE": "CLOSE CURSOR",
}

#: first keywords of statements that change something: refused with 25006
WRITES = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "CREATE", "DROP", "ALTER", "TRUNCATE",
    "COPY", "GRANT", "REVOKE", "VACUUM", "ANALYZE", "ATTACH", "DETACH", "INSTALL", "LOAD",
    "PRAGMA", "CHECKPOINT", "EXPORT", "IMPORT", "CALL", "COMMENT", "REINDEX", "CLUSTER",
    "REFRESH", "LOCK", "DO", "USE", "NOTIFY", "SECURITY", "REASSIGN",
}  # fmt: skip
#: COPY is a write but for COPY ... TO STDOUT (parse_copy), a read the session streams

#: schemas and names that make a statement a catalog probe
CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}


@dataclass
class Statement:
    text: str
    keyword: str  # the first keyword, upper-case ("" for an empty statement)


def split(sql: str) -> list[Statement]:
    """The statements of a query string, empty ones left out."""
    from sqlglot.tokens import Tokenizer, TokenType

    try:
        tokens = Tokenizer().tokenize(sql)
    except Exception:  # an unterminated quote: one statement, DuckDB says what is wrong
        text = sql.strip().rstrip(";").strip()
        return [Statement(text, _keyword(text))] if text else []
    out: list[Statement] = []
    start: int | None = None
    end = 0
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            if start is not None:
                text = sql[start : end + 1]
                out.append(Statement(text, _keyword(text)))
            start = None
            continue
        if start is None:
            start = tok.start
        end = tok.end
    if start is not None:
        text = sql[start : end + 1]
        out.append(Statement(text, _keyword(text)))
    return out


_KEYWORD = re.compile(r"\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/)|\s|\()*([A-Za-z_]+)", re.S)


def _keyword(text: str) -> str:
    m = _KEYWORD.match(text)
    return m.group(1).upper() if m else ""


def refuse_write(stmt: Statement) -> PgError:
    return PgError(
        "25006",
        f"cannot execute {stmt.keyword} in a read-only transaction",
        hint="the medallion SQL endpoint is read-only: tables change through `medallion run`",
    )


# -- SET / SHOW ------------------------------------------------------------------------------

_SET = re.compile(
    r"SET\s+(?:SESSION\s+|LOCAL\s+)?(?:(TIME\s+ZONE)\s+|([\w.\"]+)\s*(?:=|\s+TO\s+)\s*)(.*?)\s*;?\s*$",
    re.I | re.S,
)
_SHOW = re.compile(r"SHOW\s+(.+?)\s*;?\s*$", re.I | re.S)
_RESET = re.compile(r"RESET\s+(.+?)\s*;?\s*$", re.I | re.S)


def parse_set(text: str) -> tuple[str, str] | None:
    """(name, value) of a SET statement (value '' for DEFAULT); None when it is not one."""
    m = _SET.match(text.strip())
    if m is None:
        return None
    name = "timezone" if m.group(1) else m.group(2).strip('"').lower()
    value = m.group(3).strip()
    if value.upper() in ("DEFAULT", "LOCAL"):
        return name, ""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1].replace("''", "'")
    return name, value


#: DuckDB's own settings (duckdb_settings() of DuckDB 2.0) that PostgreSQL does not have:
#: SET and RESET never reach the engine, but a client that names one is trying to change the
#: engine (enable_external_access, allowed_directories, lock_configuration...), so it is refused
#: and audited rather than answered. tests/serve checks the list against the installed DuckDB.
_ENGINE_SETTINGS = """
    calendar access_mode active_grammar_extensions allocator_background_threads
    allocator_bulk_deallocation_flush_threshold allocator_flush_threshold
    allow_community_extensions allow_extension_repositories allow_extensions_metadata_mismatch
    allow_parser_override_extension allow_persistent_secrets allow_unredacted_secrets
    allow_unsigned_extensions allowed_configs allowed_directories allowed_paths
    approximate_join_order_threshold arrow_large_buffer_size arrow_lossless_conversion
    arrow_output_list_view arrow_output_version asof_loop_join_threshold async_threads
    auto_checkpoint_skip_wal_threshold autoinstall_extension_repository
    autoinstall_known_extensions autoload_known_extensions binary_as_string
    block_allocator_memory cache_local_files catalog_error_max_schemas checkpoint_on_detach
    checkpoint_threshold current_dialect current_transaction_invalidation_policy
    custom_extension_repository custom_user_agent debug_checkpoint_scan_sleep_ms
    default_block_size default_collation default_null_order default_order
    default_secret_storage default_transaction_invalidation_policy delim_join_as_cte
    dialect_compatibility_mode disable_database_invalidation disable_parquet_prefetching
    disable_timestamptz_casts disabled_compression_methods disabled_filesystems
    disabled_log_types disabled_optimizers duckdb_api dynamic_or_filter_threshold
    enable_external_access enable_external_file_cache enable_fsst_vectors
    enable_geoparquet_conversion enable_http_metadata_cache enable_logging
    enable_macro_dependencies enable_optimistic_write enable_optimizer enable_profiling
    enable_progress_bar enable_progress_bar_print enable_view_dependencies enabled_log_types
    error_on_division_by_zero errors_as_json experimental_metadata_reuse explain_output
    extension_directories extension_repository_directory
    external_file_cache_local_max_block_size external_file_cache_remote_max_block_size
    external_file_cache_remote_min_block_size external_file_cache_request_sizing
    external_file_cache_spill external_threads file_search_path force_column_metadata_reuse
    force_compression fsync_mode geometry_minimum_shredding_size home_directory
    http_client_pool_capacity http_proxy http_proxy_password http_proxy_username
    ieee_floating_point_ops ignore_unknown_crs immediate_transaction_mode index_scan_max_count
    index_scan_percentage initial_column_segment_size integer_division json_geometry_format
    late_materialization_max_rows legacy_disable_null_type lock_configuration log_query_path
    logging_level logging_mode logging_storage max_execution_time max_expression_depth
    max_memory max_streaming_buffer_size max_temp_directory_size max_vacuum_tasks memory_limit
    merge_join_threshold nested_loop_join_threshold null_order operator_memory_limit
    order_by_non_integer_literal ordered_aggregate_threshold pandas_analyze_sample
    parquet_metadata_cache parquet_prefetch_column_gap partitioned_write_flush_threshold
    partitioned_write_max_open_files password perfect_ht_threshold pin_threads
    pivot_filter_threshold pivot_limit prefer_range_joins prefetch_all_parquet_files
    preserve_identifier_case preserve_insertion_order profile_output profiling_coverage
    profiling_output profiling_renderer_settings progress_bar_time python_enable_replacements
    python_scan_all_frames read_ahead_depth redact_http_logs regex_match_operator_semantics
    scalar_subquery_error_on_multiple_rows scheduler_process_partial schema secret_directory
    show_behavior standard_vector_size storage_block_prefetch storage_compatibility_version
    streaming_buffer_size table_function_identifier_conversion temp_directory
    temp_file_encryption threads tracked_metrics user username validate_external_file_cache
    variant_minimum_shredding_size wal_autocheckpoint wal_autocheckpoint_entries
    warnings_as_errors worker_threads write_buffer_row_group_count
    write_buffer_row_group_memory_limit zstd_min_string_length
"""
ENGINE_SETTINGS = frozenset(_ENGINE_SETTINGS.split())
#: names PostgreSQL and DuckDB share: the session answers them as PostgreSQL does
PG_SETTINGS_DUCKDB_HAS = frozenset({"timezone", "search_path"})
_SET_ROLE = re.compile(
    r"SET\s+(?:SESSION\s+|LOCAL\s+)?(ROLE|SESSION\s+AUTHORIZATION)\s+(.+?)\s*;?\s*$",
    re.I | re.S,
)


def refuse_setting(text: str, keyword: str, user: str) -> PgError | None:
    """42501 for a SET or RESET that tries to change the engine (a DuckDB setting) or who the
    session is (SET ROLE / SET SESSION AUTHORIZATION to another user); None: answer it."""
    if keyword == "SET":
        role = _SET_ROLE.match(text.strip())
        if role is not None:
            target = role.group(2).strip().strip("'\"")
            if target.lower() not in ("none", "default", user.lower()):
                what = " ".join(role.group(1).upper().split())
                return PgError(
                    "42501",
                    f'permission denied to set {what.lower()} "{target}"',
                    hint="a session is the user who logged in: connect as the other user",
                )
            return None
        parsed = parse_set(text)
        name = parsed[0] if parsed else None
    elif keyword == "RESET":
        name = parse_reset(text)
    else:
        return None
    if name is None or name.lower() not in ENGINE_SETTINGS:
        return None
    return PgError(
        "42501",
        f"{name} is a setting of medallion's engine, not the client's to change",
        hint="the endpoint's engine settings are fixed; SET takes PostgreSQL's client settings "
        "(application_name, DateStyle, TimeZone, extra_float_digits...)",
    )


_PG_TIME = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*")
_PG_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def pg_duration(value: str) -> float | None:
    """A PostgreSQL time setting (statement_timeout: '5000' in milliseconds, '5s', '1min') in
    seconds; None for 0 (no limit); ValueError when it is not one."""
    m = _PG_TIME.fullmatch(value.strip().strip("'").lower())
    if m is None:
        raise ValueError(value)
    seconds = float(m.group(1)) * _PG_TIME_UNITS[m.group(2) or "ms"]
    return seconds or None


def parse_show(text: str) -> str:
    m = _SHOW.match(text.strip())
    name = m.group(1) if m else ""
    return "timezone" if re.fullmatch(r"time\s+zone", name, re.I) else name.strip('"').lower()


_DECLARE = re.compile(
    r"DECLARE\s+(\"[^\"]+\"|\w+)\s+(.*?)\bCURSOR\s+(?:WITH(?:OUT)?\s+HOLD\s+)?FOR\s+(.*)",
    re.I | re.S,
)
_FETCH = re.compile(
    r"(?:FETCH|MOVE)\s+(?:(NEXT|FIRST|ALL|FORWARD\s+ALL|(?:FORWARD\s+)?\d+|FORWARD)\s+)?"
    r"(?:FROM\s+|IN\s+)?(\"[^\"]+\"|\w+)\s*;?\s*$",
    re.I | re.S,
)
_CLOSE = re.compile(r"CLOSE\s+(\"[^\"]+\"|\w+)\s*;?\s*$", re.I | re.S)


def parse_declare(text: str) -> tuple[str, bool, str] | None:
    """(cursor name, binary, query) of DECLARE name [BINARY] ... CURSOR FOR query."""
    m = _DECLARE.match(text.strip())
    if m is None:
        return None
    return _name(m.group(1)), "BINARY" in m.group(2).upper(), m.group(3)


def parse_fetch(text: str) -> tuple[int, str] | None:
    """(row count, 0 for all; cursor name) of FETCH / MOVE."""
    m = _FETCH.match(text.strip())
    if m is None:
        return None
    how = (m.group(1) or "NEXT").upper()
    digits = re.sub(r"\D", "", how)
    count = int(digits) if digits else 0 if "ALL" in how else 1
    return count, _name(m.group(2))


def parse_close(text: str) -> str:
    m = _CLOSE.match(text.strip())
    return _name(m.group(1)) if m else "all"


def _name(ident: str) -> str:
    return ident[1:-1] if ident.startswith('"') else ident.lower()


def parse_reset(text: str) -> str:
    m = _RESET.match(text.strip())
    return m.group(1).strip('"').lower() if m else "all"


# -- COPY TO STDOUT, PREPARE / EXECUTE / DEALLOCATE ------------------------------------------


@dataclass
class CopyOut:
    query: str  # the statement whose rows are copied (as the client wrote it)
    csv: bool = False
    header: bool = False
    delimiter: str = ""  # a tab in text format, a comma in csv
    null: str | None = None  # \N in text format, an empty field in csv


def parse_copy(text: str) -> CopyOut | None:
    """`COPY (query) TO STDOUT` or `COPY table [(columns)] TO STDOUT`, with the options FORMAT
    text|csv, HEADER, DELIMITER, NULL (and the older `CSV HEADER`); None for any other COPY
    (from or to a file, FROM STDIN): a write, refused."""
    import sqlglot
    import sqlglot.expressions as exp
    from sqlglot.tokens import Tokenizer, TokenType

    # SQLGlot wants the WITH that PostgreSQL makes optional before the options' parentheses
    written = re.sub(r"(\bTO\s+STDOUT\s*)\(", r"\1WITH (", text, flags=re.I)
    try:
        tree = sqlglot.parse_one(written, read="postgres")
    except Exception:
        return None
    files = tree.args.get("files") or []
    if (
        not isinstance(tree, exp.Copy)
        or tree.args.get("kind")  # FROM
        or len(files) != 1
        or not isinstance(files[0], exp.Identifier)
        or files[0].quoted
        or files[0].name.upper() != "STDOUT"
    ):
        return None
    source = tree.this
    if isinstance(source, exp.Subquery):
        # the query as the client wrote it (what the audit records): between the parentheses
        tokens = Tokenizer().tokenize(text)
        opened = next(i for i, t in enumerate(tokens) if t.token_type == TokenType.L_PAREN)
        depth = 0
        for i in range(opened, len(tokens)):
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[i].token_type, 0)
            if depth == 0:
                break
        query = text[tokens[opened + 1].start : tokens[i - 1].end + 1]
    else:
        table = source.this if isinstance(source, exp.Schema) else source
        columns = source.expressions if isinstance(source, exp.Schema) else [exp.Star()]
        query = exp.select(*columns).from_(table.copy()).sql("postgres")
    out = CopyOut(query)
    for param in tree.args.get("params") or []:
        name = param.this.name.upper()
        value = param.expression
        word = value.name if value is not None else ""
        if name == "FORMAT" and word.upper() in ("TEXT", "CSV"):
            out.csv = word.upper() == "CSV"
        elif name == "CSV":  # WITH CSV [HEADER]
            out.csv = True
            out.header = word.upper() == "HEADER"
        elif name == "HEADER":
            out.header = word.upper() not in ("FALSE", "OFF", "0")
        elif name == "DELIMITER" and len(word) == 1:
            out.delimiter = word
        elif name == "NULL" and isinstance(value, exp.Literal):
            out.null = word
        else:
            said = param.sql("postgres")
            raise PgError(
                "0A000",
                f"COPY option {said} is not supported by the medallion endpoint",
                hint="COPY ... TO STDOUT takes FORMAT text or csv, HEADER, DELIMITER, NULL",
            )
    out.delimiter = out.delimiter or ("," if out.csv else "\t")
    # text format escapes with a backslash and a letter or digit (\n, \N, \012), csv quotes
    # with ": a delimiter among them could not be told apart (PostgreSQL refuses them too)
    if (
        out.delimiter in "\r\n\\"
        or (out.csv and out.delimiter == '"')
        or (not out.csv and out.delimiter in ".abcdefghijklmnopqrstuvwxyz0123456789")
    ):
        raise PgError(
            "22023",
            f"COPY delimiter cannot be {out.delimiter!r}",
            hint="pick another delimiter (a tab by default in text format, a comma in csv)",
        )
    if out.null is None:
        out.null = "" if out.csv else "\\N"
    return out


_PREPARE = re.compile(r"PREPARE\s+(\"[^\"]+\"|\w+)\s*(?:\((.*?)\))?\s*AS\s+(.*)", re.I | re.S)
_EXECUTE = re.compile(r"EXECUTE\s+(\"[^\"]+\"|\w+)\s*(?:\((.*)\))?\s*;?\s*$", re.I | re.S)
_DEALLOCATE = re.compile(r"DEALLOCATE\s+(?:PREPARE\s+)?(\"[^\"]+\"|\w+)\s*;?\s*$", re.I | re.S)

#: PostgreSQL's type names (as PREPARE's parameter types are written) -> their OIDs' names
_TYPE_ALIASES = {
    "integer": "int4", "int": "int4", "bigint": "int8", "smallint": "int2", "real": "float4",
    "double precision": "float8", "float": "float8", "boolean": "bool", "decimal": "numeric",
    "character varying": "varchar", "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz", "time without time zone": "time",
}  # fmt: skip


def parse_prepare(text: str) -> tuple[str, list[int], str] | None:
    """(name, parameter type OIDs, statement) of PREPARE name [(types)] AS statement."""
    from medallion.serve.pgwire import types

    m = _PREPARE.match(text.strip())
    if m is None:
        return None
    by_name = {name: oid for oid, (name, _) in types.TYPES.items()}
    oids = []
    for written in re.split(r",(?![^(]*\))", m.group(2) or ""):
        if not written.strip():
            continue
        name = re.sub(r"\(.*\)", "", written).strip().lower().removeprefix("pg_catalog.")
        oids.append(by_name.get(_TYPE_ALIASES.get(name, name), 0))
    return _name(m.group(1)), oids, m.group(3).strip().rstrip(";").strip()


def parse_execute(text: str) -> tuple[str, list[tuple[str | None, int]]] | None:
    """(name, arguments) of EXECUTE name [(arguments)]: each argument a constant's text (None
    for NULL) and the OID of its written type (0 when it has none). Only constants: an argument
    is a value, never a query of its own."""
    import sqlglot

    m = _EXECUTE.match(text.strip())
    if m is None:
        return None
    args: list[tuple[str | None, int]] = []
    if m.group(2) and m.group(2).strip():
        try:
            values = sqlglot.parse_one(f"SELECT {m.group(2)}", read="postgres").expressions
        except Exception as e:
            raise PgError("42601", f"syntax error in EXECUTE: {str(e).splitlines()[0]}") from None
        for value in values:
            args.append(_constant(value))
    return _name(m.group(1)), args


def _constant(value: Any) -> tuple[str | None, int]:
    import sqlglot.expressions as exp

    from medallion.serve.pgwire import types

    oid = 0
    if isinstance(value, exp.Cast):
        found = parse_prepare(f"PREPARE x({value.to.sql('postgres')}) AS x")
        oid = found[1][0] if found and found[1] else 0
        value = value.this
    if isinstance(value, exp.Null):
        return None, oid
    if isinstance(value, exp.Boolean):
        return ("true" if value.this else "false"), oid or types.BOOL
    negative = isinstance(value, exp.Neg)
    if negative:
        value = value.this
    if isinstance(value, exp.Literal) and not (value.is_string and negative):
        if value.is_string:
            return value.name, oid
        text = ("-" if negative else "") + value.name
        return text, oid or (types.INT8 if value.is_int else types.NUMERIC)
    raise PgError(
        "0A000",
        f"EXECUTE arguments must be constants, not {value.sql('postgres')[:60]}",
        hint="pass values ('x', 42, NULL, '2024-01-01'::date) to a prepared statement",
    )


def parse_deallocate(text: str) -> str:
    """The name DEALLOCATE [PREPARE] names ("all" for ALL)."""
    m = _DEALLOCATE.match(text.strip())
    if m is None:
        raise PgError("42601", "syntax error in DEALLOCATE: expected DEALLOCATE [PREPARE] name")
    return _name(m.group(1))


# -- routing ---------------------------------------------------------------------------------


#: set-returning functions a catalog probe may read FROM (psql's and the drivers' probes use
#: these); any other table function goes to the governed read path, which refuses it
_CATALOG_TABLE_FUNCTIONS = {"unnest", "generate_series", "generate_subscripts", "_pg_expandarray"}
#: DuckDB functions that read files, settings or variables: a statement calling one is not a
#: catalog probe, so it is refused (and audited) by the read policy rather than run here
_NOT_CATALOG_PREFIXES = ("duckdb_", "pragma_", "read_", "sqlite_", "parquet_", "json_")
_NOT_CATALOG_FUNCTIONS = {"current_setting", "set_config", "getvariable", "getenv", "glob"}


def is_catalog(text: str) -> bool:
    """Whether a statement reads only the catalog (or no table at all): a query over
    pg_catalog, information_schema, pg_* names, or nothing (`select version()`, `select 1`),
    calling no DuckDB function that reaches files, settings or variables."""
    import sqlglot
    import sqlglot.expressions as exp

    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except Exception:
        return False
    if not isinstance(tree, exp.Query):  # EXPLAIN, DESCRIBE, ...: the read policy judges them
        return False
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for t in tree.find_all(exp.Table):
        if not isinstance(t.this, exp.Identifier):
            fn = t.this
            if not isinstance(fn, exp.Func):  # `from $1`: the read policy refuses it, audited
                return False
            # a table function in FROM
            name = (fn.name if isinstance(fn, exp.Anonymous) else fn.sql_name()).lower()
            if fn.key in ("explode", "explodinggenerateseries", "generateseries"):
                continue
            if name.startswith("pg_") or name in _CATALOG_TABLE_FUNCTIONS:
                continue
            return False
        db = (t.db or "").lower()
        name = t.name.lower()
        if db in CATALOG_SCHEMAS or (not db and (name.startswith("pg_") or name in ctes)):
            continue
        return False
    for fn in tree.find_all(exp.Func):
        name = (fn.name if isinstance(fn, exp.Anonymous) else fn.sql_name()).lower()
        if name.startswith(_NOT_CATALOG_PREFIXES) or name in _NOT_CATALOG_FUNCTIONS:
            return False
    return True


@dataclass
class CancelCall:
    """`SELECT pg_cancel_backend(pid)`: the process id, None for NULL (a prepared statement
    described before its parameter is bound; the answer is NULL then, as the function is
    strict)."""

    pid: int | None


def cancel_call(text: str, own_pid: int) -> CancelCall | None:
    """The call of `SELECT pg_cancel_backend(pid)` (the whole statement; the pid a number, a
    number in quotes, NULL or pg_backend_pid(), the session's `own_pid`, cast or not), else
    None."""
    import sqlglot
    import sqlglot.expressions as exp

    if "pg_cancel_backend" not in text.lower():
        return None
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except Exception:
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("from_") or len(tree.expressions) != 1:
        return None
    call = tree.expressions[0].unalias()
    if isinstance(call, exp.Dot) and call.this.name.lower() == "pg_catalog":
        call = call.expression
    if not (isinstance(call, exp.Anonymous) and call.name.lower() == "pg_cancel_backend"):
        return None
    args = call.expressions
    if len(args) != 1:
        return None
    arg = args[0]
    while isinstance(arg, exp.Cast | exp.Paren):
        arg = arg.this
    if isinstance(arg, exp.Anonymous) and arg.name.lower() == "pg_backend_pid":
        return CancelCall(own_pid)
    if isinstance(arg, exp.Null):
        return CancelCall(None)
    if isinstance(arg, exp.Literal) and arg.name.strip().lstrip("-").isdigit():
        return CancelCall(int(arg.name))
    return None


# -- parameters ------------------------------------------------------------------------------


def count_params(text: str) -> int:
    """How many $n parameters a statement has (the highest n)."""
    found = [int(m) for m in re.findall(r"\$(\d+)", _strip_literals(text))]
    return max(found, default=0)


def _strip_literals(text: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def bind(text: str, values: list[Any], dialect: str) -> str:
    """The statement with $1..$n replaced by the values as SQL literals (SQLGlot tree)."""
    if not values:
        return text
    import sqlglot
    import sqlglot.expressions as exp

    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except Exception as e:
        raise PgError("42601", f"syntax error: {str(e).splitlines()[0]}") from None

    def replace(node: exp.Expression) -> exp.Expression:
        index = None
        if isinstance(node, exp.Parameter):
            inner = node.this
            name = inner.name if isinstance(inner, exp.Expression) else str(inner)
            index = int(name) if name.isdigit() else None
        elif isinstance(node, exp.Placeholder) and str(node.name).isdigit():
            index = int(node.name)
        if index is None:
            return node
        if not 1 <= index <= len(values):
            raise PgError("08P01", f"there is no parameter ${index}")
        return literal(values[index - 1])

    return tree.transform(replace).sql(dialect=dialect)


def literal(value: Any) -> Any:
    import sqlglot.expressions as exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, bytes):
        return exp.cast(exp.Literal.string("".join(f"\\x{b:02x}" for b in value)), "BLOB")
    return exp.Literal.string(str(value))
