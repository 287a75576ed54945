"""The catalog clients probe (psql's \\dt and \\d, pgJDBC's getTables/getColumns, psqlODBC),
answered by a per-session catalog database.

Each session gets a private in-memory engine (through the façade) holding an empty table for
every table the user may read, in a schema named after its layer, so DuckDB's own `pg_catalog`
and `information_schema` views describe exactly what that user can see. A probe is parsed as
PostgreSQL and rewritten for DuckDB as a SQLGlot tree: `pg_catalog.` prefixes of functions
dropped, `OPERATOR(pg_catalog.~)` as a regex match, `COLLATE "default"` dropped, `::regclass`
and `::regtype` as look-ups, and what PostgreSQL answers about the server (version(),
current_database(), pg_database, pg_settings...) from the session. A probe the catalog cannot
answer is appended to a punch list (`<state>/serve/catalog-punchlist.log`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.serve.pgwire.protocol import PgError

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.serve.pgwire.backend import TableInfo

SERVER_VERSION = "16.4"
VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} (medallion SQL endpoint on DuckDB)"

_PG_CATALOG_OID = 11  # as in PostgreSQL: DuckDB lists no pg_catalog namespace
_HIDDEN_SCHEMAS = "('pgwire', 'main', 'temp')"

#: DuckDB's catalog views as PostgreSQL 16 has them, columns added, and listing only the
#: user's readable tables ({schemas}: the layers the user reads, as a DuckDB list): not the
#: session's own machinery (schema pgwire, the Arrow data registered to make the empty tables
#: in main) nor DuckDB's own views (duckdb_tables, sqlite_master, its pg_catalog and
#: information_schema views), which a PostgreSQL user would not see as tables either
_VIEWS = {
    "pg_namespace": "SELECT * FROM pg_catalog.pg_namespace WHERE nspname NOT IN " + _HIDDEN_SCHEMAS,
    "pg_class": "SELECT * REPLACE (CAST(reloptions AS VARCHAR[]) AS reloptions), "
    "false AS relforcerowsecurity FROM pg_catalog.pg_class WHERE relnamespace IN "
    "(SELECT oid FROM pg_catalog.pg_namespace WHERE list_contains({schemas}, nspname))",
    "pg_tables": "SELECT * FROM pg_catalog.pg_tables WHERE list_contains({schemas}, schemaname)",
    "pg_views": "SELECT * FROM pg_catalog.pg_views WHERE list_contains({schemas}, schemaname)",
}

#: information_schema views, filtered the same way (view: its schema column), served under
#: their own names from schema pgwire
_INFORMATION_SCHEMA = {
    "tables": "table_schema",
    "columns": "table_schema",
    "views": "table_schema",
    "schemata": "schema_name",
    "table_constraints": "table_schema",
    "key_column_usage": "table_schema",
    "constraint_column_usage": "table_schema",
    "constraint_table_usage": "table_schema",
    "referential_constraints": "constraint_schema",
    "check_constraints": "constraint_schema",
}

#: catalog tables PostgreSQL has and DuckDB lacks, empty here (name: column:type ...)
_EMPTY = {
    "pg_range": "rngtypid:i rngsubtype:i",
    "pg_enum": "oid:i enumtypid:i enumsortorder:f enumlabel:t",
    "pg_inherits": "inhrelid:i inhparent:i inhseqno:i inhdetachpending:b",
    "pg_collation": "oid:i collname:t collnamespace:i",
    "pg_extension": "oid:i extname:t extowner:i extnamespace:i extversion:t",
    "pg_am": "oid:i amname:t amhandler:i amtype:t",
    "pg_trigger": "oid:i tgrelid:i tgparentid:i tgname:t tgfoid:i tgtype:i tgenabled:t "
    "tgisinternal:b tgconstraint:i",
    "pg_policy": "oid:i polname:t polrelid:i polcmd:t polpermissive:b polroles:I polqual:t "
    "polwithcheck:t",
    "pg_statistic_ext": "oid:i stxrelid:i stxname:t stxnamespace:i stxowner:i stxkeys:I "
    "stxstattarget:i stxkind:T stxexprs:t",
    "pg_publication": "oid:i pubname:t pubowner:i puballtables:b pubinsert:b pubupdate:b "
    "pubdelete:b pubtruncate:b pubviaroot:b",
    "pg_publication_rel": "oid:i prpubid:i prrelid:i prqual:t prattrs:I",
    "pg_publication_namespace": "oid:i pnpubid:i pnnspid:i",
    "pg_rewrite": "oid:i rulename:t ev_class:i ev_type:t ev_enabled:t is_instead:b",
    "pg_partitioned_table": "partrelid:i partstrat:t partnatts:i",
    "pg_foreign_table": "ftrelid:i ftserver:i ftoptions:t",
    "pg_event_trigger": "oid:i evtname:t",
    "pg_shdescription": "objoid:i classoid:i description:t",
    # the session's user is no member of any role (psql's \\du joins it)
    "pg_auth_members": "oid:i roleid:i member:i grantor:i admin_option:b inherit_option:b "
    "set_option:b",
}
_OWN_TABLES = {
    "pg_attribute", "pg_type", "pg_database", "pg_settings", "pg_user", "pg_roles",
    "pg_authid", "pg_stat_activity",
    *_VIEWS, *_EMPTY,
}  # fmt: skip

#: pg_attribute's columns and their types (as _EMPTY's)
_ATTRIBUTE = {
    "attrelid": "i", "attname": "t", "atttypid": "i", "attstattarget": "i", "attlen": "i",
    "attnum": "i", "attndims": "i", "attcacheoff": "i", "atttypmod": "i", "attbyval": "b",
    "attstorage": "t", "attalign": "t", "attnotnull": "b", "atthasdef": "b",
    "atthasmissing": "b", "attidentity": "t", "attgenerated": "t", "attisdropped": "b",
    "attislocal": "b", "attinhcount": "i", "attcollation": "i", "attcompression": "t",
    "attacl": "t", "attoptions": "t", "attfdwoptions": "t", "attmissingval": "t",
}  # fmt: skip

#: format_type() names, where PostgreSQL's differ from pg_type's
_FORMAT = {
    16: "boolean", 20: "bigint", 21: "smallint", 23: "integer", 700: "real",
    701: "double precision", 1043: "character varying", 1114: "timestamp without time zone",
    1184: "timestamp with time zone", 1083: "time without time zone",
}  # fmt: skip

#: pg_type.typcategory
_CATEGORY = {
    16: "B", 17: "U", 20: "N", 21: "N", 23: "N", 26: "N", 700: "N", 701: "N", 1700: "N",
    25: "S", 1043: "S", 114: "U", 1082: "D", 1083: "D", 1114: "D", 1184: "D", 1186: "T",
}  # fmt: skip

#: functions DuckDB has with fewer arguments than PostgreSQL (the pretty-print flag)
_ARITY = {"pg_get_expr": 2, "pg_get_viewdef": 1, "pg_get_constraintdef": 1}

_punch_lock = threading.Lock()


def _spec_types() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "i": pa.int64(), "t": pa.string(), "b": pa.bool_(), "f": pa.float32(),
        "I": pa.list_(pa.int64()), "T": pa.list_(pa.string()),
    }  # fmt: skip


class Catalog:
    def __init__(
        self,
        engine: Any,
        tables: Sequence[TableInfo],
        *,
        database: str,
        user: str,
        settings: dict[str, str],
        punch_list: Path | None,
        pid: int = 0,
    ) -> None:
        self.engine = engine
        self.database = database
        self.user = user
        self.pid = pid
        self.settings = settings
        self.punch_list = punch_list
        self._setup(tables)

    def _run(self, sql: str) -> None:
        self.engine.relation(sql)

    def _setup(self, tables: Sequence[TableInfo]) -> None:
        import pyarrow as pa
        import sqlglot.expressions as exp

        # names qualified with the database: a layer may be called like a DuckDB catalog
        # (`system.runs`: DuckDB's own `system` catalog would make `system.x` ambiguous)
        db = self.engine.fetch(self.engine.relation("SELECT current_database()")).column(0)
        catalog = db[0].as_py()
        schemas = {schema for schema, _, _ in tables} | {"pgwire"}
        for schema in sorted(schemas):
            self._run(
                exp.Create(
                    this=exp.Table(
                        this=exp.to_identifier(schema, quoted=True),
                        db=exp.to_identifier(catalog, quoted=True),
                    ),
                    kind="SCHEMA",
                    exists=True,
                ).sql("duckdb")
            )
        # the engine made a schema per layer: those the user reads nothing of are not shown
        existing = self.engine.fetch(
            self.engine.relation(
                "SELECT schema_name FROM information_schema.schemata "
                "WHERE catalog_name = current_database()"
            )
        ).column(0)
        for schema in existing.to_pylist():
            if schema not in schemas and schema not in ("main", "pg_catalog", "information_schema"):
                self._run(
                    exp.Drop(
                        tables=[
                            exp.Table(
                                db=exp.to_identifier(schema, quoted=True),
                                catalog=exp.to_identifier(catalog, quoted=True),
                            )
                        ],
                        kind="SCHEMA",
                        exists=True,
                    ).sql("duckdb")
                )
        for schema, name, cols in tables:
            empty = pa.schema([pa.field(c, t) for c, t in cols]).empty_table()
            source = self.engine.register(empty)
            create = exp.Create(
                this=exp.table_(name, db=schema, catalog=catalog, quoted=True),
                kind="TABLE",
                expression=exp.select("*").from_(source),
            )
            self._run(create.sql("duckdb"))
        self._own_tables(sorted({schema for schema, _, _ in tables}))
        self._types_and_columns(tables)
        # a client's catalog probe runs in this engine: no file, URL, extension or setting
        # change from here on (what probes read is registered in memory above)
        self.engine.confine()

    def _types_and_columns(self, tables: Sequence[TableInfo]) -> None:
        """pg_type with PostgreSQL's OIDs, and pg_attribute typed by them: DuckDB's own use
        DuckDB's type ids, which clients (pgJDBC's getColumns) would read as PostgreSQL's."""
        import pyarrow as pa

        from medallion.serve.pgwire import types

        found = self.engine.fetch(
            self.engine.relation(
                "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            )
        ).to_pylist()
        oids = {(r["nspname"], r["relname"]): r["oid"] for r in found}
        nsp = _PG_CATALOG_OID
        rows: dict[str, list[Any]] = {c: [] for c in _ATTRIBUTE}
        for schema, name, cols in tables:
            relid = oids.get((schema, name))
            if relid is None:
                continue
            for num, (column, arrow_type) in enumerate(cols, start=1):
                oid, typmod = types.pg_type(arrow_type)
                typlen = types.TYPES[oid][1]
                values = {
                    "attrelid": relid, "attname": column, "atttypid": oid, "attstattarget": -1,
                    "attlen": typlen, "attnum": num, "attndims": 0, "attcacheoff": -1,
                    "atttypmod": typmod, "attbyval": 0 < typlen <= 8, "attstorage": "p",
                    "attalign": "i", "attnotnull": False, "atthasdef": False,
                    "atthasmissing": False, "attidentity": "", "attgenerated": "",
                    "attisdropped": False, "attislocal": True, "attinhcount": 0,
                    "attcollation": 100 if oid in (types.TEXT, types.VARCHAR) else 0,
                    "attcompression": "", "attacl": None, "attoptions": None,
                    "attfdwoptions": None, "attmissingval": None,
                }  # fmt: skip
                for c in _ATTRIBUTE:
                    rows[c].append(values[c])
        attribute = pa.table(
            {c: pa.array(v, _spec_types()[_ATTRIBUTE[c]]) for c, v in rows.items()}
        )
        trows = [
            {
                "oid": oid,
                "typname": name,
                "typnamespace": nsp,
                "typowner": 10,
                "typlen": typlen,
                "typbyval": 0 < typlen <= 8,
                "typtype": "b",
                "typcategory": _CATEGORY.get(oid, "U"),
                "typispreferred": False,
                "typisdefined": True,
                "typdelim": ",",
                "typrelid": 0,
                "typsubscript": "-",
                "typelem": 0,
                "typarray": 0,
                "typinput": name + "in",
                "typoutput": name + "out",
                "typreceive": name + "recv",
                "typsend": name + "send",
                "typmodin": "-",
                "typmodout": "-",
                "typanalyze": "-",
                "typalign": "i",
                "typstorage": "p",
                "typnotnull": False,
                "typbasetype": 0,
                "typtypmod": -1,
                "typndims": 0,
                "typcollation": 100 if oid in (types.TEXT, types.VARCHAR) else 0,
                "typdefaultbin": None,
                "typdefault": None,
                "typacl": None,
            }
            for oid, (name, typlen) in types.TYPES.items()
        ]
        for name, data in (("pg_attribute", attribute), ("pg_type", pa.Table.from_pylist(trows))):
            source = self.engine.register(data).sql("duckdb")
            self._run(f'CREATE TABLE pgwire."{name}" AS SELECT * FROM {source}')
        formats = " ".join(
            f"WHEN {oid} THEN '{_FORMAT.get(oid, name)}'" for oid, (name, _) in types.TYPES.items()
        )
        self._run(
            "CREATE OR REPLACE MACRO _medallion_regtype(x) AS "
            "(SELECT min(typname) FROM pgwire.pg_type WHERE oid = x)"
        )
        self._run(
            "CREATE OR REPLACE MACRO _medallion_format_type(t, m) AS CASE "
            f"WHEN t = {types.NUMERIC} AND m > 4 THEN 'numeric(' || ((m - 4) >> 16) || ',' || "
            f"((m - 4) & 65535) || ')' ELSE (CASE t {formats} ELSE '???' END) END"
        )

    def _own_tables(self, schemas: list[str]) -> None:
        import pyarrow as pa
        import sqlglot.expressions as exp

        now = datetime.now(UTC)
        none_text = pa.array([None], pa.string())
        own = {
            "pg_database": pa.table({
                "oid": [16384], "datname": [self.database], "datdba": [10], "encoding": [6],
                "datlocprovider": ["c"], "datistemplate": [False], "datallowconn": [True],
                "datconnlimit": [-1], "datfrozenxid": [0], "datminmxid": [1],
                "dattablespace": [1663], "datcollate": ["C"], "datctype": ["C"],
                "daticulocale": none_text, "daticurules": none_text,
                "datcollversion": none_text, "datacl": none_text,
            }),
            "pg_settings": pa.table({
                "name": list(self.settings), "setting": list(self.settings.values()),
                "unit": pa.array([None] * len(self.settings), pa.string()),
                "category": ["medallion"] * len(self.settings),
                "short_desc": [""] * len(self.settings),
                "vartype": ["string"] * len(self.settings),
                "source": ["session"] * len(self.settings),
            }),
            "pg_roles": pa.table({
                "oid": [10], "rolname": [self.user], "rolsuper": [False], "rolinherit": [True],
                "rolcreaterole": [False], "rolcreatedb": [False], "rolcanlogin": [True],
                "rolreplication": [False], "rolconnlimit": [-1], "rolbypassrls": [False],
                "rolpassword": ["********"], "rolvaliduntil": pa.array([None], pa.timestamp("us")),
                "rolconfig": none_text,
            }),
            "pg_user": pa.table({
                "usename": [self.user], "usesysid": [10], "usecreatedb": [False],
                "usesuper": [False], "userepl": [False], "usebypassrls": [False],
                "passwd": ["********"], "valuntil": pa.array([None], pa.timestamp("us")),
                "useconfig": none_text,
            }),
            "pg_stat_activity": pa.table({
                "pid": [self.pid], "datname": [self.database], "usename": [self.user],
                "backend_start": [now],
                "state": ["active"], "query": [""],
            }),
        }  # fmt: skip
        own["pg_authid"] = own["pg_roles"]
        for name, cols in _EMPTY.items():
            fields = [
                pa.field(c, _spec_types()[t]) for c, t in (c.split(":") for c in cols.split())
            ]
            own[name] = pa.schema(fields).empty_table()
        for name, data in own.items():
            source = self.engine.register(data).sql("duckdb")
            self._run(f'CREATE TABLE pgwire."{name}" AS SELECT * FROM {source}')
        readable = exp.cast(
            exp.Array(expressions=[exp.Literal.string(s) for s in schemas]), "VARCHAR[]"
        ).sql("duckdb")
        for name, body in _VIEWS.items():
            self._run(f'CREATE VIEW pgwire."{name}" AS {body.format(schemas=readable)}')
        for name, column in _INFORMATION_SCHEMA.items():
            self._run(
                f'CREATE VIEW pgwire."{name}" AS SELECT * FROM information_schema."{name}" '
                f"WHERE list_contains({readable}, {column})"
            )
        # names PostgreSQL resolves that DuckDB's catalog lacks, as macros of the session
        macros = {
            "pg_get_userbyid(x)": f"'{_q(self.user)}'",
            "pg_encoding_to_char(x)": "'UTF8'",
            "pg_get_indexdef(a, b := 0, c := false)": "NULL::VARCHAR",
            "pg_get_partkeydef(x)": "NULL::VARCHAR",
            "pg_total_relation_size(x)": "0",
            "pg_relation_size(x)": "0",
            "pg_backend_pid()": str(self.pid),
            "txid_current()": "1",
            "pg_is_in_recovery()": "false",
            "pg_get_function_result(x)": "NULL::VARCHAR",
            "pg_get_statisticsobjdef_columns(x)": "NULL::VARCHAR",
            "pg_get_triggerdef(x, y := false)": "NULL::VARCHAR",
            "pg_get_ruledef(x, y := false)": "NULL::VARCHAR",
            "obj_description(x, y := '')": "NULL::VARCHAR",
            "pg_tablespace_location(x)": "''",
            "pg_relation_is_publishable(x)": "false",
            "pg_get_function_arguments(x)": "NULL::VARCHAR",
            "array_upper(a, d)": "len(a)",
            "array_lower(a, d)": "1",
            "_medallion_regclass(name)": "(SELECT min(c.oid) FROM pg_catalog.pg_class c JOIN "
            "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = "
            "split_part(replace(name, '\"', ''), '.', -1) AND (NOT contains(name, '.') OR "
            "n.nspname = split_part(replace(name, '\"', ''), '.', 1)))",
            "_medallion_relname(x)": "(SELECT min(n.nspname || '.' || c.relname) FROM "
            "pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = x)",
        }
        for signature, body in macros.items():
            self._run(f"CREATE OR REPLACE MACRO {signature} AS {body}")

    # -- answering -----------------------------------------------------------------------------

    def query(self, text: str) -> pa.RecordBatchReader:
        try:
            sql = self.rewrite(text)
            rel = self.engine.relation(sql)
            if rel is None:
                raise PgError("0A000", "the catalog answers queries only")
            return self.engine.reader(rel)
        except PgError:
            self._punch(text, "refused")
            raise
        except Exception as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self._punch(text, why)
            raise PgError(
                "42P01" if "does not exist" in why else "0A000",
                f"catalog query not supported by the medallion endpoint: {why}",
                hint="it is logged in the endpoint's punch list; query tables as <layer>.<table>",
            ) from None

    def _punch(self, text: str, why: str) -> None:
        if self.punch_list is None:
            return
        with _punch_lock:
            self.punch_list.parent.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            with self.punch_list.open("a", encoding="utf-8") as f:
                f.write(f"-- {stamp} {why}\n{text.strip()};\n\n")

    def rewrite(self, text: str) -> str:
        import sqlglot
        import sqlglot.expressions as exp

        tree = sqlglot.parse_one(text, read="postgres")
        for collate in list(tree.find_all(exp.Collate)):  # `COLLATE pg_catalog.default`
            collate.replace(collate.this)
        return tree.transform(self._rewrite_node).sql(dialect="duckdb")

    def _rewrite_node(self, node: exp.Expression) -> exp.Expression:
        import sqlglot.expressions as exp

        if isinstance(node, exp.Dot) and node.this.name.lower() == "pg_catalog":
            # pg_catalog.func(...) -> func(...); a replaced node's children are not visited
            return node.expression.transform(self._rewrite_node)
        if isinstance(node, exp.Operator):
            op = str(node.args.get("operator") or "").lower()
            pair = (node.this, node.expression)
            if op.endswith("~"):
                left, right = (e.transform(self._rewrite_node) for e in pair)
                return exp.RegexpLike(this=left, expression=right)
            if op.endswith("="):
                left, right = (e.transform(self._rewrite_node) for e in pair)
                return exp.EQ(this=left, expression=right)
            return node
        if isinstance(node, exp.Cast):
            return self._cast(node)
        if isinstance(node, exp.CurrentVersion):
            return _named(node, VERSION_TEXT, "version")
        if isinstance(node, exp.CurrentUser | exp.SessionUser):
            return _named(node, self.user, "current_user")
        if isinstance(node, exp.Anonymous) and node.name.lower() == "format_type":
            args = [a.transform(self._rewrite_node) for a in node.expressions]
            call = exp.Anonymous(this="_medallion_format_type", expressions=args)
            return _as_selected(node, call, "format_type")
        if isinstance(node, exp.Anonymous) and node.name.lower() in _ARITY:
            args = [a.transform(self._rewrite_node) for a in node.expressions]
            return exp.Anonymous(this=node.name, expressions=args[: _ARITY[node.name.lower()]])
        if isinstance(node, exp.Anonymous) and node.name.lower() in ("version", "current_database"):
            name = node.name.lower()
            return _named(node, VERSION_TEXT if name == "version" else self.database, name)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            return self._table(node)
        if isinstance(node, exp.Table) and (node.db or "").lower() == "pg_catalog":
            node.set("db", None)  # pg_catalog.unnest(...) in FROM
            return node
        return node

    def _cast(self, node: exp.Cast) -> exp.Expression:
        import sqlglot.expressions as exp

        to = node.to.sql(dialect="postgres").lower().removeprefix("pg_catalog.")
        inner = node.this.transform(self._rewrite_node)  # a replaced node's are not visited
        if to == "regclass":
            if isinstance(inner, exp.Literal) and inner.is_string:
                return exp.func("_medallion_regclass", inner)
            return exp.func("_medallion_relname", inner)
        if to == "regtype":
            return exp.func("_medallion_regtype", inner)
        if to in ("regproc", "regprocedure", "regnamespace", "regrole", "name", "text"):
            return exp.cast(inner, "VARCHAR")
        if to in ("oid", "xid", "regoper", "int2vector", "oidvector"):
            return exp.cast(inner, "BIGINT")
        return exp.cast(inner, to, dialect="postgres")

    def _table(self, node: exp.Table) -> exp.Expression:
        """PostgreSQL's catalog tables that the session serves itself (schema pgwire)."""
        import sqlglot.expressions as exp

        db = (node.db or "").lower()
        name = node.name.lower()
        if db == "information_schema" and name in _INFORMATION_SCHEMA:
            node.set("db", exp.to_identifier("pgwire"))
            return node
        if db not in ("", "pg_catalog"):
            return node
        if name in _OWN_TABLES:
            node.set("db", exp.to_identifier("pgwire"))  # in place: its joins are still visited
        return node

    def close(self) -> None:
        self.engine.close()


def _named(node: exp.Expression, value: str, name: str) -> exp.Expression:
    """A value for a function call, named like the call when it is a selected column."""
    import sqlglot.expressions as exp

    return _as_selected(node, exp.Literal.string(value), name)


def _as_selected(node: exp.Expression, new: exp.Expression, name: str) -> exp.Expression:
    """`new` in place of the call `node`, named `name` (as PostgreSQL names the call's column)
    when it is a selected column without an alias."""
    import sqlglot.expressions as exp

    if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
        return exp.alias_(new, name)
    return new


def _q(text: str) -> str:
    return text.replace("'", "''")
