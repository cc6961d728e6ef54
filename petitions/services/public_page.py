"""What an action's public page shows beyond the action itself: its texts in the
reader's language, the few recent signers who agreed to be shown, how far it is from
its next milestone and its deadline, and what a supporter shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from petitions import countries
from petitions.extensions import db
from petitions.models import Action, Signature, SignatureStatus, User

TRANSLATED_FIELDS = ("title", "summary", "body", "demands")
RECENT_SIGNERS = 5


@dataclass(frozen=True)
class ActionTexts:
    """An action's texts in one language, and which language that is."""

    language: str
    title: str
    summary: str
    body: str
    demands: str

    @property
    def demand_list(self) -> list[str]:
        return [line.strip() for line in self.demands.splitlines() if line.strip()]


@dataclass(frozen=True)
class PublicSigner:
    first_name: str
    country: str
    confirmed_at: datetime | None = None


# The steps of the next milestone below the goal: 10, 25, 50, 100, 250, 500, 1,000...
_MILESTONE_STEPS = (1, 2.5, 5)
# The fill of a progress bar never narrower than this (percent) once someone signed:
# one signature of 10,000 must show.
MIN_VISIBLE_PERCENT = 2.0


@dataclass(frozen=True)
class Progress:
    """What the progress bar shows: the fill (percent of the bar's width, at least
    ``MIN_VISIBLE_PERCENT`` once anyone signed), the floor percentage for words, and
    the next milestone with how many it still takes."""

    total: int
    goal: int
    fill: float
    percent: int
    raised_to_minimum: bool
    milestone: int
    to_milestone: int


def next_milestone(total: int, goal: int) -> int:
    """The next round number (10, 25, 50, 100, 250...) above ``total``, the goal when
    that comes first; past the goal, the next round number again."""
    magnitude = 10
    while True:
        for step in _MILESTONE_STEPS:
            candidate = int(step * magnitude)
            if candidate > total:
                return goal if total < goal <= candidate else candidate
        magnitude *= 10


def progress(total: int, goal: int) -> Progress:
    exact = min(total / goal * 100, 100.0) if goal > 0 else 0.0
    fill = max(exact, MIN_VISIBLE_PERCENT) if total > 0 else 0.0
    milestone = next_milestone(total, goal)
    return Progress(total=total, goal=goal, fill=round(fill, 2), percent=int(exact),
                    raised_to_minimum=fill > exact, milestone=milestone,
                    to_milestone=milestone - total)


def days_left(deadline: date | None, today: date) -> int | None:
    """Whole days until the deadline (0 on its last day); None without a deadline or
    once it has passed."""
    if deadline is None or deadline < today:
        return None
    return (deadline - today).days


def share_messages(title: str, url: str, *, signed: bool) -> dict[str, str]:
    """The message a supporter sends on each network, in the page's language: after
    signing, in the first person; X's is short, the email has its own subject."""
    from flask_babel import gettext

    if signed:
        message = gettext("I just signed “%(title)s”. It takes a minute: will you sign "
                          "too?", title=title)
        short = gettext("I signed “%(title)s”. Sign too:", title=title)
        subject = gettext("Will you sign “%(title)s”?", title=title)
    else:
        message = gettext("Please sign “%(title)s”: it takes a minute.", title=title)
        short = gettext("Sign “%(title)s”:", title=title)
        subject = title
    return {"whatsapp": f"{message} {url}", "telegram": message, "x": short,
            "email_subject": subject, "email_body": f"{message}\n\n{url}"}


def texts_for(action: Action, locale: str) -> ActionTexts:
    """The action's texts in ``locale`` when it has them; each field missing from a
    translation falls back to the action's own text."""
    language = locale.split("_")[0]
    translation = (action.translations or {}).get(language) if language != action.language else None
    if not translation or not translation.get("title"):
        return ActionTexts(action.language, action.title, action.summary, action.body,
                           action.demands)
    return ActionTexts(language, *(translation.get(field) or getattr(action, field)
                                   for field in TRANSLATED_FIELDS))


def clean_translations(raw: dict[str, dict[str, str]],
                       languages: list[str]) -> dict[str, dict[str, str]]:
    """Keep the translations of known languages that have a title; strip the texts."""
    cleaned: dict[str, dict[str, str]] = {}
    for language in languages:
        texts = {field: (raw.get(language, {}).get(field) or "").strip()
                 for field in TRANSLATED_FIELDS}
        if texts["title"]:
            cleaned[language] = texts
    return cleaned


def check_translations(translations: dict[str, dict[str, str]]) -> None:
    """Refuse what the action's own texts may not hold (``actions.text_errors``); the
    demands are one a line. Raises ActionError naming each "<language>-<field>"."""
    from petitions.services.actions import ActionError, text_errors

    errors = {f"{language}-{name}": message
              for language, texts in translations.items()
              for name, message in text_errors(
                  texts, multi_line=("summary", "body", "demands")).items()}
    if errors:
        raise ActionError(errors=errors)


def recent_signers(action_id: int, locale: str,
                   limit: int = RECENT_SIGNERS) -> list[PublicSigner]:
    """The last confirmed signers who asked to be shown: first name, country, and when
    they confirmed (shown as "3 hours ago")."""
    rows = db.session.execute(
        select(Signature.first_name, Signature.country, Signature.confirmed_at)
        .where(Signature.action_id == action_id,
               Signature.status == SignatureStatus.CONFIRMED,
               Signature.show_publicly.is_(True))
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(limit)).all()
    return [PublicSigner(first_name, countries.name(country, locale), confirmed_at)
            for first_name, country, confirmed_at in rows]


def set_translations(action: Action, raw: dict[str, dict[str, str]], *, actor: User | None,
                     via: str = "web") -> dict[str, dict[str, str]]:
    """Replace an action's texts in other languages (a language with no title is
    dropped), record the change in the audit log, and commit."""
    from petitions.i18n import LANGUAGES
    from petitions.services import audit

    languages = [code for code in LANGUAGES if code != action.language]
    before = dict(action.translations or {})
    cleaned = clean_translations(raw, languages)
    check_translations(cleaned)
    action.translations = cleaned
    audit.record("action.translations", "action", action.id, actor=actor, via=via,
                 before={"translations": before}, after={"translations": cleaned})
    db.session.commit()
    return cleaned
