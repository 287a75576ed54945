"""The published warehouse obeys the project's `access:` (a real PostgreSQL server): the same
user running the same query through `medallion query --as` and through psycopg against the
warehouse gets the same rows and the same masked values; a group removed from `access:` loses
its grants on the next publish; a login in no group reads nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from tests.conftest import medallion, write_project

from medallion.project import Project

CONFIG = """
name: NAME
sources:
  customers: {path: data/customers.csv, columns: {id: INTEGER}}
  orders: {path: data/orders.csv, columns: {id: INTEGER, customer_id: INTEGER, amount: INTEGER}}
access:
  grants:
    analysts: [gold.*]
    compliance: [gold.customers]
    auditors: [gold.orders]
  row_filters:
    gold.customers: "is_member('all_regions') or state in ('CA', 'NY') or Name = 'Dee'
      or (state = 'TX' and current_user() = 'cleo_TAG')"
  masks:
    gold.customers.email: email
    gold.customers.phone: "partial(0, 'XXX-XXX-', 4)"
    gold.customers.Name: hash
  unmask: [compliance]
publish:
  wh:
    type: postgres
    dsn: ${WAREHOUSE_DSN}
    schema: marts
    tables: [gold.customers, {table: gold.orders, mode: merge, key: id}]
"""
FILES = {
    "data/customers.csv": (
        "id,name,email,phone,state\n"
        "1,Ann,ann@example.com,555-123-4567,CA\n"
        "2,Bob,bob@example.com,555-222-3333,NY\n"
        "3,Cid,cid@example.com,555-999-0000,TX\n"
        "4,Dee,,12,WA\n"
        "5,Eve,eve@example.com,,CA\n"
    ),
    "data/orders.csv": "id,customer_id,amount\n1,1,10\n2,1,20\n3,2,5\n4,3,100\n5,4,7\n",
}
MODELS = {
    "gold/customers.sql": "select id, name as Name, email, phone, state from bronze.customers\n",
    "gold/orders.sql": "select id, customer_id, amount from bronze.orders\n",
}
# medallion user -> groups (all viewers); each gets a PostgreSQL login of the same name
USERS = {
    "ann": ["analysts"],  # masked and filtered
    "cleo": ["analysts", "compliance"],  # in clear, filtered
    "rex": ["analysts", "all_regions"],  # masked, every row
    "aud": ["auditors"],  # orders only
    "nobody": [],  # nothing
}


@dataclass
class Governed:
    project: Project
    tag: str  # in every role name of the test: roles are shared by the server's databases

    @property
    def root(self) -> Path:
        return self.project.root


@pytest.fixture
def governed(tmp_path: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Governed]:
    """The project built and published; logins for USERS (named uniquely: roles are shared by
    the server's databases) dropped after the test."""
    monkeypatch.setenv("WAREHOUSE_DSN", pg_db)
    tag = uuid.uuid4().hex[:8]
    root = write_project(
        tmp_path / "p", CONFIG.replace("NAME", f"acc_{tag}").replace("TAG", tag), MODELS, FILES
    )
    project = Project.load(root)
    result = project.run(trigger="test")  # builds gold and publishes it (after_run)
    assert result.ok, (result.error, [(s.node, s.step, s.error) for s in result.steps])
    governed = Governed(project, tag)
    for user, groups in USERS.items():
        project.add_user(login(governed, user), "viewer", groups, password="reader pw 1")
        role = sql.Identifier(login(governed, user))
        admin(pg_db, sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(role))
        for group in groups:
            grant_group(governed, pg_db, user, group)
    yield governed
    with psycopg.connect(pg_db, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"%{tag}%",)
        ).fetchall()
        for (role,) in rows:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def login(project: Governed, user: str) -> str:
    return f"{user}_{project.tag}"


def group_role(project: Governed, group: str) -> str:
    return f"medallion_acc_{project.tag}_{group}"


def grant_group(project: Governed, dsn: str, user: str, group: str) -> None:
    """What a DBA does: the login joins the group's role (made by the publish)."""
    admin(
        dsn,
        sql.SQL("GRANT {} TO {}").format(
            sql.Identifier(group_role(project, group)), sql.Identifier(login(project, user))
        ),
    )


def admin(dsn: str, statement: sql.Composable) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


def as_login(project: Governed, dsn: str, user: str, query: str) -> list[dict[str, Any]]:
    """`query` run by `user`'s own PostgreSQL login (password authentication over TCP)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.update(user=login(project, user), password="pw")
    with psycopg.connect(**info) as conn, conn.cursor() as cur:
        cur.execute(query.encode())
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def as_medallion(project: Governed, user: str, query: str) -> list[dict[str, Any]]:
    proc = medallion(
        "query", "--as", login(project, user), "--format", "json", query, cwd=project.root
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.postgres
def test_same_user_same_query_same_rows_and_masks(governed: Governed, pg_db: str) -> None:
    customers = "select * from gold.customers order by id"
    ann = as_medallion(governed, "ann", customers)
    assert [r["id"] for r in ann] == [1, 2, 4, 5]
    assert ann[0]["email"] == "aXXX@XXXX.com" and ann[0]["phone"] == "XXX-XXX-4567"
    assert ann[2]["email"] is None and ann[2]["phone"] == "XXX-XXX-"  # NULL stays NULL; too short
    assert ann[0]["Name"] == hashlib.sha256(b"Ann").hexdigest()  # the hex SHA-256 of the text
    warehouse = "SELECT * FROM marts_masked.customers ORDER BY id"
    assert as_login(governed, pg_db, "ann", warehouse) == ann

    # an unmask group: in clear (through the view, and through the base table's row security);
    # current_user() is the login's name: cleo sees TX
    cleo = as_medallion(governed, "cleo", customers)
    assert [(r["id"], r["Name"], r["email"]) for r in cleo][:3] == [
        (1, "Ann", "ann@example.com"),
        (2, "Bob", "bob@example.com"),
        (3, "Cid", "cid@example.com"),
    ]
    assert as_login(governed, pg_db, "cleo", warehouse) == cleo
    assert as_login(governed, pg_db, "cleo", "SELECT * FROM marts.customers ORDER BY id") == cleo

    # is_member('all_regions'): every row, still masked
    rex = as_medallion(governed, "rex", customers)
    assert [r["id"] for r in rex] == [1, 2, 3, 4, 5]
    assert as_login(governed, pg_db, "rex", warehouse) == rex
    assert "Cid" not in json.dumps(rex) and rex[2]["email"] == "cXXX@XXXX.com"

    # an aggregate over the masked view and a table without masks
    count = "select state, count(*) as n from gold.customers group by state order by state"
    assert as_login(governed, pg_db, "ann", count.replace("gold", "marts_masked")) == (
        as_medallion(governed, "ann", count)
    )
    orders = "select * from gold.orders order by id"
    assert as_login(governed, pg_db, "ann", orders.replace("gold", "marts")) == (
        as_medallion(governed, "ann", orders)
    )


@pytest.mark.postgres
def test_masked_groups_never_read_the_base_table(governed: Governed, pg_db: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_login(governed, pg_db, "ann", "SELECT email FROM marts.customers")
    # a reader's own condition is not evaluated on rows the filter hides (security_barrier):
    # division by zero would raise if it saw Cid (TX)
    rows = as_login(
        governed,
        pg_db,
        "ann",
        "SELECT id FROM marts_masked.customers WHERE 1 / (CASE WHEN state = 'TX' THEN 0 ELSE 1 END)"
        " = 1 ORDER BY id",
    )
    assert [r["id"] for r in rows] == [1, 2, 4, 5]


@pytest.mark.postgres
def test_a_user_in_no_group_reads_nothing(governed: Governed, pg_db: str) -> None:
    for query in (
        "SELECT * FROM marts.orders",
        "SELECT * FROM marts.customers",
        "SELECT * FROM marts_masked.customers",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_login(governed, pg_db, "nobody", query)
    proc = medallion(
        "query", "--as", login(governed, "nobody"), "select * from gold.orders", cwd=governed.root
    )
    assert proc.returncode != 0 and "not allowed" in proc.stderr
    # auditors read orders only
    assert len(as_login(governed, pg_db, "aud", "SELECT * FROM marts.orders")) == 5
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_login(governed, pg_db, "aud", "SELECT * FROM marts_masked.customers")


def grants(dsn: str, tag: str) -> list[tuple[str, ...]]:
    return [
        tuple(r)
        for r in psycopg.connect(dsn)
        .execute(
            "SELECT grantee, table_schema, table_name, privilege_type "
            "FROM information_schema.role_table_grants WHERE grantee LIKE %s ORDER BY 1, 2, 3, 4",
            (f"medallion_%{tag}%",),
        )
        .fetchall()
    ]


@pytest.mark.postgres
def test_publish_converges_and_a_removed_group_loses_its_grants(
    governed: Governed, pg_db: str
) -> None:
    tag = governed.tag
    before = grants(pg_db, tag)
    assert (group_role(governed, "auditors"), "marts", "orders", "SELECT") in before
    assert (group_role(governed, "analysts"), "marts_masked", "customers", "SELECT") in before
    assert (group_role(governed, "analysts"), "marts", "customers", "SELECT") not in before
    assert (group_role(governed, "compliance"), "marts", "customers", "SELECT") in before

    # again, nothing changed: the same grants (tables skipped, the policy converged)
    result = governed.project.publish()
    assert result.ok, [(s.node, s.error) for s in result.steps]
    assert grants(pg_db, tag) == before
    ann = as_login(governed, pg_db, "ann", "SELECT * FROM marts_masked.customers ORDER BY id")
    assert [r["id"] for r in ann] == [1, 2, 4, 5]

    config = (governed.root / "medallion.yml").read_text("utf-8")
    (governed.root / "medallion.yml").write_text(
        config.replace("    auditors: [gold.orders]\n", ""), "utf-8"
    )
    project = Project.load(governed.root)
    result = project.publish()
    assert result.ok, [(s.node, s.error) for s in result.steps]
    after = grants(pg_db, tag)
    assert [g for g in after if g[0] == group_role(governed, "auditors")] == []
    assert [g for g in after if g[0] != group_role(governed, "auditors")] == [
        g for g in before if g[0] != group_role(governed, "auditors")
    ]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_login(governed, pg_db, "aud", "SELECT * FROM marts.orders")
    roles = psycopg.connect(pg_db).execute(
        "SELECT 1 FROM pg_roles WHERE rolname = %s", (group_role(governed, "auditors"),)
    )
    assert roles.fetchall() == []  # medallion's role is gone; the DBA's login stays
    assert as_login(governed, pg_db, "ann", "SELECT count(*) AS n FROM marts.orders") == [{"n": 5}]


def warehouse_state(dsn: str, tag: str) -> tuple[Any, ...]:
    """What a failed publish must not change: the rows, the table's comment (its version), the
    masked view's definition and the grants."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT * FROM marts.customers ORDER BY id").fetchall()
        note = conn.execute("SELECT obj_description('marts.customers'::regclass)").fetchone()
        view = conn.execute("SELECT pg_get_viewdef('marts_masked.customers'::regclass)").fetchone()
    return rows, note, view, grants(dsn, tag)


def edit(governed: Governed, old: str, new: str) -> None:
    path = governed.root / "medallion.yml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


@pytest.mark.postgres
def test_a_policy_postgresql_cannot_run_fails_the_publish_and_keeps_the_warehouse(
    governed: Governed, pg_db: str
) -> None:
    before = warehouse_state(pg_db, governed.tag)
    # DuckDB's hash() has no PostgreSQL counterpart
    edit(governed, "  unmask:", '    gold.customers.state: "hash(state)::varchar"\n  unmask:')
    proc = medallion("publish", "--force", cwd=governed.root)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert (
        "medallion.yml:17: mask of gold.customers.state ('hash(state)::varchar') does not run "
        "in PostgreSQL: function hash(text) does not exist; gold.customers was not published"
    ) in out, out
    assert warehouse_state(pg_db, governed.tag) == before


@pytest.mark.postgres
def test_a_table_of_a_new_shape_gets_its_masked_view_again(governed: Governed, pg_db: str) -> None:
    model = governed.root / "models" / "gold" / "customers.sql"
    model.write_text(
        "select id, name as Name, email, phone, state, lower(state) as region"
        " from bronze.customers\n",
        "utf-8",
    )
    result = Project.load(governed.root).run(trigger="test")
    assert result.ok, [(s.node, s.step, s.error) for s in result.steps]
    customers = "select * from gold.customers order by id"
    ann = as_medallion(governed, "ann", customers)
    assert ann[0]["region"] == "ca" and ann[0]["email"] == "aXXX@XXXX.com"
    assert as_login(governed, pg_db, "ann", "SELECT * FROM marts_masked.customers ORDER BY id") == (
        ann
    )


@pytest.mark.postgres
def test_a_role_medallion_did_not_make_is_never_touched(governed: Governed, pg_db: str) -> None:
    theirs = group_role(governed, "intruders")
    admin(pg_db, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(theirs)))
    before = warehouse_state(pg_db, governed.tag)
    edit(governed, "    auditors: [gold.orders]\n", "    intruders: [gold.orders]\n")
    proc = medallion("publish", "--force", cwd=governed.root)
    assert proc.returncode == 1
    assert f"PostgreSQL role {theirs!r} exists and was not made by medallion" in proc.stdout
    assert warehouse_state(pg_db, governed.tag) == before


@pytest.mark.postgres
def test_print_grants_shows_the_sql_and_applies_nothing(governed: Governed, pg_db: str) -> None:
    before = warehouse_state(pg_db, governed.tag)
    edit(governed, "    auditors: [gold.orders]\n", "    readers: [gold.orders]\n")
    proc = medallion("publish", "--print-grants", cwd=governed.root, check=True)
    out = proc.stdout
    analysts, readers = group_role(governed, "analysts"), group_role(governed, "readers")
    assert f'CREATE ROLE "{readers}" NOLOGIN;' in out
    assert f'GRANT SELECT ON TABLE "marts"."orders" TO "{readers}";' in out
    assert f'GRANT SELECT ON TABLE "marts_masked"."customers" TO "{analysts}";' in out
    assert 'CREATE VIEW "marts_masked"."customers" WITH (security_barrier) AS SELECT' in out
    assert (
        'CREATE POLICY "medallion_row_filter" ON "marts"."customers" AS PERMISSIVE FOR SELECT '
        "TO PUBLIC USING (PG_HAS_ROLE(CURRENT_USER, "
        f"'{group_role(governed, 'all_regions')}', 'MEMBER') OR \"state\" IN ('CA', 'NY') "
        "OR \"Name\" = 'Dee' OR (\"state\" = 'TX' AND CAST(SESSION_USER AS TEXT) = "
        f"'cleo_{governed.tag}'));"
    ) in out
    ann = login(governed, "ann")
    assert f'-- GRANT "{analysts}" TO "{ann}";' in out  # the DBA's part, as comments
    assert "pw" not in out and "SCRAM" not in out
    assert warehouse_state(pg_db, governed.tag) == before
    assert "readers" not in json.dumps(grants(pg_db, governed.tag))


@pytest.mark.postgres
def test_an_empty_access_removes_what_medallion_made(governed: Governed, pg_db: str) -> None:
    path = governed.root / "medallion.yml"
    text = path.read_text("utf-8")
    start, end = text.index("access:\n"), text.index("publish:\n")
    path.write_text(text[:start] + "access: {}\n" + text[end:], "utf-8")
    result = Project.load(governed.root).publish()
    assert result.ok, [(s.node, s.error) for s in result.steps]
    with psycopg.connect(pg_db) as conn:
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'medallion%%' || %s || '%%'",
            (governed.tag,),
        ).fetchall()
        views = conn.execute("SELECT to_regclass('marts_masked.customers')").fetchone()
        security = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'marts.customers'::regclass"
        ).fetchone()
        policies = conn.execute("SELECT count(*) FROM pg_policy").fetchone()
    assert roles == [] and views == (None,) and security == (False,) and policies == (0,)
    # the DBA's logins stay, and read nothing (medallion's `access: {}` denies them too)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_login(governed, pg_db, "ann", "SELECT * FROM marts.orders")


@pytest.mark.postgres
def test_a_project_leaves_the_roles_of_another_alone(
    governed: Governed, pg_db: str, tmp_path: Path
) -> None:
    """`acc_<tag>_eu`'s roles start with `acc_<tag>`'s prefix: only the comment tells them
    apart, and `acc_<tag>` must neither revoke nor drop them."""
    other = CONFIG.replace("NAME", f"acc_{governed.tag}_eu").replace("TAG", governed.tag)
    other = other.replace("marts", "marts_eu")
    project = Project.load(write_project(tmp_path / "eu", other, MODELS, FILES))
    assert project.run(trigger="test").ok
    theirs = f"medallion_acc_{governed.tag}_eu_analysts"
    before = [g for g in grants(pg_db, governed.tag) if g[0] == theirs]
    assert (theirs, "marts_eu_masked", "customers", "SELECT") in before
    result = governed.project.publish()
    assert result.ok, [(s.node, s.error) for s in result.steps]
    assert [g for g in grants(pg_db, governed.tag) if g[0] == theirs] == before
    access = next(s for s in result.steps if s.node == "access.wh")
    assert access.details["notes"] == [], access.details  # no attempt to drop theirs either


@pytest.mark.postgres
def test_a_removed_group_with_grants_in_two_targets_is_dropped_by_the_last(
    governed: Governed, pg_db: str
) -> None:
    path = governed.root / "medallion.yml"
    path.write_text(
        path.read_text("utf-8")
        + "  wh2:\n    type: postgres\n    dsn: ${WAREHOUSE_DSN}\n    schema: marts2\n"
        + "    tables: [gold.orders]\n",
        "utf-8",
    )
    assert Project.load(governed.root).publish().ok
    auditors = group_role(governed, "auditors")
    assert (auditors, "marts2", "orders", "SELECT") in grants(pg_db, governed.tag)
    edit(governed, "    auditors: [gold.orders]\n", "")
    result = Project.load(governed.root).publish()
    assert result.ok, [(s.node, s.error) for s in result.steps]
    notes = {s.node: s.details["notes"] for s in result.steps if s.node.startswith("access.")}
    assert notes == {
        "access.wh": [f"role {auditors} kept: it still holds privileges outside marts"],
        "access.wh2": [],
    }
    assert [g for g in grants(pg_db, governed.tag) if g[0] == auditors] == []
    with psycopg.connect(pg_db) as conn:
        gone = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (auditors,)).fetchall()
    assert gone == []


@pytest.mark.postgres
def test_a_view_medallion_did_not_make_is_never_dropped(governed: Governed, pg_db: str) -> None:
    admin(pg_db, sql.SQL("DROP VIEW marts_masked.customers"))
    admin(pg_db, sql.SQL("CREATE VIEW marts_masked.customers AS SELECT 1 AS theirs"))
    proc = medallion("publish", "--force", cwd=governed.root)
    assert proc.returncode == 1
    assert "marts_masked.customers exists and was not made by medallion" in proc.stdout
    rows = psycopg.connect(pg_db).execute("SELECT * FROM marts_masked.customers").fetchall()
    assert rows == [(1,)]
