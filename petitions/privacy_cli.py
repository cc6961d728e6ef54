"""``flask --app petitions privacy ...``: data-subject requests from the command line."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from petitions.services import dsr

privacy_cli = AppGroup("privacy", help="Data-subject requests: export or erase an address.")


@privacy_cli.command("export")
@click.argument("email")
def export_command(email: str) -> None:
    """Print, as JSON, everything held about EMAIL."""
    try:
        data = dsr.export(email, actor=None, via="cli")
    except dsr.RequestError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@privacy_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(email: str, yes: bool) -> None:
    """Delete the signatures and the subscription of EMAIL (counts adjusted)."""
    if not yes:
        click.confirm(f"Erase everything held about {email}?", abort=True)
    try:
        erasure = dsr.erase(email, actor=None, via="cli")
    except dsr.RequestError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Erased {erasure.signatures} signature(s)"
               f"{' and the network subscription' if erasure.subscriber else ''}.")
    if erasure.staff_account:
        click.echo("This address also has a staff account: an admin removes it in the "
                   "console (Users).")
