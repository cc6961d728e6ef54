"""Launching, editing and moving actions through their lifecycle; rendering appeal texts.

Every change made by a person goes through here and lands in the audit log.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, astuple, dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import nh3
from email_validator import EmailNotValidError, validate_email
from markdown_it import MarkdownIt
from sqlalchemy import nulls_last, select
from sqlalchemy.exc import IntegrityError

from petitions.extensions import db
from petitions.models import Action, ActionStatus, Target, utcnow
from petitions.services import audit, counting

if TYPE_CHECKING:
    from petitions.models import User

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGES = ("en", "fr", "de", "it", "es", "fa", "ar")
# Texts of an action that may run over several lines; the others (the title, each
# demand, a target's name, title, organization and email) are one line each.
MULTI_LINE_FIELDS = frozenset({"summary", "body"})
# No text of an action may hold a control character (C0, DEL, C1; NUL, which PostgreSQL
# refuses, among them) or a Unicode line or paragraph separator: they garble pages, CSV
# cells and PDF letters, and a line break in a title would break the email headers
# built from it (``mail.header_text`` cleans what was stored before this rule).
# Multi-line texts keep tab, line feed and carriage return.
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

# Which status may follow which. Steps back are allowed where they undo a mistake:
# reopening a closed action, un-delivering, un-archiving, or taking an action
# without signatures back to draft.
TRANSITIONS: dict[ActionStatus, frozenset[ActionStatus]] = {
    ActionStatus.DRAFT: frozenset({ActionStatus.PUBLISHED, ActionStatus.ARCHIVED}),
    ActionStatus.PUBLISHED: frozenset({ActionStatus.CLOSED, ActionStatus.DRAFT}),
    ActionStatus.CLOSED: frozenset({ActionStatus.PUBLISHED, ActionStatus.DELIVERED,
                                    ActionStatus.ARCHIVED}),
    ActionStatus.DELIVERED: frozenset({ActionStatus.CLOSED, ActionStatus.ARCHIVED}),
    ActionStatus.ARCHIVED: frozenset({ActionStatus.CLOSED, ActionStatus.DRAFT}),
}


class ActionError(ValueError):
    """An action can't be created or changed as asked. ``errors`` maps fields to reasons."""

    def __init__(self, message: str | None = None, *, errors: dict[str, str] | None = None,
                 field: str = "action") -> None:
        self.errors = errors or {field: message or "invalid"}
        super().__init__(message or "; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class SlugTakenError(ActionError):
    pass


class AdminOnlyError(ActionError):
    """The change is an admin's to make (who asked may be an organizer)."""


@dataclass(frozen=True)
class TargetInput:
    name: str
    title: str = ""
    organization: str = ""
    email: str = ""


@lru_cache(maxsize=256)
def render_markdown(text: str) -> str:
    """CommonMark to HTML, with raw HTML off and the result sanitized again by nh3."""
    return nh3.clean(_markdown.render(text), link_rel="noopener noreferrer nofollow")


# What makes a reader fetch from elsewhere: nh3 already drops <link>, <iframe>, <style>,
# the style, srcset and background attributes; an image is all that is left.
_OFFLINE_TAGS = nh3.ALLOWED_TAGS - {"img"}


@lru_cache(maxsize=256)
def render_markdown_offline(text: str) -> str:
    """As ``render_markdown``, for HTML read away from the site (emails, PDF letters):
    without any remote resource, so that no signer's mail client (nor the worker
    building a letter) pings whoever the text points at. Links stay."""
    return nh3.clean(render_markdown(text), tags=_OFFLINE_TAGS,
                     link_rel="noopener noreferrer nofollow")


def slugify(text: str, max_length: int = 80) -> str:
    """Lower-case ASCII letters and digits parted by single hyphens, from ``text``:
    accents dropped (é → e), everything else a hyphen; empty for a text with no Latin
    letter or digit. static/js/slug.js applies the same rule in the browser."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def suggest_slug(title: str) -> str:
    """A free slug for an action called ``title``: ``slugify(title)``, or for a title in
    another script "action-" and the date; with "-2", "-3"… when taken."""
    base = slugify(title, 72) or f"action-{date.today():%Y%m%d}"
    slug, number = base, 1
    while db.session.scalar(select(Action.id).where(Action.slug == slug)) is not None:
        number += 1
        slug = f"{base}-{number}"
    return slug


def _check_fields(fields: dict[str, Any], action: Action | None = None) -> None:
    """Validate the fields present in ``fields`` (changes to ``action``, if given);
    raise ActionError naming each bad one."""
    errors: dict[str, str] = {}
    if "slug" in fields:
        slug = fields["slug"]
        if not isinstance(slug, str) or not SLUG_PATTERN.match(slug) or len(slug) > 80:
            errors["slug"] = "the slug must be lower-case letters, digits and single hyphens"
    if "title" in fields and (not isinstance(fields["title"], str)
                              or not fields["title"].strip() or len(fields["title"]) > 200):
        errors["title"] = "the title must not be empty and at most 200 characters"
    if "summary" in fields and (not isinstance(fields["summary"], str)
                                or len(fields["summary"]) > 500):
        errors["summary"] = "the summary must be at most 500 characters"
    if "body" in fields and (not isinstance(fields["body"], str)
                             or len(fields["body"]) > 100_000):
        errors["body"] = "the body must be text of at most 100,000 characters"
    if "goal" in fields and (not isinstance(fields["goal"], int)
                             or isinstance(fields["goal"], bool)
                             or not 1 <= fields["goal"] <= 1_000_000_000):
        errors["goal"] = "the goal must be at least 1"
    if "deadline" in fields and fields["deadline"] is not None and not isinstance(
            fields["deadline"], date):
        errors["deadline"] = "the deadline must be a date"
    if "language" in fields and fields["language"] not in LANGUAGES:
        errors["language"] = f"the language must be one of {', '.join(LANGUAGES)}"
    if "targets" in fields:
        target_error = _check_targets(fields["targets"])
        if target_error:
            errors["targets"] = target_error
    if "topics" in fields or "region" in fields:
        from petitions.services import topics  # it needs slugify from here

        errors.update(topics.action_errors(
            fields.get("topics"), fields.get("region"),
            kept_topics=action.topics or [] if action else [],
            kept_region=action.region if action else ""))
    for name, message in text_errors(fields).items():
        errors.setdefault(name, message)
    if errors:
        raise ActionError(errors=errors)


def text_errors(fields: Mapping[str, Any],
                multi_line: Collection[str] = MULTI_LINE_FIELDS) -> dict[str, str]:
    """The texts in ``fields`` that hold a character no text of an action may (see
    ``_NOT_IN_TEXT``), each with the reason; ``multi_line`` names the texts that may
    run over several lines."""
    errors: dict[str, str] = {}
    for name, value in fields.items():
        if name in multi_line and _has_control_characters(value, _NOT_IN_TEXT):
            errors[name] = f"the {name} must not contain control characters"
        elif name not in multi_line and _has_control_characters(value, _NOT_IN_LINE):
            errors[name] = f"the {name} must not contain control characters or line breaks"
    return errors


def _has_control_characters(value: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(value, str):
        return pattern.search(value) is not None
    if isinstance(value, TargetInput):
        return _has_control_characters(list(astuple(value)), pattern)
    if isinstance(value, list | tuple):
        return any(_has_control_characters(item, pattern) for item in value)
    return False


def _check_targets(targets: list[TargetInput]) -> str | None:
    if not targets:
        return "an action needs at least one target"
    for target in targets:
        if not target.name.strip() or len(target.name) > 200:
            return "every target needs a name of at most 200 characters"
        if len(target.title) > 200 or len(target.organization) > 200:
            return "a target's title and organization are at most 200 characters each"
        if target.email:
            try:
                validate_email(target.email, check_deliverability=False)
            except EmailNotValidError:
                return f"the target email {target.email!r} is not valid"
    return None


def snapshot(action: Action) -> dict[str, Any]:
    """The fields of an action as plain values, for the audit log."""
    return {
        "slug": action.slug, "title": action.title, "summary": action.summary,
        "body": action.body, "demands": action.demand_list, "goal": action.goal,
        "deadline": action.deadline.isoformat() if action.deadline else None,
        "language": action.language, "status": str(action.status),
        "targets": [asdict(TargetInput(t.name, t.title, t.organization, t.email))
                    for t in action.targets],
        "organizers": sorted(u.id for u in action.organizers),
        "proof_of_work": action.proof_of_work, "keep_data": action.keep_data,
        "topics": list(action.topics or []), "region": action.region,
    }


def create_action(*, slug: str, title: str, targets: list[TargetInput], goal: int,
                  body: str = "", summary: str = "", demands: list[str] | None = None,
                  deadline: date | None = None, language: str = "en",
                  topics: list[str] | None = None, region: str = "",
                  proof_of_work: bool = False, keep_data: bool = False,
                  publish: bool = False, organizers: list[User] | None = None,
                  actor: User | None = None, via: str = "cli") -> Action:
    """A new action (a draft unless ``publish``); every field goes through the same
    checks as an update."""
    topics = sorted(set(topics)) if isinstance(topics, list) else topics
    _check_fields({"slug": slug, "title": title, "targets": targets, "goal": goal,
                   "body": body, "summary": summary, "demands": demands or [],
                   "deadline": deadline, "language": language,
                   "topics": topics or [], "region": region})
    if db.session.scalar(select(Action.id).where(Action.slug == slug)) is not None:
        raise SlugTakenError(f"the slug {slug!r} is taken", field="slug")
    action = Action(slug=slug, title=title.strip(), summary=summary.strip(), body=body,
                    demands=_join_demands(demands), goal=goal, deadline=deadline,
                    language=language, status=ActionStatus.DRAFT,
                    topics=list(topics or []), region=region,
                    proof_of_work=proof_of_work, keep_data=keep_data,
                    targets=_targets(targets), organizers=list(organizers or []))
    if publish:
        _set_status(action, ActionStatus.PUBLISHED)
    db.session.add(action)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise SlugTakenError(f"the slug {slug!r} is taken", field="slug") from exc
    counting.create_shards(action.id)
    audit.record("action.create", "action", action.id, actor=actor, via=via,
                 after=snapshot(action))
    db.session.commit()
    return action


def update_action(action: Action, changes: dict[str, Any], *, actor: User | None,
                  via: str = "web") -> Action:
    """Apply a partial update. ``status`` goes through the lifecycle rules.

    Everything is checked before anything is changed, so a refused update leaves the
    action (and the session) as it was.
    """
    _check_fields(changes, action)
    new_status = ActionStatus(changes["status"]) if "status" in changes else action.status
    if new_status != action.status:
        error = _transition_error(action, new_status)
        if error:
            raise ActionError(error, field="status")
    if "slug" in changes and changes["slug"] != action.slug and db.session.scalar(
            select(Action.id).where(Action.slug == changes["slug"])) is not None:
        raise SlugTakenError(f"the slug {changes['slug']!r} is taken", field="slug")
    old_addresses = delivery_addresses(action.targets)
    moves_delivery = ("targets" in changes
                      and delivery_addresses(changes["targets"]) != old_addresses)
    if moves_delivery and actor is not None and not actor.is_admin:
        raise AdminOnlyError(_ONLY_ADMINS_REDIRECT, field="targets")
    before = snapshot(action)
    for name in ("title", "summary"):
        if name in changes:
            setattr(action, name, changes[name].strip())
    for name in ("slug", "body", "goal", "deadline", "language", "proof_of_work",
                 "keep_data", "region"):
        if name in changes:
            setattr(action, name, changes[name])
    if "topics" in changes:
        action.topics = sorted(set(changes["topics"]))
    if "demands" in changes:
        action.demands = _join_demands(changes["demands"])
    if "targets" in changes:
        action.targets = _targets(changes["targets"])
    if "organizers" in changes:
        action.organizers = list(changes["organizers"])
    if new_status != action.status:
        _set_status(action, new_status)
    audit.record("action.update", "action", action.id, actor=actor, via=via,
                 before=before, after=snapshot(action))
    if moves_delivery:
        # Where the signatures go, on its own line of the log, for a review of exactly
        # that. The addresses are officials' public ones, kept in clear.
        audit.record("action.delivery_addresses", "action", action.id, actor=actor, via=via,
                     before={"emails": old_addresses},
                     after={"emails": delivery_addresses(action.targets)})
    _commit_or_slug_taken(changes.get("slug", action.slug))
    return action


_ONLY_ADMINS_REDIRECT = ("Only an admin may change where the signatures are delivered (the "
                         "targets' email addresses).")


def delivery_addresses(targets: Iterable[Target | TargetInput]) -> list[str]:
    """Where a delivery goes: the targets' addresses, in no particular order."""
    return sorted(email.strip().casefold() for email in (t.email or "" for t in targets)
                  if email.strip())


def _commit_or_slug_taken(slug: str) -> None:
    """Commit; two people taking the same slug at the same instant: the second is told."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if db.session.scalar(select(Action.id).where(Action.slug == slug)) is not None:
            raise SlugTakenError(f"the slug {slug!r} is taken", field="slug") from exc
        raise


def clone_action(source: Action, *, slug: str, actor: User | None, via: str = "web") -> Action:
    """A new draft with the texts, targets and organizers of ``source``."""
    return create_action(
        slug=slug, title=source.title, summary=source.summary, body=source.body,
        demands=source.demand_list, goal=source.goal, deadline=None,
        language=source.language, topics=list(source.topics or []), region=source.region,
        targets=[TargetInput(t.name, t.title, t.organization, t.email) for t in source.targets],
        organizers=list(source.organizers), actor=actor, via=via)


def allowed_transitions(action: Action) -> list[ActionStatus]:
    return [s for s in ActionStatus if s in TRANSITIONS[action.status]
            and _transition_error(action, s) is None]


def _transition_error(action: Action, status: ActionStatus) -> str | None:
    if status not in TRANSITIONS[action.status]:
        return f"an action that is {action.status} can't become {status}"
    if status == ActionStatus.DRAFT:
        counts = counting.counts(action.id)
        if counts.confirmed or counts.pending or counts.paper:
            return "an action with signatures can't go back to draft; close it instead"
    return None


def _set_status(action: Action, status: ActionStatus) -> None:
    action.status = status
    if status == ActionStatus.PUBLISHED and action.published_at is None:
        action.published_at = utcnow()
    if status == ActionStatus.CLOSED and action.closed_at is None:
        action.closed_at = utcnow()
    if status == ActionStatus.PUBLISHED:
        # Reopened: the retention clock stops, and starts again at the next close;
        # the signatures to come are anonymized in their turn (see services.retention).
        action.closed_at = None
        action.anonymized_at = None


def _join_demands(demands: list[str] | None) -> str:
    return "\n".join(d.strip() for d in demands or [] if d.strip())


def _targets(targets: list[TargetInput]) -> list[Target]:
    return [Target(position=i, name=t.name.strip(), title=t.title.strip(),
                   organization=t.organization.strip(), email=t.email.strip())
            for i, t in enumerate(targets)]


def publish_action(action: Action, actor: User | None = None, via: str = "cli") -> None:
    update_action(action, {"status": ActionStatus.PUBLISHED}, actor=actor, via=via)


def close_action(action: Action, actor: User | None = None, via: str = "cli") -> None:
    update_action(action, {"status": ActionStatus.CLOSED}, actor=actor, via=via)


def get_action(slug: str) -> Action | None:
    # No valid slug looks otherwise; and PostgreSQL refuses a NUL byte in a query (a 500).
    if len(slug) > 80 or not SLUG_PATTERN.match(slug):
        return None
    return db.session.scalar(select(Action).where(Action.slug == slug))


def get_public_action(slug: str) -> Action | None:
    """An action the public may see: anything but drafts."""
    action = get_action(slug)
    if action is None or action.status == ActionStatus.DRAFT:
        return None
    return action


def list_published() -> list[Action]:
    """Published actions, most urgent (nearest deadline) first, open-ended ones last."""
    return list(db.session.scalars(
        select(Action)
        .where(Action.status == ActionStatus.PUBLISHED)
        .order_by(nulls_last(Action.deadline.asc()), Action.published_at.desc())))
