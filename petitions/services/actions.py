"""Launching, listing and closing actions, and rendering their appeal text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import nulls_last, select

from petitions.extensions import db
from petitions.models import Action, ActionStatus, Target, utcnow
from petitions.services import counting

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


class ActionError(ValueError):
    """An action can't be created or changed as asked; the message says why."""


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


def create_action(*, slug: str, title: str, targets: list[TargetInput], goal: int,
                  body: str = "", summary: str = "", demands: list[str] | None = None,
                  deadline: date | None = None, language: str = "en",
                  publish: bool = False) -> Action:
    if not SLUG_PATTERN.match(slug) or len(slug) > 80:
        raise ActionError("the slug must be lower-case letters, digits and single hyphens")
    if not title.strip():
        raise ActionError("the title must not be empty")
    if goal < 1:
        raise ActionError("the goal must be at least 1")
    if not targets:
        raise ActionError("an action needs at least one target")
    if db.session.scalar(select(Action.id).where(Action.slug == slug)) is not None:
        raise ActionError(f"the slug {slug!r} is taken")
    action = Action(slug=slug, title=title.strip(), summary=summary.strip(), body=body,
                    demands="\n".join(d.strip() for d in demands or [] if d.strip()),
                    goal=goal, deadline=deadline, language=language,
                    status=ActionStatus.DRAFT,
                    targets=[Target(position=i, name=t.name, title=t.title,
                                    organization=t.organization, email=t.email)
                             for i, t in enumerate(targets)])
    if publish:
        _set_status(action, ActionStatus.PUBLISHED)
    db.session.add(action)
    db.session.flush()
    counting.create_shards(action.id)
    db.session.commit()
    return action


def _set_status(action: Action, status: ActionStatus) -> None:
    action.status = status
    if status == ActionStatus.PUBLISHED and action.published_at is None:
        action.published_at = utcnow()
    if status == ActionStatus.CLOSED:
        action.closed_at = utcnow()


def publish_action(action: Action) -> None:
    _set_status(action, ActionStatus.PUBLISHED)
    db.session.commit()


def close_action(action: Action) -> None:
    if action.status not in (ActionStatus.PUBLISHED, ActionStatus.DRAFT):
        raise ActionError(f"an action that is {action.status} can't be closed")
    _set_status(action, ActionStatus.CLOSED)
    db.session.commit()


def get_action(slug: str) -> Action | None:
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
