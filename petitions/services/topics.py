"""The managed list of topics and regions (see ``models.topics``): what admins add,
rename and retire, what the action forms and the network's join form offer, and the
check that an action is tagged only with terms on the list. Every change is audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask_babel import gettext
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Term, TermKind, utcnow
from petitions.services import audit
from petitions.services.actions import slugify

if TYPE_CHECKING:
    from petitions.models import User

NAME_MAX = 100
KEY_MAX = 64


class TermError(ValueError):
    """The term can't be added or renamed as asked (a message for the person)."""


def terms(kind: TermKind, *, include_retired: bool = False) -> list[Term]:
    """The terms of one kind, by name; retired ones only when asked."""
    query = select(Term).where(Term.kind == kind).order_by(Term.name)
    if not include_retired:
        query = query.where(Term.retired_at.is_(None))
    return list(db.session.scalars(query))


def get(term_id: int) -> Term | None:
    return db.session.get(Term, term_id)


def active_keys(kind: TermKind) -> set[str]:
    return {t.key for t in terms(kind)}


def names(kind: TermKind) -> dict[str, str]:
    """Every key of one kind (retired ones too) with the name people see."""
    return {t.key: t.name for t in terms(kind, include_retired=True)}


def label(kind: TermKind, keys: Iterable[str]) -> list[str]:
    """The names of ``keys``, for showing; a key no longer on the list shows as itself."""
    known = names(kind)
    return [known.get(key, key) for key in keys]


def action_errors(topics: object, region: object, *, kept_topics: Iterable[str] = (),
                  kept_region: str = "") -> dict[str, str]:
    """Why an action's topics or region can't be saved (nothing when they can): each
    must be the key of a term on the list that is not retired, or one the action has
    already (``kept_…``: a retired term stays where it is)."""
    errors: dict[str, str] = {}
    if topics is not None:
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            errors["topics"] = "the topics must be a list of topic keys"
        else:
            unknown = sorted(set(topics) - active_keys(TermKind.TOPIC) - set(kept_topics))
            if unknown:
                errors["topics"] = f"unknown topics: {', '.join(unknown)}"
    if region is not None:
        if not isinstance(region, str):
            errors["region"] = "the region must be a region key"
        elif region and region != kept_region and region not in active_keys(TermKind.REGION):
            errors["region"] = f"unknown region: {region}"
    return errors


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise TermError(gettext("Please give a name."))
    if len(name) > NAME_MAX:
        raise TermError(gettext("Please use at most %(num)s characters.", num=NAME_MAX))
    return name


def _snapshot(term: Term) -> dict[str, object]:
    return {"kind": str(term.kind), "key": term.key, "name": term.name,
            "retired": term.retired}


def add(kind: TermKind, name: str, *, actor: User | None, via: str = "web") -> Term:
    """A new term; its key comes from the name and never changes (committed)."""
    name = _clean_name(name)
    key = slugify(name, KEY_MAX)
    if not key:
        # A name in a script without a Latin transliteration: a key by number.
        count = len(terms(kind, include_retired=True))
        key = f"{kind}-{count + 1}"
    existing = db.session.scalar(select(Term).where(Term.kind == kind, Term.key == key))
    if existing is not None:
        raise TermError(gettext("“%(name)s” is on the list already.", name=existing.name))
    term = Term(kind=kind, key=key, name=name)
    db.session.add(term)
    db.session.flush()
    audit.record("term.create", "term", term.id, actor=actor, via=via, after=_snapshot(term))
    db.session.commit()
    return term


def rename(term: Term, name: str, *, actor: User | None, via: str = "web") -> None:
    """A new name people see; actions and members keep the term (committed)."""
    before = _snapshot(term)
    term.name = _clean_name(name)
    audit.record("term.update", "term", term.id, actor=actor, via=via, before=before,
                 after=_snapshot(term))
    db.session.commit()


def set_retired(term: Term, retired: bool, *, actor: User | None, via: str = "web") -> None:
    """Retire a term (no longer offered; who has it keeps it) or bring it back."""
    before = _snapshot(term)
    term.retired_at = (term.retired_at or utcnow()) if retired else None
    audit.record("term.update", "term", term.id, actor=actor, via=via, before=before,
                 after=_snapshot(term))
    db.session.commit()
