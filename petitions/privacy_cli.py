"""``flask --app petitions privacy ...``: data-subject requests from the command line."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from petitions.services import dsr

privacy_cli = AppGroup("privacy", help="Data-subject requests: export or erase an address.")


_PAPER_NAME = click.option(
    "--paper-name", metavar="NAME",
    help="Also the paper signatures under this first and last name (paper has no address).")


@privacy_cli.command("export")
@click.argument("email")
@_PAPER_NAME
def export_command(email: str, paper_name: str | None) -> None:
    """Print, as JSON, everything held about EMAIL."""
    try:
        data = dsr.export(email, actor=None, via="cli", paper_name=paper_name)
    except dsr.RequestError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@privacy_cli.command("erase")
@click.argument("email")
@_PAPER_NAME
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(email: str, paper_name: str | None, yes: bool) -> None:
    """Delete the signatures and the subscription of EMAIL (counts adjusted), and
    rebuild the delivery packages that listed them."""
    if not yes:
        click.confirm(f"Erase everything held about {email}?", abort=True)
    try:
        erasure = dsr.erase(email, actor=None, via="cli", paper_name=paper_name)
    except dsr.RequestError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Erased {erasure.signatures} signature(s)"
               f"{' and the network subscription' if erasure.subscriber else ''}.")
    if paper_name:
        click.echo(f"Erased {erasure.paper_signatures} paper signature(s).")
    if erasure.packages_rebuilt:
        click.echo(f"Rebuilt {erasure.packages_rebuilt} delivery package(s) without them.")
    if erasure.already_delivered:
        ids = ", ".join(str(i) for i in erasure.already_delivered)
        click.echo(f"Already sent to the targets before this erasure (that copy cannot be "
                   f"recalled): delivery {ids}.")
    if erasure.staff_account:
        click.echo("This address also has a staff account: an admin removes it in the "
                   "console (Users).")
