"""What an action's public page shows beyond the action itself: its texts in the
reader's language, and the few recent signers who agreed to be shown."""

from __future__ import annotations

from dataclasses import dataclass

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
    """The last confirmed signers who asked to be shown: first name and country only."""
    rows = db.session.execute(
        select(Signature.first_name, Signature.country)
        .where(Signature.action_id == action_id,
               Signature.status == SignatureStatus.CONFIRMED,
               Signature.show_publicly.is_(True))
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(limit)).all()
    return [PublicSigner(first_name, countries.name(country, locale))
            for first_name, country in rows]


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
