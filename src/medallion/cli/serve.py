"""`medallion serve`: the project's tables over the PostgreSQL wire protocol, for psql, BI tools
(JDBC, ODBC) and drivers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from medallion.cli.common import CONTEXT, _project


@click.command(context_settings=CONTEXT)
@click.option("--host", help="Address to listen on [serve.host, else 127.0.0.1].")
@click.option(
    "--sql-port",
    "port",
    type=click.IntRange(0, 65535),
    help="TCP port of the PostgreSQL-wire endpoint, 0: any free port [serve.sql_port, else 5433].",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    help="Also serve the HTTP API (/api/v1, docs at /api/docs) on this port of the same host, "
    "0: any free port [serve.http_port, else no HTTP].",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM certificate for TLS (default: a self-signed one made under the state folder).",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM private key of --tls-cert (unencrypted).",
)
@click.option(
    "--statement-timeout",
    type=click.FloatRange(min=0),
    help="Seconds a statement may run before it is cancelled, for every user (0: no limit) "
    "[serve.statement_timeout and serve.roles, else none].",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    help="Most rows one statement may return, a larger result is an error, for every user "
    "(0: no cap) [serve.max_rows and serve.roles, else none].",
)
@click.option(
    "--scheduler",
    "with_scheduler",
    is_flag=True,
    help="Also run the project's pipelines on their schedules (as `medallion scheduler`, in "
    "this process).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    http_port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    statement_timeout: float | None,
    max_rows: int | None,
    with_scheduler: bool,
) -> None:
    """Serve the lakehouse as a read-only PostgreSQL database until Ctrl-C.

    Clients connect with the project's name as the database and a medallion user (SCRAM-SHA-256
    passwords; md5 for users added with --md5; no password for the users serve.trust names,
    from 127.0.0.1/::1 only); layers are schemas (`select * from gold.sales_summary_daily`).
    psql's \\dt and \\d, JDBC and ODBC catalogs list the tables the user may read. TLS is
    offered on every connection: with --tls-cert/--tls-key, or a self-signed certificate whose
    SHA-256 fingerprint is printed. A client on another host must use it (sslmode=require): a
    session from a non-loopback address without TLS is refused before its login.

    The server follows edits: each login, statement and request is checked against the access:
    grants, masks and row filters medallion.yml holds at that moment (open sessions included);
    a new model's table is known within a second of its file being saved. While an edit does
    not load (broken YAML), every login and request is refused, naming the file and line, until
    it is fixed: the server never goes on with the policy it had.

    A CancelRequest (psql's Ctrl-C, a driver's cancel) and the statement timeout stop a
    statement inside DuckDB, a long aggregation included; the client gets SQLSTATE 57014 and
    its session goes on. A client's `SET statement_timeout` may shorten its limit, not lengthen
    it. A result larger than the row cap is SQLSTATE 54000. `SET TimeZone` writes timestamptz
    values in that zone with their offset.

    With --http-port the same process serves the HTTP API (docs/http-api.md): the tables, rows
    as JSON, CSV, Parquet or xlsx, queries, runs, lineage and pipelines, for the same users
    (HTTP Basic with their password, bearer API tokens, a session cookie) under the same
    grants, masks, row filters, limits and audit. It is plain HTTP on a loopback host without
    --tls-cert; HTTPS with the given certificate, or with the self-signed one when the host is
    not loopback (a password never crosses a network in clear).

    Defaults come from medallion.yml; a flag replaces the file's value for every user:

    \b
      serve:
        host: 127.0.0.1
        sql_port: 5433
        http_port: 8080                  # none (the default): no HTTP API
        statement_timeout: 5 minutes     # a duration; none: no limit
        max_rows: 1000000                # 0: no cap
        roles:                           # admin | member | contributor | viewer
          viewer: {statement_timeout: 30 seconds, max_rows: 10000}
        trust: [ops]                     # no password, from 127.0.0.1/::1 only

    \b
      medallion serve                              127.0.0.1:5433
      psql "host=127.0.0.1 port=5433 dbname=shop user=ana sslmode=require"
      medallion serve --http-port 8080             the API too: http://127.0.0.1:8080/api/docs
      curl -u ana http://127.0.0.1:8080/api/v1/tables
    """
    import logging

    from medallion.serve.live import LiveProject
    from medallion.serve.pgwire.backend import ProjectBackend
    from medallion.serve.pgwire.server import (
        Server,
        fingerprint,
        loopback,
        self_signed,
        tls_context,
    )

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    project = _project(ctx)
    settings = project.config.serve
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    # SQLGlot warns when it parses a statement as a Command (EXPLAIN ...): the read policy
    # refuses or allows it on its own; the note is the library's, not the operator's
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    folder = project.state_dir / "serve"
    generated = tls_cert is None
    if tls_cert is None or tls_key is None:
        tls_cert, tls_key = self_signed(folder)
    live = LiveProject(project)  # both endpoints follow edits of medallion.yml and models
    server = Server(
        ProjectBackend(live),
        host=settings.host if host is None else host,
        port=settings.sql_port if port is None else port,
        ssl_context=tls_context(tls_cert, tls_key),
        statement_timeout=statement_timeout,  # None: each user's, from medallion.yml
        max_rows=max_rows,
        punch_list=folder / "catalog-punchlist.log",
    )
    name = project.config.name
    click.echo(f"medallion SQL endpoint: project {name} on {server.host}:{server.port}")
    kind = "self-signed" if generated else "given"
    click.echo(f"  TLS certificate ({kind}): {tls_cert}")
    click.echo(f"  SHA-256 fingerprint: {fingerprint(tls_cert)}")
    where = _reachable(server.host)
    click.echo(f'  psql "host={where} port={server.port} dbname={name} user=USER sslmode=require"')
    if not loopback(server.host):
        click.echo("  clients on other hosts must use TLS (sslmode=require or verify-full)")
    http_port = settings.http_port if http_port is None else http_port
    web = None
    if http_port is not None:
        https = not generated or not loopback(server.host)
        tls = (tls_cert, tls_key) if https else None
        limits = (statement_timeout, max_rows)
        web = _start_http(live, server.host, http_port, tls, limits)
    click.echo("Ctrl-C stops it.", err=True)
    background = _start_scheduler(project) if with_scheduler else None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if web is not None:
            web()
        if background is not None:
            background()
        from medallion.faults import forget_interrupt

        forget_interrupt()  # Ctrl-C stopped the server; the audit's last events still written
        live.flush()  # the logins and queries of the last seconds, before the process ends
    click.echo("stopped", err=True)


def _start_scheduler(project: Any) -> Callable[[], None]:
    """The scheduler on a thread of this process (one per project: refused if one runs);
    returns what stops it (the running step finishes first)."""
    import logging
    import threading

    from medallion.cli.pipelines import notifier_for
    from medallion.orchestrate.scheduler import Scheduler

    if not project.config.pipelines:
        raise click.ClickException("--scheduler: medallion.yml declares no pipelines")
    lock = project.scheduler_lock()
    logging.getLogger("medallion.scheduler").setLevel(logging.INFO)
    stop = threading.Event()
    notifier = notifier_for(project)
    sched = Scheduler(project, notifier=notifier, stop=stop)
    thread = threading.Thread(target=sched.serve, name="medallion-scheduler", daemon=True)
    thread.start()
    click.echo(f"  scheduler: pipelines {', '.join(project.config.pipelines)}")

    def halt() -> None:
        stop.set()
        thread.join()
        if notifier is not None:
            notifier.close()
        lock.release()

    return halt


def _reachable(host: str) -> str:
    """Where a client connects to a server listening on `host`: a wildcard address is where to
    listen, not where to connect, so this machine's name stands for it."""
    import socket

    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host


def _start_http(
    project: Any,
    host: str,
    port: int,
    tls: tuple[Path, Path] | None,
    limits: tuple[float | None, int | None],
) -> Callable[[], None]:
    """The HTTP API (uvicorn) on a thread of this process, with the flags' limits (None: each
    user's from medallion.yml); returns what stops it."""
    import logging
    import socket
    import threading

    import uvicorn

    from medallion.serve.http import create_app
    from medallion.serve.http.reading import QuietStreamCuts

    logging.getLogger("uvicorn.error").addFilter(QuietStreamCuts())
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise click.ClickException(f"--http-port {port}: cannot listen on {host}: {e}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(project, statement_timeout=limits[0], max_rows=limits[1]),
        log_level="warning",
        access_log=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        timeout_graceful_shutdown=5,
    )
    web = uvicorn.Server(config)
    thread = threading.Thread(
        target=web.run, kwargs={"sockets": [sock]}, name="medallion-http", daemon=True
    )
    thread.start()
    scheme = "https" if tls else "http"
    where = _reachable(host)
    where = f"[{where}]" if ":" in where else where
    click.echo(f"medallion HTTP API: {scheme}://{where}:{bound}/api/v1 (docs: /api/docs)")

    def halt() -> None:
        web.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return halt
