"""The OLTP template: a PostgreSQL shop database -> lakehouse -> marts in a PostgreSQL warehouse.

`medallion demo -t oltp` needs two databases; `demo_environment` starts a throwaway PostgreSQL
server inside the demo folder (when the server binaries are installed) and points
OLTP_SOURCE_DSN and WAREHOUSE_DSN at it for the duration of the demo.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DESCRIPTION = (
    "An OLTP PostgreSQL shop extracted incrementally -> staging, intermediate -> marts "
    "published to a PostgreSQL warehouse (a Python EL + dbt + Airflow system, migrated)"
)
DEFAULT_ROWS = 3000
ROWS_UNIT = "order items"
DATA_LOCATION = "the source database ($OLTP_SOURCE_DSN)"
ORDER = 10


@contextmanager
def demo_environment(dest: Path) -> Iterator[dict[str, str]]:
    """OLTP_SOURCE_DSN / WAREHOUSE_DSN for the demo: the user's own if both are set, else a
    throwaway server in `<dest>/.pgdata`, stopped when the demo ends."""
    if os.environ.get("OLTP_SOURCE_DSN") and os.environ.get("WAREHOUSE_DSN"):
        yield {}
        return
    from medallion.devservers.pgserver import PgServer, PgServerError
    from medallion.errors import TemplateError

    server = PgServer(dest / ".pgdata")
    try:
        server.start()
    except PgServerError as e:
        raise TemplateError(
            f"the OLTP demo needs PostgreSQL: {e}",
            hint="install the server (apt-get install postgresql), or set OLTP_SOURCE_DSN and "
            "WAREHOUSE_DSN to two databases you have",
        ) from None
    try:
        server.create_database("shop")
        server.create_database("warehouse")
        env = {"OLTP_SOURCE_DSN": server.dsn("shop"), "WAREHOUSE_DSN": server.dsn("warehouse")}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        # a cluster the server had to place outside the folder (see PgServer) is removed
        kept = Path(server.data_dir).resolve().is_relative_to(dest.resolve())
        if kept:
            server.stop()
        else:
            server.cleanup()
