"""The read policy compiled for one user: which tables they may read, and each table as a
SQLGlot projection over its stored rows — masks as column expressions, the row filter as WHERE,
`current_user()` and `is_member('g')` replaced by literals for that user.

`engine/attach.py` asks `check(table)` before a table becomes readable and `restriction(table,
schema)` for the SELECT the table is then read through, so a table is masked and filtered the
same way at its latest version, at an earlier one (--as-of) and as its quarantine. It fails
closed: a filter or mask that names a column the table (at that version) does not have refuses
the table instead of showing it unfiltered.

Who is restricted (seed 000's roles, as Fabric's SQL endpoint does it): admin, member and
contributor read every table in clear; a viewer reads the tables the `grants` of its groups
name, through the table's row filter and masks, except that `unmask` groups see masked columns
in clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlglot.expressions as exp

from medallion.config.access import (
    COLUMN_RE,
    AccessConfig,
    Partial,
    mask_kind,
    parse_policy_sql,
)
from medallion.config.names import is_quarantine, owner
from medallion.errors import AccessDeniedError, ConfigError, suggest

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.state.identities import Identity

#: the name a restriction's SELECT reads the stored table as (engine.base.SRC)
SRC = "__src"
#: system tables and who reads them (besides admins)
SYSTEM_READERS = {
    "system.access_audit": ("admin",),
    "system.runs": ("admin", "member"),
    "system.run_steps": ("admin", "member"),
    "system.check_results": ("admin", "member"),
}


def granted(access: AccessConfig, user: Identity, fqn: str) -> bool:
    """Whether `user` may read `fqn` (a quarantine table: whether they may read its table)."""
    if fqn in SYSTEM_READERS and user.role in SYSTEM_READERS[fqn]:
        return True
    if fqn == "system.access_audit" or (fqn.startswith("system.") and fqn not in SYSTEM_READERS):
        return False  # the audit is the admins' alone, whatever a grant says
    if user.reads_everything and not fqn.startswith("system."):
        return True
    # a viewer's grants; the run log's tables too (`monitoring: [system.runs]` for a dashboard)
    base = owner(fqn)
    layer = base.split(".", 1)[0]
    for group, items in access.grants.items():
        if user.is_member(group) and (base in items or f"{layer}.*" in items):
            return True
    return False


def orphan_refused(fqn: str) -> AccessDeniedError:
    base = owner(fqn)
    return AccessDeniedError(
        f"table {fqn} has no model any more (orphan): it is not served",
        hint=f"an admin can drop it with `medallion drop {base}` (or bring its model back)",
    )


def unmasked(access: AccessConfig, user: Identity) -> bool:
    return user.reads_everything or any(user.is_member(g) for g in access.unmask)


@dataclass
class UserPolicy:
    """The ReadPolicy of one user (engine.attach.ReadPolicy); `applied` collects, per table,
    the policies that were applied (for the audit)."""

    access: AccessConfig
    user: Identity
    #: stored tables no model or source defines any more (`governance.read.orphans`): served
    #: to admins only
    orphans: frozenset[str] = frozenset()
    applied: dict[str, list[str]] = field(default_factory=dict)

    def readable(self, fqn: str) -> bool:
        """Whether `user` may read `fqn`: granted, and not an orphan (admins excepted)."""
        return granted(self.access, self.user, fqn) and not self.orphaned(fqn)

    def orphaned(self, fqn: str) -> bool:
        """An orphan to this user: a model removed because it exposed data would otherwise
        go on exposing it, to every reader its layer's grant covers."""
        return not self.user.is_admin and owner(fqn) in self.orphans

    def admits(self, fqn: str) -> bool:
        """`readable` for the allow-list: AccessDeniedError saying so when the table is
        granted but an orphan (a reader without a grant learns nothing about it)."""
        if self.orphaned(fqn) and granted(self.access, self.user, fqn):
            raise orphan_refused(fqn)
        return self.readable(fqn)

    def check(self, table: str) -> None:
        if not self.admits(table):
            raise AccessDeniedError(
                f"reading {table} is not allowed for {self.user.name}",
                hint="ask an admin for a grant on it (medallion.yml access.grants)",
            )

    def restriction(self, table: str, schema: pa.Schema) -> exp.Select | None:
        """SELECT <columns, masked> FROM __src WHERE <row filter>, or None when the user reads
        the table as stored. AccessDeniedError when the policy cannot be applied."""
        self.check(table)
        if self.user.reads_everything or table.startswith("system."):
            return None
        base = owner(table)
        names = [f.name for f in schema]
        masks = {} if unmasked(self.access, self.user) else table_masks(self.access, base)
        applied: list[str] = []
        columns: list[exp.Expression] = []
        for f in schema:
            mask = masks.get(f.name)
            if mask is None and f.name == "_raw" and is_quarantine(table) and masks:
                mask = "null"  # the raw line holds the masked columns' values in clear
            if mask is None:
                columns.append(_col(f.name))
                continue
            expr = compile_mask(mask, f.name, f.type, self.user)
            self._require_columns(expr, names, table, f"mask of {base}.{f.name}")
            columns.append(exp.alias_(expr, f.name, quoted=True))
            applied.append(f"mask {f.name}: {mask}")
        select = exp.select(*columns).from_(exp.to_table(SRC))
        predicate = self.access.row_filters.get(base)
        if predicate is not None:
            where = bind_user(parse_policy_sql(predicate, f"row filter of {base}"), self.user)
            self._require_columns(where, names, table, f"row filter of {base}")
            select = select.where(where)
            applied.append(f"row filter: {predicate}")
        if not applied:
            return None
        self.applied[table] = applied
        return select

    def _require_columns(self, expr: exp.Expression, names: list[str], table: str, what: str):
        lower = {n.lower() for n in names}
        for column in expr.find_all(exp.Column):
            if column.name.lower() not in lower:
                raise AccessDeniedError(
                    f"{table} cannot be read: its {what} names column {column.name!r}, which "
                    "this version of the table does not have",
                    hint="an admin fixes the policy in medallion.yml (access:); until then the "
                    "table is refused rather than shown unprotected",
                )


def table_masks(access: AccessConfig, table: str) -> dict[str, str]:
    out = {}
    for key, mask in access.masks.items():
        m = COLUMN_RE.match(key)
        if m and f"{m.group(1)}.{m.group(2)}" == table:
            out[m.group(3)] = mask
    return out


def masked_tables(access: AccessConfig) -> set[str]:
    return {key.rsplit(".", 1)[0] for key in access.masks}


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def bind_user(tree: exp.Expression, user: Identity) -> exp.Expression:
    """`current_user()` -> the user's name, `is_member('g')` -> true/false, as literals."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentUser) or (
            isinstance(node, exp.Anonymous) and str(node.this).lower() == "current_user"
        ):
            return exp.Literal.string(user.name)
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "is_member":
            args = node.expressions
            if len(args) != 1 or not isinstance(args[0], exp.Literal) or not args[0].is_string:
                raise AccessDeniedError(
                    "is_member() in a policy takes one quoted group name",
                    hint="write is_member('group') in medallion.yml access:",
                )
            return exp.Boolean(this=user.is_member(args[0].this))
        return node

    return tree.copy().transform(swap)


def compile_mask(mask: str, column: str, arrow_type: pa.DataType, user: Identity) -> exp.Expression:
    """The column expression that shows `column` masked to `user`."""
    return mask_expression(mask, column, arrow_type, lambda tree: bind_user(tree, user))


def mask_expression(
    mask: str,
    column: str,
    arrow_type: pa.DataType,
    bind: Callable[[exp.Expression], exp.Expression],
) -> exp.Expression:
    """The column expression that shows `column` masked (DuckDB SQL), a SQL-expression mask's
    `current_user()` and `is_member()` replaced by `bind` (literals for one reader; a publish
    target's own functions for a warehouse view that serves every reader)."""
    kind = mask_kind(mask)
    c = _col(column)
    if kind == "null":
        return exp.Case(ifs=[exp.If(this=exp.false(), true=c)])  # NULL of the column's type
    if kind == "hash":
        return exp.func("sha256", exp.cast(c, "VARCHAR"))
    if kind == "email":
        return exp.Case(
            ifs=[exp.If(this=exp.Is(this=c, expression=exp.Null()), true=exp.Null())]
        ).else_(
            exp.DPipe(
                this=exp.func("left", exp.cast(c, "VARCHAR"), exp.Literal.number(1)),
                expression=exp.Literal.string("XXX@XXXX.com"),
            )
        )
    if kind == "default":
        return exp.Case(
            ifs=[exp.If(this=exp.Is(this=c, expression=exp.Null()), true=exp.Null())]
        ).else_(_default_value(arrow_type, c))
    if isinstance(kind, Partial):
        text = exp.cast(c, "VARCHAR")
        keep = kind.keep_first + kind.keep_last
        shown = exp.Literal.string(kind.pad)
        if kind.keep_first:
            shown = exp.DPipe(
                this=exp.func("left", text, exp.Literal.number(kind.keep_first)), expression=shown
            )
        if kind.keep_last:
            shown = exp.DPipe(
                this=shown,
                expression=exp.func("right", text.copy(), exp.Literal.number(kind.keep_last)),
            )
        return exp.Case(
            ifs=[
                exp.If(this=exp.Is(this=c, expression=exp.Null()), true=exp.Null()),
                # too short to keep anything without showing it all: the pad only
                exp.If(
                    this=exp.LTE(
                        this=exp.Length(this=text.copy()), expression=exp.Literal.number(keep)
                    ),
                    true=exp.Literal.string(kind.pad),
                ),
            ]
        ).else_(shown)
    return bind(parse_policy_sql(mask, f"mask of {column}"))


def _default_value(arrow_type: pa.DataType, c: exp.Column) -> exp.Expression:
    """SQL Server's default(): 0 for numbers, 'XXXX' for text, 1900-01-01 for dates and
    times, false for booleans; NULL of the type for anything else."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return exp.Literal.string("XXXX")
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return exp.Mul(this=c.copy(), expression=exp.Literal.number(0))
    if pa.types.is_boolean(t):
        return exp.false()
    if pa.types.is_date(t):
        return exp.cast(exp.Literal.string("1900-01-01"), "DATE")
    if pa.types.is_timestamp(t):
        typ = "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        return exp.cast(exp.Literal.string("1900-01-01 00:00:00"), typ)
    return exp.Case(ifs=[exp.If(this=exp.false(), true=c.copy())])


def check_names(access: AccessConfig, tables: Mapping[str, list[str] | None]) -> None:
    """ConfigError naming the medallion.yml line of the first grant, row filter or mask that
    names a table (or column) the project does not have. `tables`: each table or model and its
    columns (None: not built yet, columns unknown)."""
    known = sorted(tables)
    layers = {t.split(".", 1)[0] for t in tables}

    def fail(message: str, line: int | None, key: str, word: str, among: list[str]) -> None:
        close = suggest(word, among)
        raise ConfigError(
            message,
            file=access.file,
            line=line,
            key=key,
            hint=f"did you mean {close!r}?" if close else "`medallion tables` lists the tables",
        )

    for group, items in access.grants.items():
        for i, item in enumerate(items):
            layer, _, name = item.partition(".")
            if name == "*":
                if layer not in layers and layer != "system":
                    fail(
                        f"grant {item!r} of group {group!r}: no layer {layer!r}",
                        access.line("grants", group, i),
                        f"access.grants.{group}",
                        layer,
                        sorted(layers),
                    )
            elif item not in tables and item not in SYSTEM_READERS:
                fail(
                    f"grant {item!r} of group {group!r}: no table {item!r}",
                    access.line("grants", group, i),
                    f"access.grants.{group}",
                    item,
                    known,
                )
    for table in access.row_filters:
        if table not in tables:
            fail(
                f"row filter of {table!r}: no table {table!r}",
                access.line("row_filters", table),
                f"access.row_filters.{table}",
                table,
                known,
            )
        columns = tables[table]
        tree = parse_policy_sql(access.row_filters[table], f"row filter of {table}")
        for column in tree.find_all(exp.Column):
            if columns is not None and column.name not in columns:
                fail(
                    f"row filter of {table} names column {column.name!r}, "
                    f"which {table} does not have",
                    access.line("row_filters", table),
                    f"access.row_filters.{table}",
                    column.name,
                    columns,
                )
    for key in access.masks:
        m = COLUMN_RE.match(key)
        assert m is not None
        table, column = f"{m.group(1)}.{m.group(2)}", m.group(3)
        if table not in tables:
            fail(
                f"mask {key!r}: no table {table!r}",
                access.line("masks", key),
                f"access.masks.{key}",
                table,
                known,
            )
        columns = tables[table]
        if columns is not None and column not in columns:
            fail(
                f"mask {key!r}: {table} has no column {column!r}",
                access.line("masks", key),
                f"access.masks.{key}",
                column,
                columns,
            )
