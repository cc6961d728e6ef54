"""Command-line tools: ``flask --app petitions <group> <command>``."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from petitions.services import actions as actions_service
from petitions.services.actions import ActionError, TargetInput
from petitions.services.demo import seed_demo_action

actions_cli = AppGroup("actions", help="Launch and close actions.")
demo_cli = AppGroup("demo", help="Demo data for trying the platform out.")


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise click.BadParameter("use the form YYYY-MM-DD") from exc


@actions_cli.command("create")
@click.argument("slug")
@click.option("--title", required=True)
@click.option("--target", "target_name", required=True, help='e.g. "UN Secretary-General"')
@click.option("--target-email", default="", help="Where the signatures are delivered.")
@click.option("--goal", type=click.IntRange(min=1), required=True)
@click.option("--body-file", type=click.File("r", encoding="utf-8"), required=True,
              help="The appeal text, in Markdown.")
@click.option("--summary", default="")
@click.option("--demand", "demands", multiple=True, help="A demand; repeat for several.")
@click.option("--deadline", callback=_parse_date, help="YYYY-MM-DD")
@click.option("--language", default="en", show_default=True)
@click.option("--publish", is_flag=True, help="Publish at once instead of keeping a draft.")
def create_action(slug: str, title: str, target_name: str, target_email: str, goal: int,
                  body_file: click.utils.LazyFile, summary: str, demands: tuple[str, ...],
                  deadline: date | None, language: str, publish: bool) -> None:
    """Create an action at /actions/SLUG."""
    try:
        action = actions_service.create_action(
            slug=slug, title=title, summary=summary, body=body_file.read(),
            demands=list(demands), goal=goal, deadline=deadline, language=language,
            targets=[TargetInput(name=target_name, email=target_email)], publish=publish)
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {action.slug} ({action.status}).")


@actions_cli.command("close")
@click.argument("slug")
def close_action(slug: str) -> None:
    """Stop taking signatures for SLUG."""
    action = actions_service.get_action(slug)
    if action is None:
        raise click.ClickException(f"no action {slug!r}")
    try:
        actions_service.close_action(action)
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Closed {slug}.")


@actions_cli.command("publish")
@click.argument("slug")
def publish_action(slug: str) -> None:
    """Publish the draft SLUG."""
    action = actions_service.get_action(slug)
    if action is None:
        raise click.ClickException(f"no action {slug!r}")
    actions_service.publish_action(action)
    click.echo(f"Published {slug}.")


@demo_cli.command("seed")
def seed() -> None:
    """Create the demo action (once; running it again changes nothing)."""
    action, created = seed_demo_action()
    click.echo(f"{'Created' if created else 'Kept'} the demo action /actions/{action.slug}")


def register(app: Flask) -> None:
    app.cli.add_command(actions_cli)
    app.cli.add_command(demo_cli)
