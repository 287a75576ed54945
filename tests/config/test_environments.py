"""`environments:` overlays chosen with --env NAME or MEDALLION_ENV."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

from medallion.errors import ConfigError
from medallion.project import Project

CONFIG = """
name: shop
storage: ./lakehouse
sources:
  orders: {path: landing/orders*.csv, delimiter: ","}
publish:
  warehouse:
    type: postgres
    dsn: "postgresql://etl:${DEV_PG_PASSWORD:-dev}@localhost/dev"
    tables: [silver.orders]
    after_run: false
environments:
  prod:
    storage: ./prod-lake
    sources:
      orders: {path: prod-landing/orders*.csv}
    publish:
      warehouse:
        dsn: "postgresql://etl:${PROD_PG_PASSWORD}@db.internal/prod"
  staging:
    state: .medallion-staging
"""

FILES = {
    "landing/orders_1.csv": "order_id,amount\nA1,10\n",
    "prod-landing/orders_1.csv": "order_id,amount\nP1,99\nP2,1\n",
}
MODELS = {"silver/orders.sql": "select * from bronze.orders"}


def test_an_overlay_merges_over_the_file(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", CONFIG, MODELS, FILES)
    dev = Project.load(root, env={})
    assert dev.config.environment is None
    assert dev.config.storage == "./lakehouse"
    prod = Project.load(root, env={"PROD_PG_PASSWORD": "s3cret"}, environment="prod")
    assert prod.config.environment == "prod"
    assert prod.config.storage == "./prod-lake"
    orders = prod.config.sources["orders"]
    assert orders.path == "prod-landing/orders*.csv"
    assert orders.delimiter == ","  # kept from the file: mappings merge key by key
    assert prod.config.publish["warehouse"].dsn.endswith("@db.internal/prod")
    assert prod.config.publish["warehouse"].tables == ["silver.orders"]
    # a lakehouse of its own, and so a state database of its own (its run log, its caches)
    assert (dev.config.state, prod.config.state) == (".medallion", ".medallion-prod")
    # MEDALLION_ENV chooses it too
    staging = Project.load(root, env={"MEDALLION_ENV": "staging"})
    assert staging.config.environment == "staging" and staging.config.state == ".medallion-staging"


def test_another_environments_variables_are_not_needed(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", CONFIG, MODELS, FILES)
    # PROD_PG_PASSWORD is unset: dev loads and runs; prod loads (publish: is lazy) and says
    # what it needs only when it publishes
    assert Project.load(root, env={}).run().ok
    prod = Project.load(root, env={}, environment="prod")
    with pytest.raises(ConfigError, match="PROD_PG_PASSWORD"):
        prod.config.require_env([("publish", "warehouse")])


def test_env_option_runs_the_environment(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", CONFIG, MODELS, FILES)
    env = {k: v for k, v in os.environ.items() if k != "MEDALLION_ENV"}
    medallion("--env", "prod", "run", cwd=root, check=True, env=env)
    out = medallion(
        "--env",
        "prod",
        "query",
        "select count(*) as n from silver.orders",
        "-f",
        "json",
        cwd=root,
        check=True,
        env=env,
    )
    assert '"n": 2' in out.stdout
    assert (root / "prod-lake" / "silver" / "orders").is_dir()
    assert not (root / "lakehouse").exists()


def test_an_unknown_environment_and_a_misspelt_key_are_errors(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", CONFIG, MODELS, FILES)
    with pytest.raises(ConfigError, match="environment 'qa' is not declared") as e:
        Project.load(root, env={}, environment="qa")
    assert "prod, staging" in str(e.value)
    text = CONFIG.replace("    storage: ./prod-lake", "    storag: x")
    (root / "medallion.yml").write_text(text)
    with pytest.raises(ConfigError, match="sets 'storag'") as e:
        Project.load(root, env={})
    assert "did you mean 'storage'" in str(e.value)
    assert e.value.line == text.splitlines().index("    storag: x") + 1
    proc = medallion("--env", "qa", "status", cwd=root)
    assert proc.returncode != 0
