"""The policy compiler on its own, and the DuckDB session under it: a quarantine's raw line is
masked whole, a policy that cannot apply refuses the table, and a confined session refuses
settings and files even to SQL that never went through the allow-list."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from medallion.config.access import AccessConfig
from medallion.engine import attach
from medallion.errors import AccessDeniedError
from medallion.governance.policy import UserPolicy
from medallion.project import Project
from medallion.sqltree import render
from medallion.state.identities import Identity
from medallion.storage.quarantine import source_schema

VIEWER = Identity("v", "viewer", ("analysts",))
ACCESS = AccessConfig(
    grants={"analysts": ["bronze.*"]},
    masks={"bronze.customers.email": "email"},
    row_filters={"bronze.orders": "region = 'north'"},
)


def test_a_quarantine_raw_line_is_masked_whole() -> None:
    query = UserPolicy(ACCESS, VIEWER).restriction("bronze.customers__quarantine", source_schema())
    assert query is not None
    sql = render(query)
    assert 'CASE WHEN FALSE THEN "_raw" END AS "_raw"' in sql
    assert '"_source_file"' in sql and '"_error"' in sql
    # a table without masks has no raw line to hide
    assert (
        UserPolicy(ACCESS, VIEWER).restriction("bronze.other__quarantine", source_schema()) is None
    )


def test_a_policy_naming_a_missing_column_refuses_the_table() -> None:
    schema = pa.schema([("id", pa.int64()), ("amount", pa.int64())])  # no `region` any more
    with pytest.raises(AccessDeniedError, match="column 'region'"):
        UserPolicy(ACCESS, VIEWER).restriction("bronze.orders", schema)


def test_roles_that_read_everything_are_not_restricted() -> None:
    schema = pa.schema([("email", pa.string())])
    for role in ("admin", "member", "contributor"):
        assert (
            UserPolicy(ACCESS, Identity("a", role)).restriction("bronze.customers", schema) is None
        )
    unmask = ACCESS.model_copy(update={"unmask": ["analysts"]})
    assert UserPolicy(unmask, VIEWER).restriction("bronze.customers", schema) is None


def test_a_confined_session_refuses_settings_and_files(governed: Project) -> None:
    """Below the allow-list: SQL run straight on a user's engine still cannot change settings
    or read a file outside the attached tables."""
    ws = governed.workspace
    policy = UserPolicy(ws.config.access, governed.authenticate("val"))  # type: ignore[arg-type]
    lh = dataclasses.replace(ws.lakehouse, policy=policy)
    engine = ws.new_engine()
    try:
        attach.readable(engine, lh, "silver.dim_customers", reader="test")
        attach.confine(engine)
        for sql in (
            "SET enable_external_access = true",
            "SET allowed_directories = ['/']",
            "SET lock_configuration = false",
            f"SELECT * FROM read_text('{governed.root / 'medallion.yml'}')",
        ):
            with pytest.raises(Exception, match=r"lock|Permission|disabled|configuration"):
                engine.fetch(engine.relation(sql))
        rows = engine.fetch(engine.relation("select email from silver.dim_customers"))
        assert all(e.endswith("XXX@XXXX.com") for e in rows.column("email").to_pylist())
    finally:
        engine.close()


def test_system_tables_by_role_and_by_grant() -> None:
    from medallion.governance.policy import granted

    access = AccessConfig(grants={"monitoring": ["system.runs", "system.access_audit"]})
    dashboard = Identity("d", "viewer", ("monitoring",))
    assert granted(access, dashboard, "system.runs")
    assert not granted(access, dashboard, "system.run_steps")
    assert not granted(access, dashboard, "system.access_audit")  # admins' alone
    assert granted(access, Identity("m", "member"), "system.check_results")
    assert not granted(access, Identity("c", "contributor"), "system.runs")
    assert granted(access, Identity("a", "admin"), "system.access_audit")
    assert not granted(access, Identity("m", "member"), "system.access_audit")
