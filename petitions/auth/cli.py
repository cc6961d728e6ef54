"""``flask --app petitions users …``: accounts and API tokens from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from petitions.models import Role, Scope
from petitions.services import accounts, two_factor

users_cli = AppGroup("users", help="Staff accounts and API tokens.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
@click.option("--name", default=None, help="The person's name, shown in the console.")
def create_user(email: str, role: str, password: str | None, name: str | None) -> None:
    """Create an admin or organizer who logs in at /login."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(email, role, password=password, name=name, via="cli")
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {user.role} #{user.id}.")


@users_cli.command("reset-two-factor")
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Turn off EMAIL's two-factor login (a lost phone, and no other admin to do it)."""
    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException("no user with that email address")
    two_factor.reset(user, actor=None, via="cli")
    click.echo(f"Two-factor login of {user.role} #{user.id} is reset; their sessions ended.")


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice([s.value for s in Scope]),
              help="What the token may do; repeat for several. Default: every scope.")
@click.option("--expires-days", type=click.IntRange(1, accounts.MAX_TOKEN_DAYS), default=None,
              help="Days until the token expires. Default: API_TOKEN_DAYS.")
def create_token(email: str, name: str, scopes: tuple[str, ...],
                 expires_days: int | None) -> None:
    """Create an API token for EMAIL; the token is printed alone on the last line."""
    user = accounts.find_user(email)
    if user is None or not user.active:
        raise click.ClickException("no active user with that email address")
    try:
        record, token = accounts.create_token(user, name=name, via="cli",
                                              scopes=scopes or None,
                                              expires_days=expires_days)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Scopes: {record.scopes}; expires {record.expires_at:%Y-%m-%d %H:%M} UTC.")
    click.echo("Keep this token secret; it is shown only once:")
    click.echo(token)
