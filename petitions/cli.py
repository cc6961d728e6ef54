"""Command-line tools: ``flask --app petitions <group> <command>``."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from petitions.crypto import generate_intake_keys, generate_key, vault
from petitions.models import ActionStatus
from petitions.services import actions as actions_service
from petitions.services import keys as keys_service
from petitions.services.actions import ActionError, TargetInput
from petitions.services.demo import seed_demo_action

actions_cli = AppGroup("actions", help="Launch and close actions.")
demo_cli = AppGroup("demo", help="Demo data for trying the platform out.")
keys_cli = AppGroup("keys", help="Keys that encrypt the signers' personal data.")


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
@click.option("--topic", "topics", multiple=True,
              help="A topic's key from the managed list; repeat for several.")
@click.option("--region", default="", help="A region's key from the managed list.")
@click.option("--publish", is_flag=True, help="Publish at once instead of keeping a draft.")
def create_action(slug: str, title: str, target_name: str, target_email: str, goal: int,
                  body_file: click.utils.LazyFile, summary: str, demands: tuple[str, ...],
                  deadline: date | None, language: str, topics: tuple[str, ...], region: str,
                  publish: bool) -> None:
    """Create an action at /actions/SLUG."""
    try:
        action = actions_service.create_action(
            slug=slug, title=title, summary=summary, body=body_file.read(),
            demands=list(demands), goal=goal, deadline=deadline, language=language,
            topics=list(topics), region=region,
            targets=[TargetInput(name=target_name, email=target_email)], publish=publish)
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {action.slug} ({action.status}).")


def _move(slug: str, status: ActionStatus) -> None:
    action = actions_service.get_action(slug)
    if action is None:
        raise click.ClickException(f"no action {slug!r}")
    try:
        actions_service.update_action(action, {"status": status}, actor=None, via="cli")
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc


@actions_cli.command("close")
@click.argument("slug")
def close_action(slug: str) -> None:
    """Stop taking signatures for SLUG."""
    _move(slug, ActionStatus.CLOSED)
    click.echo(f"Closed {slug}.")


@actions_cli.command("publish")
@click.argument("slug")
def publish_action(slug: str) -> None:
    """Publish the draft SLUG."""
    _move(slug, ActionStatus.PUBLISHED)
    click.echo(f"Published {slug}.")


@demo_cli.command("seed")
def seed() -> None:
    """Create the demo action (once; running it again changes nothing)."""
    action, created = seed_demo_action()
    click.echo(f"{'Created' if created else 'Kept'} the demo action /actions/{action.slug}")


@keys_cli.command("generate")
def generate_keys() -> None:
    """Print new keys as environment lines, ready to paste into the server's settings.

    Only the key lines go to standard output (so ``>> .env`` works); the advice goes
    to standard error.
    """
    public, private = generate_intake_keys()
    click.echo(f"PII_ENCRYPTION_KEYS={generate_key()}")
    click.echo(f"PII_INDEX_KEY={generate_key()}")
    click.echo(f"INTAKE_PUBLIC_KEY={public}")
    click.echo(f"INTAKE_PRIVATE_KEY={private}")
    click.echo(
        "\nINTAKE_PUBLIC_KEY goes to every process; INTAKE_PRIVATE_KEY only to the vault "
        "workers (the Celery workers serving the 'vault' queue), never to the web tier.",
        err=True)
    click.echo(
        "\nA new installation uses every line. To rotate the encryption key of a running "
        "one, take only the new PII_ENCRYPTION_KEYS value, put it FIRST in front of the "
        "keys already set (comma-separated), and keep PII_INDEX_KEY unchanged: a new index "
        "key would stop duplicate signatures from being recognized. Back the keys up: "
        "without them, the names and addresses in the database cannot be read.",
        err=True)


@keys_cli.command("rotate")
@click.option("--batch-size", type=click.IntRange(min=1), default=keys_service.DEFAULT_BATCH_SIZE,
              show_default=True, help="Rows re-encrypted per transaction.")
@click.option("--dry-run", is_flag=True, help="Only count the values under older keys.")
def rotate_keys(batch_size: int, dry_run: bool) -> None:
    """Re-encrypt every stored value under the first key of PII_ENCRYPTION_KEYS.

    Safe while the site is serving, once every process runs with the new key list;
    interrupted, it resumes where it stopped when run again.
    """
    current = vault().current_key_id.hex()
    columns = keys_service.encrypted_columns()
    if dry_run:
        for column in columns:
            click.echo(f"{column.name}: {keys_service.count_stale(column)} under older keys")
        return

    def progress(batch: keys_service.BatchResult) -> None:
        line = f"{batch.column}: {batch.rotated} re-encrypted up to id {batch.last_id}"
        if batch.conflicts:
            line += f", {batch.conflicts} changed meanwhile (kept as the application wrote them)"
        click.echo(line)

    click.echo(f"Re-encrypting under key {current}, {batch_size} rows at a time.")
    try:
        report = keys_service.rotate(batch_size, progress=progress)
    except keys_service.RotationError as exc:
        raise click.ClickException(f"{exc} Re-encrypted so far is kept; run again after "
                                   "fixing the key list.") from exc
    click.echo(f"Re-encrypted {report.rotated} values in {len(columns)} columns.")
    if report.remaining:
        stale = ", ".join(f"{c.column} ({c.remaining})" for c in report.columns if c.remaining)
        raise click.ClickException(
            f"{report.remaining} values are still under an older key: {stale}. A process "
            "may still run without the new key; restart it with the new key list and run "
            "this command again. Do not remove the old keys yet.")
    click.echo(f"Every encrypted value is under key {current}: the older keys can now be "
               "removed from PII_ENCRYPTION_KEYS.")


def register(app: Flask) -> None:
    from petitions.auth.cli import users_cli
    from petitions.privacy_cli import privacy_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(actions_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(privacy_cli)
