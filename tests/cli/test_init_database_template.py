"""`medallion init -t oltp` without its database named: the project is made (exit 0) and the
message says what to set before the first run."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import medallion


def test_init_of_a_database_template_without_its_dsn_succeeds_saying_what_to_set(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OLTP_SOURCE_DSN", "WAREHOUSE_DSN")}
    proc = medallion("init", "shop", "-t", "oltp", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "created oltp project in shop" in proc.stderr
    assert "before the first run: the OLTP template's source database is not set" in proc.stderr
    assert "export OLTP_SOURCE_DSN=" in proc.stderr
    assert "medallion generate && medallion run" in proc.stderr
    assert "error" not in proc.stderr
    assert (tmp_path / "shop" / "medallion.yml").is_file()
    # the project loads as it is
    assert medallion("validate", cwd=tmp_path / "shop", env=env).returncode == 0
