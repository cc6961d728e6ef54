"""How the admin console words things: people, lifecycle steps, audit changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel import Locale
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from petitions.models import ActionStatus, AuditEntry, User

# Long values (an appeal's body) are cut in the log view; the full text is in the
# database and on the action's page.
MAX_VALUE_LENGTH = 240

# The name of each lifecycle step, by the status it leaves and the one it reaches.
_STEPS: dict[tuple[ActionStatus, ActionStatus], LazyString] = {
    (ActionStatus.DRAFT, ActionStatus.PUBLISHED): _l("publish"),
    (ActionStatus.DRAFT, ActionStatus.ARCHIVED): _l("archive"),
    (ActionStatus.PUBLISHED, ActionStatus.CLOSED): _l("close"),
    (ActionStatus.PUBLISHED, ActionStatus.DRAFT): _l("take back to draft"),
    (ActionStatus.CLOSED, ActionStatus.PUBLISHED): _l("reopen"),
    (ActionStatus.CLOSED, ActionStatus.DELIVERED): _l("mark as delivered"),
    (ActionStatus.CLOSED, ActionStatus.ARCHIVED): _l("archive"),
    (ActionStatus.DELIVERED, ActionStatus.CLOSED): _l("undo the delivery"),
    (ActionStatus.DELIVERED, ActionStatus.ARCHIVED): _l("archive"),
    (ActionStatus.ARCHIVED, ActionStatus.CLOSED): _l("unarchive"),
    (ActionStatus.ARCHIVED, ActionStatus.DRAFT): _l("unarchive as a draft"),
}

STATUS_NAMES: dict[ActionStatus, LazyString] = {
    ActionStatus.DRAFT: _l("draft"),
    ActionStatus.PUBLISHED: _l("published"),
    ActionStatus.CLOSED: _l("closed"),
    ActionStatus.DELIVERED: _l("delivered"),
    ActionStatus.ARCHIVED: _l("archived"),
}


def step_label(current: ActionStatus, new: ActionStatus) -> str:
    """The verb for moving an action from ``current`` to ``new``, e.g. "publish"."""
    label = _STEPS.get((current, new))
    return str(label) if label else _("make %(status)s", status=STATUS_NAMES[new])


def status_name(status: ActionStatus) -> str:
    return str(STATUS_NAMES[status])


def user_label(user: User) -> str:
    """A staff member as the console shows them: "Name <email>", or the email alone."""
    return f"{user.name} <{user.email}>" if user.name else user.email


def language_choices(codes: tuple[str, ...]) -> list[tuple[str, str]]:
    """Language codes with the language's own name, e.g. ("fr", "fr - français")."""
    return [(code, f"{code} - {Locale.parse(code).display_name}") for code in codes]


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


def changes(entry: AuditEntry) -> list[Change]:
    """An entry's before and after as one "field: old → new" row per changed field."""
    before = entry.before or {}
    after = entry.after or {}
    rows = [Change(name, _value(before.get(name)), _value(after.get(name)))
            for name in sorted(before.keys() | after.keys())]
    return [row for row in rows if row.old != row.new]


def _value(value: Any) -> str:
    text = _plain(value) or "—"
    if len(text) > MAX_VALUE_LENGTH:
        return text[:MAX_VALUE_LENGTH] + "…"
    return text


def _plain(value: Any) -> str:
    """A logged value as words: lists joined by "; ", records by ", " (e.g. a target)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return "; ".join(filter(None, (_plain(item) for item in value)))
    if isinstance(value, dict):
        return ", ".join(filter(None, (_plain(item) for item in value.values())))
    return str(value)
