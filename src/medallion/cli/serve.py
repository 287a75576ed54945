"""`medallion serve`: the project's tables over the PostgreSQL wire protocol, for psql, BI tools
(JDBC, ODBC) and drivers."""

from __future__ import annotations

from pathlib import Path

import click

from medallion.cli.common import CONTEXT, _project


@click.command(context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--sql-port",
    "port",
    default=5433,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port of the PostgreSQL-wire endpoint (0: any free port).",
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
    default=0,
    help="Seconds a statement may run before it is cancelled (0: no limit).",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=0,
    help="Most rows one statement may return; a larger result is an error (0: no cap).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    statement_timeout: float,
    max_rows: int,
) -> None:
    """Serve the lakehouse as a read-only PostgreSQL database until Ctrl-C.

    Clients connect with the project's name as the database and a medallion user (SCRAM-SHA-256
    passwords); layers are schemas (`select * from gold.sales_summary_daily`). psql's \\dt and
    \\d, JDBC and ODBC catalogs list the tables the user may read. TLS is offered on every
    connection: with --tls-cert/--tls-key, or a self-signed certificate whose SHA-256
    fingerprint is printed.

    \b
      medallion serve                              127.0.0.1:5433
      psql "host=127.0.0.1 port=5433 dbname=shop user=ana sslmode=require"
    """
    import logging

    from medallion.serve.pgwire.backend import ProjectBackend
    from medallion.serve.pgwire.server import Server, fingerprint, self_signed, tls_context

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    project = _project(ctx)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    folder = project.state_dir / "serve"
    generated = tls_cert is None
    if tls_cert is None or tls_key is None:
        tls_cert, tls_key = self_signed(folder)
    server = Server(
        ProjectBackend(project),
        host=host,
        port=port,
        ssl_context=tls_context(tls_cert, tls_key),
        statement_timeout=statement_timeout or None,
        max_rows=max_rows or None,
        punch_list=folder / "catalog-punchlist.log",
    )
    name = project.config.name
    click.echo(f"medallion SQL endpoint: project {name} on {server.host}:{server.port}")
    kind = "self-signed" if generated else "given"
    click.echo(f"  TLS certificate ({kind}): {tls_cert}")
    click.echo(f"  SHA-256 fingerprint: {fingerprint(tls_cert)}")
    click.echo(
        f'  psql "host={server.host} port={server.port} dbname={name} user=USER sslmode=require"'
    )
    click.echo("Ctrl-C stops it.", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    click.echo("stopped", err=True)
