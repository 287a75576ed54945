"""The `access:` block of medallion.yml as PostgreSQL objects in a publish target, so a BI tool
connected to the warehouse sees what the medallion endpoint shows the same user.

- **Roles.** One NOLOGIN role per group (of `grants`, `unmask`, and `is_member('g')` in a
  policy), named `medallion_<project>_<group>` and commented `medallion: ...`. Only roles with
  both the prefix and the comment are ever altered or dropped: a role of that name made by
  someone else stops the publish. A group gone from `access:` loses its privileges here and its
  role is dropped (kept, with a note, while it still holds privileges elsewhere: another target).
- **Grants.** USAGE on the schemas and SELECT on exactly the published tables a group may read
  (`layer.*`: every published table of the layer), revoked from every other medallion role.
- **Row filters** become a row security policy `medallion_row_filter` (FOR SELECT TO PUBLIC):
  `current_user()` is `session_user` — the login, which must be named like the medallion user —
  and `is_member('g')` is `pg_has_role(current_user, 'medallion_<project>_g', 'MEMBER')`.
- **Masks.** PostgreSQL has no column masks, so a table with masked columns gets a view in
  `<schema>_masked` that computes the masks (the expressions of `governance.policy`, rendered
  for PostgreSQL), shows them in clear to members of an `unmask` group, and applies the row
  filter in its own WHERE: a view reads its table as the view's owner, to whom row security
  does not apply. It is a `security_barrier` view, so a reader's own conditions (a function
  that raises, say) are never evaluated on rows the filter hides. The groups that may read the
  table get SELECT on the view; the base table only those that are also `unmask` groups.

`TableSecurity.apply` runs inside the transaction that loads a table (the new table is never
readable without its policy); `converge` runs after a target's tables, in one transaction, and
brings every published table, view and role to what `access:` says (a second publish changes
nothing). `statements` gives the same SQL for review (`medallion publish --print-grants`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot.expressions as exp

from medallion.errors import ConfigError, PublishError

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

    from medallion.config.access import AccessConfig
    from medallion.state.identities import Identity

#: the comment that marks the roles and views medallion made (and may change or drop)
MARKER = "medallion:"
POLICY = "medallion_row_filter"
MASKED_SUFFIX = "_masked"
PG_NAME_BYTES = 63


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("postgres")


def _qualified(schema: str, name: str) -> str:
    return f"{_ident(schema)}.{_ident(name)}"


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql("postgres")


@dataclass(frozen=True)
class Published:
    """One published table: its lakehouse name, its name in the target and its columns."""

    fqn: str
    schema_name: str
    name: str
    columns: pa.Schema


class WarehouseAccess:
    """The access policy of one project, as the PostgreSQL objects of one publish target."""

    def __init__(self, access: AccessConfig, project: str, schema_name: str) -> None:
        self.access = access
        self.project = project
        self.schema_name = schema_name
        self.masked_schema = schema_name + MASKED_SUFFIX
        self.prefix = f"medallion_{project}_"
        for group in sorted(self.groups()):
            role = self.role(group)
            if len(role.encode("utf-8")) > PG_NAME_BYTES:
                raise ConfigError(
                    f"group {group!r} of project {project!r} becomes PostgreSQL role {role!r}, "
                    f"longer than PostgreSQL's {PG_NAME_BYTES} bytes",
                    file=access.file,
                    key="access",
                    hint="use a shorter group name (or project name) to publish access",
                )

    # -- the policy, per group and table ----------------------------------------------------

    def role(self, group: str) -> str:
        return self.prefix + group

    def groups(self) -> set[str]:
        """Every group the policy names: grants, unmask and is_member() in filters and masks."""
        from medallion.config.access import mask_kind, parse_policy_sql

        out = set(self.access.grants) | set(self.access.unmask)
        texts = [(p, f"row filter of {t}") for t, p in self.access.row_filters.items()]
        texts += [(m, f"mask of {c}") for c, m in self.access.masks.items()]
        texts = [(text, what) for text, what in texts if mask_kind(text) == "sql"]
        for text, what in texts:
            for call in parse_policy_sql(text, what).find_all(exp.Anonymous):
                if str(call.this).lower() == "is_member":
                    out.add(_group_arg(call))
        return out

    def readers(self, fqn: str) -> list[str]:
        """The groups whose grants include `fqn` (governance.policy.granted, one group each)."""
        from medallion.governance.policy import granted
        from medallion.state.identities import Identity

        return sorted(
            g for g in self.access.grants if granted(self.access, Identity("", "viewer", (g,)), fqn)
        )

    def bind(self, tree: exp.Expression) -> exp.Expression:
        """`current_user()` -> the login's name, `is_member('g')` -> membership of g's role."""

        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.CurrentUser) or (
                isinstance(node, exp.Anonymous) and str(node.this).lower() == "current_user"
            ):
                return exp.cast(exp.SessionUser(), "TEXT")
            if isinstance(node, exp.Anonymous) and str(node.this).lower() == "is_member":
                return self._member(_group_arg(node))
            return node

        return tree.copy().transform(swap)

    def _member(self, group: str) -> exp.Expression:
        return exp.Anonymous(
            this="pg_has_role",
            expressions=[
                exp.CurrentUser(),
                exp.Literal.string(self.role(group)),
                exp.Literal.string("MEMBER"),
            ],
        )

    def row_filter(self, table: Published) -> exp.Expression | None:
        """The row filter of `table` for PostgreSQL."""
        from medallion.config.access import parse_policy_sql

        predicate = self.access.row_filters.get(table.fqn)
        if predicate is None:
            return None
        tree = self.bind(parse_policy_sql(predicate, f"row filter of {table.fqn}"))
        return _as_stored(tree, table.columns)

    def masked_view(self, table: Published) -> str | None:
        """The SELECT of `table`'s masked view, or None when no column of it is masked."""
        from medallion.governance.policy import mask_expression, table_masks

        masks = table_masks(self.access, table.fqn)
        if not masks:
            return None
        clear = [self._member(g) for g in sorted(self.access.unmask)]
        columns: list[exp.Expression] = []
        for field in table.columns:
            column = exp.column(field.name, quoted=True)
            mask = masks.get(field.name)
            if mask is None:
                columns.append(column)
                continue
            masked = _as_stored(
                mask_expression(mask, field.name, field.type, self.bind), table.columns
            )
            if clear:
                masked = exp.Case(ifs=[exp.If(this=exp.or_(*clear), true=column)]).else_(masked)
            columns.append(exp.alias_(masked, field.name, quoted=True))
        select = exp.select(*columns).from_(
            exp.table_(table.name, db=table.schema_name, quoted=True)
        )
        predicate = self.row_filter(table)
        if predicate is not None:
            select = select.where(predicate)
        return _postgres(select)

    # -- SQL ------------------------------------------------------------------------------------

    def role_comment(self, group: str) -> str:
        return f"{MARKER} group {group} of project {self.project}"

    def role_statements(self, group: str) -> list[str]:
        role = _ident(self.role(group))
        return [
            f"CREATE ROLE {role} NOLOGIN",
            f"COMMENT ON ROLE {role} IS " + _literal(self.role_comment(group)),
        ]

    def table_statements(
        self, table: Published, managed: list[str], *, had_policy: bool, other_policies: bool
    ) -> list[str]:
        """The statements that give `table` (and its masked view) exactly the policy's
        privileges, row filter and masks. `managed`: medallion's roles there now (their
        privileges are revoked first); `had_policy`/`other_policies`: whether the table has
        medallion's row security policy / policies of someone else."""
        base = _qualified(table.schema_name, table.name)
        view = _qualified(self.masked_schema, table.name)
        out = [f"DROP VIEW IF EXISTS {view}"]
        out += [f"REVOKE ALL ON TABLE {base} FROM {_ident(r)}" for r in managed]
        readers = self.readers(table.fqn)
        select = self.masked_view(table)
        on_base = [g for g in readers if select is None or g in self.access.unmask]
        for group in on_base:
            role = self.role_ident(group)
            out.append(f"GRANT USAGE ON SCHEMA {_ident(table.schema_name)} TO {role}")
            out.append(f"GRANT SELECT ON TABLE {base} TO {role}")
        predicate = self.row_filter(table)
        if had_policy:
            out.append(f"DROP POLICY {_ident(POLICY)} ON {base}")
        if predicate is not None:
            out.append(f"ALTER TABLE {base} ENABLE ROW LEVEL SECURITY")
            out.append(
                f"CREATE POLICY {_ident(POLICY)} ON {base} AS PERMISSIVE FOR SELECT TO PUBLIC "
                f"USING ({_postgres(predicate)})"
            )
        elif had_policy and not other_policies:
            out.append(f"ALTER TABLE {base} DISABLE ROW LEVEL SECURITY")
        if select is not None:
            out.append(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.masked_schema)}")
            out.append(f"CREATE VIEW {view} WITH (security_barrier) AS {select}")
            out.append(
                f"COMMENT ON VIEW {view} IS " + _literal(f"{MARKER} masked view of {table.fqn}")
            )
            for group in readers:
                role = self.role_ident(group)
                out.append(f"GRANT USAGE ON SCHEMA {_ident(self.masked_schema)} TO {role}")
                out.append(f"GRANT SELECT ON TABLE {view} TO {role}")
        return out

    def role_ident(self, group: str) -> str:
        return _ident(self.role(group))

    def statements(self, tables: list[Published]) -> list[str]:
        """The SQL that sets up `tables` from scratch (for review: `publish --print-grants`)."""
        out = [s for g in sorted(self.groups()) for s in self.role_statements(g)]
        for table in tables:
            out += self.table_statements(table, [], had_policy=False, other_policies=False)
        return out

    # -- applying it ----------------------------------------------------------------------------

    def managed_roles(self, cur: psycopg.Cursor) -> dict[str, bool]:
        """Roles named with this project's prefix -> whether medallion made them for this
        project (the comment says so: project `shop`'s prefix also matches `shop_eu`'s roles)."""
        cur.execute(
            "SELECT rolname, coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles "
            "WHERE starts_with(rolname, %s)",
            (self.prefix,),
        )
        return {
            name: note == self.role_comment(name.removeprefix(self.prefix))
            for name, note in cur.fetchall()
        }

    def ensure_roles(self, cur: psycopg.Cursor) -> list[str]:
        """Create the missing group roles; the names of medallion's roles there now."""
        existing = self.managed_roles(cur)
        for group in sorted(self.groups()):
            role = self.role(group)
            if role not in existing:
                for statement in self.role_statements(group):
                    cur.execute(statement.encode())
                existing[role] = True
            elif not existing[role]:
                raise PublishError(
                    f"PostgreSQL role {role!r} exists and was not made by medallion for project "
                    f"{self.project!r}, so the access of group {group!r} cannot be published",
                    hint="rename that group, or rename or drop the role; to hand the role to "
                    f"medallion: COMMENT ON ROLE {_ident(role)} IS "
                    f"{_literal(self.role_comment(group))}",
                )
        return sorted(r for r, ours in existing.items() if ours)

    def apply(self, cur: psycopg.Cursor, table: Published) -> None:
        """Give one published table its policy (inside the caller's transaction)."""
        import psycopg

        managed = self.ensure_roles(cur)
        cur.execute(
            "SELECT p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relname = %s",
            (table.schema_name, table.name),
        )
        policies = [r[0] for r in cur.fetchall()]
        self._has_view(cur, table)
        statements = self.table_statements(
            table,
            managed,
            had_policy=POLICY in policies,
            other_policies=any(p != POLICY for p in policies),
        )
        try:
            with cur.connection.transaction():  # a savepoint: the diagnosis below can still run
                for statement in statements:
                    cur.execute(statement.encode())
        except psycopg.Error as e:
            raise self._diagnose(cur, table, e) from None

    def _expressions(self, table: Published) -> list[tuple[str, tuple[str, ...], str, str]]:
        """The policy expressions of `table`: (what, location in access:, text, a probe query
        that runs it in PostgreSQL)."""
        from medallion.governance.policy import mask_expression, table_masks

        base = _qualified(table.schema_name, table.name)
        out = []
        predicate = self.row_filter(table)
        if predicate is not None:
            text = self.access.row_filters[table.fqn]
            probe = f"SELECT 1 FROM {base} WHERE {_postgres(predicate)} LIMIT 0"
            out.append((f"row filter of {table.fqn}", ("row_filters", table.fqn), text, probe))
        masks = table_masks(self.access, table.fqn)
        for field in table.columns:
            mask = masks.get(field.name)
            if mask is not None:
                tree = mask_expression(mask, field.name, field.type, self.bind)
                probe = f"SELECT {_postgres(_as_stored(tree, table.columns))} FROM {base} LIMIT 0"
                key = f"{table.fqn}.{field.name}"
                out.append((f"mask of {key}", ("masks", key), mask, probe))
        return out

    def _diagnose(self, cur: psycopg.Cursor, table: Published, error: Exception) -> PublishError:
        """The error that names the row filter or mask PostgreSQL cannot run, with its line in
        medallion.yml (else PostgreSQL's message)."""
        import psycopg

        for what, loc, text, probe in self._expressions(table):
            try:
                with cur.connection.transaction():
                    cur.execute(probe.encode())
            except psycopg.Error as e:
                return PublishError(
                    f"{what} ({text!r}) does not run in PostgreSQL: {_message(e)}; "
                    f"{table.fqn} was not published",
                    file=self.access.file,
                    line=self.access.line(*loc),
                    key=f"access.{loc[0]}.{loc[1]}",
                    hint="write it in SQL that DuckDB and PostgreSQL both run (SQLGlot translates "
                    "DuckDB's functions where PostgreSQL has them), or remove it from access:",
                )
        return PublishError(
            f"the access policy of {table.fqn} cannot be set up in PostgreSQL: {_message(error)}",
            hint="the publishing user needs CREATEROLE and to own the published tables; "
            f"{table.fqn} was not published",
        )

    def _has_view(self, cur: psycopg.Cursor, table: Published) -> bool:
        """Whether medallion's masked view of `table` exists; PublishError when something else
        has its name (medallion never drops what it did not make)."""
        cur.execute(
            "SELECT coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relname = %s",
            (self.masked_schema, table.name),
        )
        found = cur.fetchone()
        if found is not None and not found[0].startswith(MARKER):
            raise PublishError(
                f"{self.masked_schema}.{table.name} exists and was not made by medallion, so "
                f"the masked view of {table.fqn} cannot be published",
                hint=f"schema {self.masked_schema} holds medallion's masked views: move that "
                "object elsewhere",
            )
        return found is not None

    def release(self, cur: psycopg.Cursor, table: Published) -> None:
        """Drop the masked view of `table` (before the table itself is replaced)."""
        if self._has_view(cur, table):
            cur.execute(f"DROP VIEW {_qualified(self.masked_schema, table.name)}".encode())

    def converge(self, conn: psycopg.Connection, tables: list[Published]) -> list[str]:
        """Bring every published table, masked view and medallion role of this target to the
        policy, in one transaction. Returns notes (roles kept, tables not there yet)."""
        notes: list[str] = []
        with conn.transaction(), conn.cursor() as cur:
            present = []
            for table in tables:
                cur.execute(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_name = %s",
                    (table.schema_name, table.name),
                )
                if cur.fetchone() is None:
                    notes.append(f"{table.fqn} is not published yet")
                else:
                    present.append(table)
                    self.apply(cur, table)
            self._drop_stale_views(cur, {t.name for t in present if self.masked_view(t)})
            wanted = {self.role(g) for g in self.groups()}
            for role, ours in sorted(self.managed_roles(cur).items()):
                if not ours:
                    continue
                self._schema_usage(cur, role, present)
                if role not in wanted:
                    notes += self._drop_role(conn, cur, role)
        return notes

    def _schema_usage(self, cur: psycopg.Cursor, role: str, present: list[Published]) -> None:
        """USAGE on a schema only for a role that may read something in it."""
        reads: dict[str, bool] = {self.schema_name: False, self.masked_schema: False}
        for table in present:
            readers = {self.role(g) for g in self.readers(table.fqn)}
            if role not in readers:
                continue
            masked = self.masked_view(table) is not None
            group = role.removeprefix(self.prefix)
            if not masked or group in self.access.unmask:
                reads[table.schema_name] = True
            if masked:
                reads[self.masked_schema] = True
        for schema, allowed in reads.items():
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if cur.fetchone() is None:
                continue
            if allowed:
                cur.execute(f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {_ident(role)}".encode())
            else:
                cur.execute(f"REVOKE ALL ON SCHEMA {_ident(schema)} FROM {_ident(role)}".encode())

    def _drop_stale_views(self, cur: psycopg.Cursor, wanted: set[str]) -> None:
        cur.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'v' "
            "AND starts_with(coalesce(obj_description(c.oid, 'pg_class'), ''), %s)",
            (self.masked_schema, MARKER),
        )
        for (name,) in cur.fetchall():
            if name not in wanted:
                cur.execute(f"DROP VIEW {_qualified(self.masked_schema, name)}".encode())

    def _drop_role(self, conn: psycopg.Connection, cur: psycopg.Cursor, role: str) -> list[str]:
        import psycopg

        for schema in (self.schema_name, self.masked_schema):
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if cur.fetchone() is not None:
                revoke = f"REVOKE ALL ON ALL TABLES IN SCHEMA {_ident(schema)} FROM {_ident(role)}"
                cur.execute(revoke.encode())
        try:
            with conn.transaction():
                cur.execute(f"DROP ROLE {_ident(role)}".encode())
        except psycopg.errors.DependentObjectsStillExist:
            # privileges outside this target's schemas (another target of the project, in
            # another schema or database): that target's publish drops it; here it reads nothing
            return [f"role {role} kept: it still holds privileges outside {self.schema_name}"]
        return []


def login_sql(warehouse: WarehouseAccess, users: list[Identity]) -> list[str]:
    """What a DBA runs for each medallion user: a login of the same name, in its groups' roles;
    a user whose role reads everything (admin, member, contributor) reads every table in clear,
    past row security."""
    out = []
    for user in users:
        name = _ident(user.name)
        out.append(f"CREATE ROLE {name} LOGIN PASSWORD '...'")
        if user.reads_everything:
            out.append(f"GRANT pg_read_all_data TO {name}")
            out.append(f"ALTER ROLE {name} BYPASSRLS")
            continue
        groups = warehouse.groups()
        out += [f"GRANT {warehouse.role_ident(g)} TO {name}" for g in user.groups if g in groups]
    return out


def _group_arg(call: exp.Anonymous) -> str:
    args = call.expressions
    if len(args) != 1 or not isinstance(args[0], exp.Literal) or not args[0].is_string:
        raise ConfigError(
            "is_member() in a policy takes one quoted group name",
            hint="write is_member('group') in medallion.yml access:",
        )
    return str(args[0].this)


def _as_stored(tree: exp.Expression, columns: pa.Schema) -> exp.Expression:
    """Column names quoted as the table stores them: DuckDB matches a name whatever its case,
    PostgreSQL folds an unquoted one to lower case."""
    stored = {name.lower(): name for name in columns.names}
    for column in tree.find_all(exp.Column):
        name = stored.get(column.name.lower())
        if name is not None:
            column.set("this", exp.to_identifier(name, quoted=True))
    return tree


_SHA256 = re.compile(r"^sha256$", re.I)


def _postgres(tree: exp.Expression) -> str:
    """A policy expression (DuckDB SQL) as PostgreSQL SQL. DuckDB's sha256(text) is hex text;
    PostgreSQL's takes and returns bytea, so it becomes encode(sha256(convert_to(x)), 'hex')."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and _SHA256.match(str(node.this)):
            utf8 = exp.Anonymous(
                this="convert_to", expressions=[*node.expressions, exp.Literal.string("UTF8")]
            )
            return exp.Anonymous(
                this="encode",
                expressions=[
                    exp.Anonymous(this="sha256", expressions=[utf8]),
                    exp.Literal.string("hex"),
                ],
            )
        return node

    return tree.transform(swap).sql("postgres")


def _message(error: Exception) -> str:
    import psycopg

    if isinstance(error, psycopg.Error) and error.diag.message_primary:
        return error.diag.message_primary
    return str(error).strip()
