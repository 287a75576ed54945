"""The OLTP template: a PostgreSQL shop database -> lakehouse -> marts in a PostgreSQL warehouse.

`medallion demo -t oltp` needs two databases; `demo_environment` starts a throwaway PostgreSQL
server inside the demo folder (when the server binaries are installed) and points
OLTP_SOURCE_DSN and WAREHOUSE_DSN at it for the duration of the demo; `demo_afterwards` tells
how to start it again for a second day's extract.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Mapping
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


#: which database of the demo's server each variable names
_DATABASES = {"OLTP_SOURCE_DSN": "shop", "WAREHOUSE_DSN": "warehouse"}


def demo_afterwards(dest: Path, env: Mapping[str, str]) -> str:
    """What the demo prints last: its server is stopped; how to start it again (same cluster,
    the variables exported) to add a day of changes and extract them incrementally."""
    from medallion.errors import mask_dsn

    if not env:  # the user's own databases: nothing of ours to restart
        return ""
    dsns = ", ".join(f"{k}={mask_dsn(v)}" for k, v in env.items())
    pgdata = dest / ".pgdata"
    # the cluster stays in the project unless the server had to put it elsewhere (see PgServer)
    if not (pgdata / "data" / "PG_VERSION").is_file():
        return (
            f"the demo's PostgreSQL server is stopped now; it was removed ({dsns}): its OS user "
            f"cannot read {dest}. Run the demo without a folder (or in one others can read) to "
            "keep it for a second day."
        )
    server = f"{_python()} -m medallion.devservers.pgserver {shlex.quote(str(pgdata))}"
    exports = " ".join(f"--export {k}={_DATABASES[k]}" for k in env if k in _DATABASES)
    project = shlex.quote(str(dest))
    return (
        f"the demo's PostgreSQL server is stopped now; its data stay in {pgdata} ({dsns}).\n"
        "A second day of orders, extracted incrementally: start it again with the variables "
        "set, add the day's changes, run, stop it:\n"
        f'  eval "$({server} --detach {exports})"\n'
        f"  medallion -p {project} generate --day 2 && medallion -p {project} run\n"
        f"  {server} --stop"
    )


def _python() -> str:
    """`python` when that is the interpreter running medallion, else its full path (a pipx or
    virtualenv install whose python is not on PATH)."""
    import shutil
    import sys

    found = shutil.which("python")
    if found and Path(found).resolve() == Path(sys.executable).resolve():
        return "python"
    return shlex.quote(sys.executable)
