"""`medallion users`, `medallion tokens`, `medallion audit`: identities for access control and
the access audit. Identities live in the state database, never in the repository; what a
group may read is `access:` in medallion.yml."""

from __future__ import annotations

import sys

import click

from medallion.cli.common import CONTEXT, _project

ROLE = click.Choice(["admin", "member", "contributor", "viewer"])


def _read_password(stdin: bool) -> str | None:
    if not stdin:
        return None
    text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise click.UsageError("--password-stdin: the first line of standard input is empty")
    return text


@click.group(context_settings=CONTEXT)
def users() -> None:
    """Users who read the lakehouse through `query --as` and `medallion serve`, with a role
    (admin, member and contributor read every table; a viewer reads what access.grants in
    medallion.yml give its groups) and groups. Passwords are kept only as SCRAM-SHA-256
    verifiers in the state database."""


#: `users add` and `users passwd` alike
_md5_option = click.option(
    "--md5",
    is_flag=True,
    help="Also keep PostgreSQL's md5 form of the password, for old drivers that cannot do"
    " SCRAM-SHA-256 (the endpoint then asks this user for md5). Weaker: whoever reads the"
    " state database can log in as the user. `users passwd` without it clears it.",
)


@users.command("add", context_settings=CONTEXT)
@click.argument("name")
@click.option("--role", type=ROLE, required=True, help="The user's workspace role.")
@click.option("--group", "groups", multiple=True, help="A group the user is in (repeatable).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (none: token logins only).",
)
@_md5_option
@click.pass_context
def users_add(
    ctx: click.Context,
    name: str,
    role: str,
    groups: tuple[str, ...],
    password_stdin: bool,
    md5: bool,
) -> None:
    """Add user NAME."""
    password = _read_password(password_stdin)
    if md5 and password is None:
        raise click.UsageError("--md5 needs a password (--password-stdin)")
    user = _project(ctx).add_user(name, role, list(groups), password, md5=md5)
    click.echo(f"added {user.name} ({user.role}; groups: {', '.join(user.groups) or 'none'})")


@users.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Every user: effective role, groups, whether a password is set and md5 allowed."""
    from medallion.cli import render

    rows = [
        {
            "name": u.name,
            "role": u.role,
            "groups": list(u.groups),
            "password": bool(u.verifier),
            "md5": bool(u.md5),
        }
        for u in _project(ctx).identities.list()
    ]
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        click.echo("no users (medallion users add NAME --role R)")
    for r in rows:
        pw = ("password+md5" if r["md5"] else "password") if r["password"] else "no password"
        click.echo(f"{r['name']:<20} {r['role']:<12} {pw:<13} {', '.join(r['groups'])}")


@users.command("remove", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
def users_remove(ctx: click.Context, name: str) -> None:
    """Remove user NAME (and its tokens)."""
    _project(ctx).remove_user(name)
    click.echo(f"removed {name}")


@users.command("passwd", context_settings=CONTEXT)
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read it from standard input.")
@click.option("--clear", is_flag=True, help="Remove the password (token logins only).")
@_md5_option
@click.pass_context
def users_passwd(
    ctx: click.Context, name: str, password_stdin: bool, clear: bool, md5: bool
) -> None:
    """Set (or --clear) the password of NAME; without --password-stdin it is asked for.
    Without --md5 the user's md5 form (if any) is removed: SCRAM-SHA-256 only."""
    if clear and md5:
        raise click.UsageError("--md5 needs a password; --clear removes it")
    if clear:
        password = None
    elif password_stdin:
        password = _read_password(True)
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    _project(ctx).set_password(name, password, md5=md5)
    said = "cleared" if password is None else ("set (md5 allowed)" if md5 else "set")
    click.echo(f"password of {name} {said}")


@users.command("groups", context_settings=CONTEXT)
@click.argument("name")
@click.option("--add", "add", multiple=True, help="Put the user in this group (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Take the user out of this group.")
@click.option("--role", type=ROLE, help="Change the user's own role.")
@click.pass_context
def users_groups(
    ctx: click.Context, name: str, add: tuple[str, ...], remove: tuple[str, ...], role: str | None
) -> None:
    """Show or change the groups (and role) of NAME."""
    project = _project(ctx)
    if add or remove or role:
        user = project.change_groups(name, list(add), list(remove), role)
    else:
        user = project.identities.require(name)
    click.echo(f"{user.name} ({user.role}): {', '.join(user.groups) or 'no groups'}")


@users.command("group-role", context_settings=CONTEXT)
@click.argument("group")
@click.argument("role", type=click.Choice(["admin", "member", "contributor", "viewer", "none"]))
@click.pass_context
def users_group_role(ctx: click.Context, group: str, role: str) -> None:
    """Give every member of GROUP at least ROLE (`none`: the group carries no role). A user's
    effective role is the highest of its own and its groups'."""
    _project(ctx).set_group_role(group, None if role == "none" else role)
    click.echo(f"group {group}: {role}")


@click.group(context_settings=CONTEXT)
def tokens() -> None:
    """API tokens (for the HTTP API and tools that cannot do SCRAM): stored hashed, the secret
    shown once."""


@tokens.command("create", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
def tokens_create(ctx: click.Context, name: str) -> None:
    """A new token for user NAME; its secret is printed once and never stored."""
    token_id, secret = _project(ctx).create_token(name)
    click.echo(f"token {token_id} for {name} (shown once, store it now):", err=True)
    click.echo(secret)


@tokens.command("list", context_settings=CONTEXT)
@click.option("--user", "name", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def tokens_list(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Every token: id, user, created, last used, revoked."""
    from dataclasses import asdict

    from medallion.cli import render

    rows = [asdict(t) for t in _project(ctx).tokens(name)]
    if as_json:
        render.print_json(rows)
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "live"
        click.echo(
            f"{r['token_id']}  {r['user']:<16} created {r['created_at']}  "
            f"last used {r['last_used_at'] or 'never'}  {state}"
        )


@tokens.command("revoke", context_settings=CONTEXT)
@click.argument("token_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke token TOKEN_ID (it stops working at once)."""
    user = _project(ctx).revoke_token(token_id)
    click.echo(f"revoked token {token_id} of {user}")


@click.command(context_settings=CONTEXT)
@click.option("--user", "user", help="Only this user's events.")
@click.option("--since", help="Only events at or after this time (2026-12-01, 2026-12-01T08:00).")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (every event).")
@click.pass_context
def audit(ctx: click.Context, user: str | None, since: str | None, limit: int, as_json: bool):
    """The access audit (system.access_audit): logins, queries with the tables read, policies
    applied and rows returned, denied queries with the reason, user and token changes."""
    from datetime import datetime

    from medallion.cli import render

    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{since!r} is not a time", param_hint="--since") from None
        when = when if when.tzinfo else when.astimezone()
    table = _project(ctx).audit(user, when)
    if as_json:
        render.print_json(table.to_pylist())
        return
    shown = table.select(
        [
            "event_time",
            "user",
            "service",
            "action",
            "response_status",
            "response_rows",
            "response_error",
            "request",
        ]
    )
    if limit and shown.num_rows > limit:
        shown = shown.slice(shown.num_rows - limit)
    render.query_result(shown.to_reader(), fmt="table", output=None, limit=limit)
