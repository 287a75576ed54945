"""A PostgreSQL DSN that libpq refuses before it reaches any server (an invalid option value,
a port that is no number, an unknown option) is the configuration, not a network hiccup: the
step fails at once, not after its retries, says the DSN is not valid and what to fix, and
never shows the password. No server is needed: libpq refuses these before connecting."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from medallion.project import Project

PASSWORD = "Sup3rSecretPw"


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        (
            f"postgresql://etl:{PASSWORD}@127.0.0.1:1/crm?sslmode=bogus",
            'invalid sslmode value: "bogus"',
        ),
        (f"postgresql://etl:{PASSWORD}@127.0.0.1:1:2/crm", 'invalid integer value "1:2"'),
        (f"postgresql://etl:{PASSWORD}@127.0.0.1:1/crm?sslmod=require", 'parameter: "sslmod"'),
        (f"host=127.0.0.1 port=1 password={PASSWORD} sslmode=bogus", "invalid sslmode value"),
    ],
)
def test_an_invalid_dsn_fails_at_once_saying_so(tmp_path: Path, dsn: str, said: str) -> None:
    (tmp_path / "medallion.yml").write_text(
        "name: p\nsources:\n  events:\n    type: postgres\n"
        f"    dsn: '{dsn}'\n    table: public.events\n    cursor: updated_at\n"
        "    retries: 5\n    retry_backoff: 2\n",
        encoding="utf-8",
    )
    project = Project.load(tmp_path)
    started = time.monotonic()
    result = project.run()
    assert time.monotonic() - started < 5  # not retried (5 retries would wait 62 s)
    assert result.status == "failed"
    error = result.step("bronze.events").error or ""
    assert "the DSN is not valid" in error and said in error, error
    assert "retries" not in error and "reachable" not in error, error
    assert "fix the option in the DSN" in error, error
    assert PASSWORD not in error + repr(project.steps(result.run_id))
    assert not (tmp_path / "lakehouse" / "bronze" / "events" / "_delta_log").exists()
