"""Signing an action: normalizing what a supporter typed, and storing a pending signature.

Whatever happens, the visible outcome is the same (a "check your email" page), so
nobody can learn from the response whether an address has already signed. Signing
again with a confirmed address is not silent either: its owner is told, at most once
a day, so that someone probing with it cannot stay unnoticed (docs/security.md).
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import get_locale, gettext
from sqlalchemy import Insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import (
    Action,
    OutboundEmail,
    OutboxKind,
    Signature,
    SignatureStatus,
    utcnow,
)
from petitions.services import counting, outbox
from petitions.services.retention import ANONYMIZED

if TYPE_CHECKING:
    from petitions.services.mail import Draft

FIELD_LIMITS = {"first_name": 100, "last_name": 100, "email": 254, "postcode": 20,
                "comment": 1000}
CONSENT_VERSION = "2026-11-updates-v1"
# A confirmed signer hears at most this often that someone signed again with their address.
SIGNED_AGAIN_NOTICE_INTERVAL = timedelta(days=1)

# Control characters, zero-width and bidirectional-override characters: invisible,
# and a way to make a name display as something it isn't.
_INVISIBLE = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u2069\ufeff]")
_SOURCE = re.compile(r"[^A-Za-z0-9_.-]")


class SigningError(ValueError):
    """The input can't be accepted; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ActionClosedError(Exception):
    """The action no longer takes signatures."""


class BlockedError(Exception):
    """An admin's block rule covers the address, its domain or the network: the caller
    answers as if the signature were taken, and nothing is stored."""


@dataclass(frozen=True)
class NormalizedEmail:
    address: str       # what we write to: the address as email-validator normalizes it
    lookup_key: str    # what we compare: case-folded, domain in its ASCII (IDNA) form


@dataclass(frozen=True)
class SignatureInput:
    first_name: str
    last_name: str
    email: str
    country: str
    postcode: str = ""
    comment: str = ""
    updates_opt_in: bool = False
    show_publicly: bool = False  # first name and country in the recent signers list


@dataclass(frozen=True)
class SignOutcome:
    signature_id: int
    created: bool
    confirmation_queued: bool


def normalize_email(raw: str) -> NormalizedEmail:
    """Validate an address and give its stored form and its comparison key."""
    try:
        # No SMTPUTF8: an address we could not send the confirmation to is refused
        # here, with a message, rather than accepted and never confirmed.
        info = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        # email-validator explains what is wrong, in English only: other readers get a
        # shorter message in their language.
        english = str(get_locale() or "en") == "en"
        raise SigningError("email", str(exc) if english else
                           gettext("This is not a valid email address.")) from exc
    domain = (info.ascii_domain or info.domain).lower()
    return NormalizedEmail(info.normalized, f"{info.local_part.casefold()}@{domain}")


def normalize_text(raw: str) -> str:
    """NFC, invisible characters removed, runs of white space folded."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", raw))
    return " ".join(text.split())


def normalize_comment(raw: str) -> str:
    """NFC and invisible characters removed, like names, but line breaks kept."""
    lines = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").split("\n")
    return "\n".join(_INVISIBLE.sub("", line).rstrip() for line in lines).strip()


def normalize_name(raw: str, field: str) -> str:
    name = normalize_text(raw)
    if not name:
        raise SigningError(field, gettext("This field is required."))
    if not any(unicodedata.category(ch)[0] in "LN" for ch in name):
        raise SigningError(field, gettext(
            "Please enter a name, not only punctuation or symbols."))
    return name


def normalize_source(raw: str | None) -> str | None:
    """The campaign source from ``?source=``, reduced to a safe short label."""
    if not raw:
        return None
    return _SOURCE.sub("", raw)[:64] or None


def email_digest(lookup_key: str) -> str:
    return vault().digest(lookup_key, "email")


def address_digest(address: str) -> str:
    """The lookup digest of an address as someone typed it, normalized as signing
    normalizes it. Raises ``SigningError`` (field "email") when it is not an address."""
    return email_digest(normalize_email(address).lookup_key)


def ip_digest(ip: str | None) -> str | None:
    """A truncated keyed digest: enough to spot a flood from one address, no more."""
    return vault().digest(ip, "ip")[:16] if ip else None


def new_token() -> tuple[str, str]:
    """A confirmation token and the SHA-256 digest that is all the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean(data: SignatureInput) -> tuple[SignatureInput, NormalizedEmail]:
    for field, limit in FIELD_LIMITS.items():
        if len(getattr(data, field)) > limit * 4:
            raise SigningError(field, gettext("Please use at most %(limit)d characters.",
                                                 limit=limit))
    cleaned = SignatureInput(
        first_name=normalize_name(data.first_name, "first_name"),
        last_name=normalize_name(data.last_name, "last_name"),
        email=data.email,
        country=data.country.strip().upper(),
        postcode=normalize_text(data.postcode),
        comment=normalize_comment(data.comment),
        updates_opt_in=data.updates_opt_in,
        show_publicly=data.show_publicly,
    )
    for field, limit in FIELD_LIMITS.items():
        if len(getattr(cleaned, field)) > limit:
            raise SigningError(field, gettext("Please use at most %(limit)d characters.",
                                                 limit=limit))
    return cleaned, normalize_email(data.email)


def check(data: SignatureInput) -> tuple[SignatureInput, NormalizedEmail]:
    """The input normalized, or ``SigningError`` naming the field at fault. Needs no
    key and looks nothing up: the web tier checks a form with it before sealing it."""
    from petitions import countries

    cleaned, email = _clean(data)
    if cleaned.country not in countries.CODES:
        raise SigningError("country", gettext("Please choose a country from the list."))
    return cleaned, email


def sign(action: Action, data: SignatureInput, *, ip: str | None = None,
         source: str | None = None, locale: str = "en") -> SignOutcome:
    """Store a pending signature and queue its confirmation email, and commit.

    See ``store``; the queued email is handed to the broker after the commit.
    """
    outcome, outbox_ids = store(action, data, ip=ip, source=source, locale=locale)
    db.session.commit()
    outbox.hand_off(outbox_ids)
    return outcome


def store(action: Action, data: SignatureInput, *, ip: str | None = None,
          source: str | None = None, locale: str = "en") -> tuple[SignOutcome, list[int]]:
    """Add a pending signature and its confirmation email to the current transaction;
    the caller commits, then hands the returned outbox ids to the broker.

    Signing again with the same address never adds a signature: a pending one has
    its confirmation sent again (at most once per resend interval), the owner of a
    confirmed one is told that someone tried (at most once a day). An address, domain
    or network an admin blocked raises ``BlockedError``.
    """
    from petitions.services import abuse

    if not action.is_open:
        raise ActionClosedError(action.slug)
    cleaned, email = check(data)
    digest = email_digest(email.lookup_key)
    domain_digest = abuse.email_domain_digest(email.lookup_key.rpartition("@")[2])
    network_digest = abuse.ip_network_digest(ip)
    if abuse.is_blocked(address_digest=digest, domain_digest=domain_digest,
                        network_digest=network_digest):
        raise BlockedError(action.slug)

    now = utcnow()
    token, digest_of_token = new_token()
    values = dict(
        action_id=action.id, first_name=cleaned.first_name, last_name=cleaned.last_name,
        email=email.address, email_digest=digest, country=cleaned.country,
        postcode=cleaned.postcode or None, comment=cleaned.comment or None,
        updates_opt_in=cleaned.updates_opt_in, show_publicly=cleaned.show_publicly,
        consent_version=CONSENT_VERSION if cleaned.updates_opt_in else None,
        consent_at=now if cleaned.updates_opt_in else None,
        status=SignatureStatus.PENDING, token_digest=digest_of_token, token_issued_at=now,
        confirmation_sent_at=now, source=normalize_source(source), locale=locale,
        ip_digest=ip_digest(ip), ip_network_digest=network_digest,
        email_domain_digest=domain_digest, created_at=now)
    for _attempt in range(3):
        signature_id = _insert_unless_signed(values)
        if signature_id is not None:
            break
        # This address has signed already, or someone with it signed at the same
        # instant and the database kept theirs: only the first signature stands.
        existing = _find(action.id, digest)
        if existing is not None:
            return _sign_again(existing)
        # Erased in between (a data request, a purge): this one may take its place.
    else:
        raise RuntimeError("the address kept conflicting with signatures that vanished")
    counting.add(action.id, pending=1)
    outbox_id = outbox.record(OutboxKind.CONFIRMATION, signature_id, {"token": token})
    return SignOutcome(signature_id, created=True, confirmation_queued=True), [outbox_id]


def _insert_unless_signed(values: dict[str, Any]) -> int | None:
    """Insert a signature in one statement, unless the address has signed the action
    already: its id, or None. The unique (action, address digest) constraint decides,
    so requests racing with one address store one row (the others wait, then get
    None). The encrypted columns are encrypted by their types, as on any insert."""
    statement = _insert_unless_signed_statement(db.session.get_bind().dialect.name)
    return db.session.execute(statement, values).scalar()


@functools.cache
def _insert_unless_signed_statement(dialect: str) -> Insert:
    # Built once, on the table rather than the mapped class: the values come as
    # parameters, and neither the ORM nor a new statement is involved per signature.
    table = Signature.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.action_id, table.c.email_digest])
            .returning(table.c.id))


def _find(action_id: int, digest: str) -> Signature | None:
    return db.session.scalar(select(Signature).where(Signature.action_id == action_id,
                                                     Signature.email_digest == digest))


def _sign_again(signature: Signature) -> tuple[SignOutcome, list[int]]:
    if signature.status == SignatureStatus.CONFIRMED:
        notice = _queue_signed_again_notice(signature)
        return (SignOutcome(signature.id, created=False, confirmation_queued=False),
                [notice] if notice else [])
    resent = _queue_resend(signature)
    return (SignOutcome(signature.id, created=False, confirmation_queued=resent is not None),
            [resent] if resent else [])


def notify_signed_again(signature: Signature) -> bool:
    """Tell the owner of a confirmed signature that someone signed the action again
    with their address, at most once per ``SIGNED_AGAIN_NOTICE_INTERVAL``. Returns
    whether a notice was queued.

    A stranger who knows an address can sign with it to learn whether it had signed;
    nothing public shows the difference, and this notice makes sure the probe is not
    silent for the one person it concerns.
    """
    return _commit_and_hand_off(_queue_signed_again_notice(signature))


def _queue_signed_again_notice(signature: Signature) -> int | None:
    """Record the signed-again notice in the current transaction, if one is due: its
    outbox id. The claim is one conditional UPDATE, so requests racing with the same
    address queue one notice."""
    # An anonymized signature (an action reopened after its retention ran) has no
    # address left to tell.
    if signature.status != SignatureStatus.CONFIRMED or signature.email == ANONYMIZED:
        return None
    now = utcnow()
    due_before = now - SIGNED_AGAIN_NOTICE_INTERVAL
    claimed = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id,
               Signature.status == SignatureStatus.CONFIRMED,
               or_(Signature.signed_again_notice_at.is_(None),
                   Signature.signed_again_notice_at <= due_before))
        .values(signed_again_notice_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        return None
    return outbox.record(OutboxKind.SIGNED_AGAIN, signature.id, {})


def resend_confirmation(signature: Signature) -> bool:
    """Send a fresh confirmation link to a pending signer, at most once per interval.

    The new link replaces the old one, so the database never holds more than one
    live token per signature. Returns whether an email was queued.
    """
    return _commit_and_hand_off(_queue_resend(signature))


def _queue_resend(signature: Signature) -> int | None:
    """Record a fresh confirmation in the current transaction, if one is due: its
    outbox id."""
    if signature.status != SignatureStatus.PENDING:
        return None
    interval = timedelta(seconds=current_app.config["CONFIRMATION_RESEND_INTERVAL_SECONDS"])
    now = utcnow()
    if signature.confirmation_sent_at and now - signature.confirmation_sent_at < interval:
        return None
    token, digest_of_token = new_token()
    signature.token_digest = digest_of_token
    signature.token_issued_at = now
    signature.confirmation_sent_at = now
    return outbox.record(OutboxKind.CONFIRMATION, signature.id, {"token": token})


def _commit_and_hand_off(outbox_id: int | None) -> bool:
    if outbox_id is None:
        return False
    db.session.commit()
    outbox.hand_off([outbox_id])
    return True


def signed_again_draft(row: OutboundEmail) -> Draft:
    """The notice to a confirmed signer that someone signed again with their address
    (see ``mail.build_message``), in the signer's language."""
    # Imported here: the mail service imports the suppression list, which imports this.
    from petitions.services.mail import PermanentMailError, signer_draft

    if row.signature is None:
        raise PermanentMailError("the notice has no signature")
    return signer_draft(
        row.signature, "signed_again",
        lambda title: gettext("Someone signed again with your address: %(title)s",
                              title=title))
