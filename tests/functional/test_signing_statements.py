"""Signing and confirming in few statements, with the same outcomes as ever.

A signature is one INSERT that does nothing when the address has signed the action
already; the block rules are kept in memory for a few seconds; a confirmation reads
only the columns it needs. These tests pin down what must not change with that: one
row per address (even when requests race), encrypted columns, rules that apply at
once, and the answers to unknown, expired and confirmed tokens.
"""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import (
    BlockKind,
    BlockRule,
    OutboundEmail,
    Signature,
    SignatureStatus,
)
from petitions.services import abuse, confirming, counting, signing
from petitions.services.actions import get_action
from petitions.services.signing import BlockedError, SignOutcome, email_digest, sign
from tests.factories import (
    age_signature,
    confirmation_token,
    make_action,
    make_signature,
    signature_input,
)


def stored() -> int:
    return db.session.scalar(select(func.count()).select_from(Signature)) or 0


def outbox_rows(signature_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(OutboundEmail)
                             .where(OutboundEmail.signature_id == signature_id)) or 0


# --- one row per address -----------------------------------------------------------------

def test_the_same_address_twice_keeps_the_first_and_follows_the_resend_rule(app: Flask):
    action = make_action()
    first = sign(action, signature_input(email="Sam@Example.org", first_name="Sam"))
    again = sign(action, signature_input(email="  sam@EXAMPLE.org", first_name="Other"))

    assert first.created and first.confirmation_queued
    assert again == SignOutcome(first.signature_id, created=False, confirmation_queued=False)
    assert stored() == 1 and outbox_rows(first.signature_id) == 1
    assert counting.counts(action.id) == counting.Counts(pending=1)

    # Once the resend interval has passed, signing again sends a new link, and only that.
    signature = db.session.get(Signature, first.signature_id)
    assert signature is not None
    age_signature(signature, seconds=app.config["CONFIRMATION_RESEND_INTERVAL_SECONDS"] + 1)
    later = sign(action, signature_input(email="sam@example.org", first_name="Other"))
    assert later == SignOutcome(first.signature_id, created=False, confirmation_queued=True)
    assert stored() == 1 and outbox_rows(first.signature_id) == 2
    assert counting.counts(action.id) == counting.Counts(pending=1)
    db.session.expire_all()
    assert db.session.get(Signature, first.signature_id).first_name == "Sam"


def test_a_signature_erased_during_the_conflict_gives_way_to_the_new_one(
        app: Flask, monkeypatch: pytest.MonkeyPatch):
    action = make_action()
    sign(action, signature_input(email="gone@example.org"))
    find = signing._find

    def erased_meanwhile(action_id: int, digest: str) -> Signature | None:
        # Another process (a data request) deletes the signature between the insert
        # that conflicted with it and this lookup.
        monkeypatch.setattr(signing, "_find", find)
        db.session.execute(delete(OutboundEmail))
        db.session.execute(delete(Signature))
        return None

    monkeypatch.setattr(signing, "_find", erased_meanwhile)
    again = sign(action, signature_input(email="gone@example.org"))
    assert again.created  # SQLite may give it the erased one's id
    assert stored() == 1 and outbox_rows(again.signature_id) == 1


def test_requests_racing_with_one_address_store_one_signature(app: Flask):
    """Threads with their own session and connection sign with one address at the same
    instant: the database keeps one row, and every request gets the usual answer."""
    slug = make_action().slug
    threads_count = 6
    start = threading.Barrier(threads_count)
    outcomes: list[SignOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def sign_once(n: int) -> None:
        try:
            with app.app_context():
                action = get_action(slug)
                assert action is not None
                start.wait()
                outcome = sign(action, signature_input(email="racer@example.org",
                                                       first_name=f"Racer {n}"))
                db.session.remove()
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=sign_once, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(outcome.created for outcome in outcomes) == 1
    assert len({outcome.signature_id for outcome in outcomes}) == 1
    db.session.expire_all()
    action = get_action(slug)
    assert action is not None
    assert stored() == 1 and outbox_rows(outcomes[0].signature_id) == 1
    assert counting.counts(action.id) == counting.Counts(pending=1)


def test_the_inserted_columns_are_encrypted(app: Flask):
    action = make_action()
    outcome = sign(action, signature_input(first_name="Ysolde", last_name="Quarterfield",
                                           email="ysolde@refuge.example", postcode="QZ 42",
                                           comment="Free them now"))
    raw = db.session.execute(text(
        "SELECT first_name, last_name, email, postcode, comment, email_digest "
        "FROM signatures WHERE id = :id"), {"id": outcome.signature_id}).one()
    for column, clear in (("first_name", "Ysolde"), ("last_name", "Quarterfield"),
                          ("email", "ysolde@refuge.example"), ("postcode", "QZ 42"),
                          ("comment", "Free them now")):
        value = bytes(getattr(raw, column))
        assert clear.encode() not in value
        assert vault().decrypt(value, f"signatures.{column}") == clear
    assert raw.email_digest == email_digest("ysolde@refuge.example")
    payload = db.session.execute(text(
        "SELECT payload FROM outbound_emails WHERE signature_id = :id"),
        {"id": outcome.signature_id}).scalar_one()
    assert b"token" not in bytes(payload)
    assert "token" in vault().decrypt(bytes(payload), "outbound_emails.payload")


# --- block rules, kept in memory -----------------------------------------------------------

def test_a_rule_applies_at_once_in_the_process_that_changed_it(app: Flask):
    assert app.config["BLOCK_RULES_CACHE_SECONDS"] > 0
    action = make_action()
    assert sign(action, signature_input(email="first@flood.example")).created  # rules read
    [rule] = abuse.add_rule(BlockKind.EMAIL_DOMAIN, "flood.example", actor=None)
    with pytest.raises(BlockedError):
        sign(action, signature_input(email="second@flood.example"))
    assert abuse.remove_rule(rule.id, actor=None)
    assert sign(action, signature_input(email="third@flood.example")).created
    assert stored() == 2


def _rule_from_another_process(kind: BlockKind, value: str) -> None:
    """A rule written to the database without this process's knowledge."""
    db.session.add(BlockRule(kind=kind, value=value))
    db.session.commit()


def test_a_rule_added_elsewhere_applies_once_the_copy_is_stale(app: Flask,
                                                              monkeypatch: pytest.MonkeyPatch):
    action = make_action()
    assert sign(action, signature_input(), ip="203.0.113.5").created  # rules read
    _rule_from_another_process(BlockKind.IP_NETWORK, abuse.ip_network_digest("203.0.113.1"))
    # Within the copy's lifetime this process does not know the rule yet...
    assert sign(action, signature_input(), ip="203.0.113.6").created
    # ...and knows it once the copy is older than BLOCK_RULES_CACHE_SECONDS.
    monkeypatch.setitem(app.config, "BLOCK_RULES_CACHE_SECONDS", 1e-9)
    with pytest.raises(BlockedError):
        sign(action, signature_input(), ip="203.0.113.7")


def test_forgetting_the_copy_reads_the_rules_afresh(app: Flask):
    action = make_action()
    assert sign(action, signature_input(email="a@example.org")).created  # rules read
    _rule_from_another_process(BlockKind.EMAIL, email_digest("b@example.org"))
    abuse.forget_cached_rules()
    with pytest.raises(BlockedError):
        sign(action, signature_input(email="B@Example.org"))


def test_without_a_copy_every_signature_asks_the_database(app: Flask,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(app.config, "BLOCK_RULES_CACHE_SECONDS", 0)
    action = make_action()
    assert sign(action, signature_input(email="a@example.org")).created
    _rule_from_another_process(BlockKind.EMAIL, email_digest("b@example.org"))
    with pytest.raises(BlockedError):
        sign(action, signature_input(email="b@example.org"))


def test_too_many_rules_to_keep_are_asked_of_the_database(app: Flask,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(abuse, "CACHED_RULES_AT_MOST", 1)
    abuse.add_rule(BlockKind.EMAIL_DOMAIN, "flood.example", actor=None)
    abuse.add_rule(BlockKind.IP_NETWORK, "198.51.100.0/24", actor=None)
    action = make_action()
    with pytest.raises(BlockedError):
        sign(action, signature_input(email="a@flood.example"))
    with pytest.raises(BlockedError):
        sign(action, signature_input(), ip="198.51.100.7")
    assert sign(action, signature_input(), ip="198.51.101.7").created
    assert abuse._cached_rules() is None


# --- confirming ----------------------------------------------------------------------------

def test_confirming_gives_the_slug_and_counts_once(app: Flask):
    action = make_action()
    signature = make_signature(action)
    token = confirmation_token(signature)

    result = confirming.confirm(token)
    assert (result.state, result.slug) == (confirming.TokenState.CONFIRMED, action.slug)
    again = confirming.confirm(token)
    assert (again.state, again.slug) == (confirming.TokenState.CONFIRMED, action.slug)
    assert counting.counts(action.id) == counting.Counts(confirmed=1)
    db.session.expire_all()
    assert signature.status == SignatureStatus.CONFIRMED and signature.confirmed_at


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "y" * 200])
def test_confirming_an_unknown_token_is_invalid_and_changes_nothing(app: Flask, token: str):
    action = make_action()
    make_signature(action)
    result = confirming.confirm(token)
    assert (result.state, result.signature, result.slug) == (
        confirming.TokenState.INVALID, None, None)
    assert counting.counts(action.id) == counting.Counts(pending=1)


def test_confirming_an_expired_token_changes_nothing_and_names_the_signature(app: Flask):
    action = make_action()
    signature = make_signature(action)
    token = confirmation_token(signature)
    age_signature(signature, hours=app.config["CONFIRMATION_MAX_AGE_HOURS"] + 1)

    result = confirming.confirm(token)
    assert result.state == confirming.TokenState.EXPIRED
    assert result.signature is not None and result.signature.id == signature.id
    assert result.action is not None and result.slug == action.slug
    assert counting.counts(action.id) == counting.Counts(pending=1)
    db.session.expire_all()
    assert signature.status == SignatureStatus.PENDING


def test_checking_a_token_still_gives_the_whole_signature(app: Flask):
    action = make_action()
    signature = make_signature(action)
    token = confirmation_token(signature)
    check = confirming.check_token(token)
    assert check.state == confirming.TokenState.VALID
    assert check.signature is not None and check.signature.id == signature.id
    assert check.slug == action.slug
    confirming.confirm(token)
    check = confirming.check_token(token)
    assert check.state == confirming.TokenState.CONFIRMED
    assert check.action is not None and check.action.slug == action.slug
    assert check.signature is not None and check.signature.confirmed_at is not None
