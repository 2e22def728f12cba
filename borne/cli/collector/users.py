"""``borne collector users``: API users and tokens: add, token, list, revoke."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

users_app = typer.Typer(no_args_is_help=True, help="API users and tokens: add, list, revoke.")

ExpiresOpt = typer.Option(None, "--expires", help="The token expires after this long: 90d, 12w, 8h (default: never).")
ExpiresAtOpt = typer.Option(None, "--expires-at", help="The token works through this day (UTC), YYYY-MM-DD.")


@users_app.command("add")
def users_add(
    name: str,
    role: str = typer.Option(..., "--role", help="admin, national, prefecture or agent."),
    scope: str = typer.Option(None, "--scope", help="The département of a prefecture user, the espace of an agent."),
    expires: str = ExpiresOpt, expires_at: str = ExpiresAtOpt,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Add a user and print its API token, once: it is kept only hashed."""
    from collector.auth import AuthError, Role, add_user, expiry, issue_token

    if role not in {r.value for r in Role}:
        raise CliError(f"unknown role {role!r}: admin, national, prefecture or agent", 2)
    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            until = expiry(expires, expires_at)
            token = issue_token(session, add_user(session, name, role, scope), expires_at=until)
        except AuthError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"user {name} ({role}{' ' + scope if scope else ''}); its token, shown only now:\n{token}")


@users_app.command("token")
def users_token(name: str, expires: str = ExpiresOpt, expires_at: str = ExpiresAtOpt,
                database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Issue another token to an existing user (shown once)."""
    from sqlalchemy import select

    from collector.auth import AuthError, expiry, issue_token
    from collector.db.models import User

    try:
        until = expiry(expires, expires_at)
    except AuthError as exc:
        raise CliError(str(exc), 2) from None
    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        user = session.scalar(select(User).where(User.name == name, User.disabled_at.is_(None)))
        if user is None:
            raise CliError(f"no active user {name!r}", 2)
        token = issue_token(session, user, expires_at=until)
    typer.echo(token)


@users_app.command("list")
def users_list(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Users with their role, scope and tokens (prefixes only, with their expiry)."""
    from datetime import UTC, datetime

    from collector.auth import list_users

    now = datetime.now(UTC)
    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for user, tokens in list_users(session):
            active = [t.prefix if t.expires_at is None else
                      f"{t.prefix} ({'expired' if t.expires_at <= now else 'expires'} {t.expires_at:%Y-%m-%d %H:%M})"
                      for t in tokens if t.revoked_at is None]
            state = "disabled" if user.disabled_at else "active"
            typer.echo(f"{user.name}\t{user.role}\t{user.scope or '-'}\t{state}\ttokens: {', '.join(active) or '-'}")


@users_app.command("revoke")
def users_revoke(
    name_or_prefix: str = typer.Argument(..., help="A user's name (all its tokens) or a token's prefix."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Revoke a token, or every token of a user (and disable the user)."""
    from collector.auth import AuthError, revoke

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            count = revoke(session, name_or_prefix)
        except AuthError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"{count} token(s) revoked")
