"""The templates' access blocks: ecommerce-events (seed 004: PII masked on silver, a row filter
on gold) and customer-insights (seed 000's roles) load, validate without a lineage warning, and
restrict a viewer as declared."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.conftest import medallion


def _project(tmp_path: Path, template: str, rows: str) -> Path:
    medallion("init", "p", "--template", template, "--rows", rows, cwd=tmp_path, check=True)
    root = tmp_path / "p"
    medallion("run", cwd=root, check=True)
    proc = medallion("validate", cwd=root, check=True)
    assert "unmasked" not in proc.stderr, proc.stderr  # no lineage warning
    return root


def _json(root: Path, *args: str) -> list[dict]:
    proc = medallion("query", *args, "--format", "json", cwd=root, check=True)
    return json.loads(proc.stdout)


def test_ecommerce_events_masks_silver_and_filters_gold(tmp_path: Path) -> None:
    root = _project(tmp_path, "ecommerce-events", "2000")
    medallion(
        "users", "add", "ana", "--role", "viewer", "--group", "data_analysts", cwd=root, check=True
    )
    medallion("users", "add", "eng", "--role", "member", cwd=root, check=True)
    sql = (
        "select event_id, user_id, user_session from silver.events_cleaned "
        "order by event_id limit 20"
    )
    clear = _json(root, "--as", "eng", sql)
    masked = _json(root, "--as", "ana", sql)
    assert [r["event_id"] for r in masked] == [r["event_id"] for r in clear]
    for c, m in zip(clear, masked, strict=True):
        assert m["user_id"] == hashlib.sha256(str(c["user_id"]).encode()).hexdigest()
        assert m["user_session"] is None
    cats = _json(root, "--as", "ana", "select distinct category_code from gold.product_performance")
    assert cats and all(
        r["category_code"].startswith(("electronics.", "appliances.")) for r in cats
    )
    every = _json(root, "--as", "eng", "select count(*) as n from gold.product_performance")
    shown = _json(root, "--as", "ana", "select count(*) as n from gold.product_performance")
    assert shown[0]["n"] < every[0]["n"]
    proc = medallion("query", "--as", "ana", "select * from bronze.events_raw", cwd=root)
    assert proc.returncode == 77


@pytest.mark.parametrize("role", ["admin", "member", "contributor"])
def test_customer_insights_roles_read_everything(tmp_path: Path, role: str) -> None:
    root = _project(tmp_path, "customer-insights", "300")
    medallion("users", "add", "u", "--role", role, cwd=root, check=True)
    medallion(
        "users", "add", "s", "--role", "viewer", "--group", "stakeholders", cwd=root, check=True
    )
    sql = "select email from gold.customer_segments order by customer_id limit 3"
    clear = _json(root, "--as", "u", sql)
    assert all("XXX" not in r["email"] for r in clear)
    masked = _json(root, "--as", "s", sql)
    assert [r["email"] for r in masked] == [r["email"][0] + "XXX@XXXX.com" for r in clear]
    proc = medallion("query", "--as", "s", "select * from silver.customers", cwd=root)
    assert proc.returncode == 77
