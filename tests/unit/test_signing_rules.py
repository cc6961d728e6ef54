"""The rules of signing: how names and addresses are normalized, and what ``sign`` does."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import OutboundEmail, Signature, SignatureStatus
from petitions.services import actions, counting
from petitions.services.signing import (
    CONSENT_VERSION,
    ActionClosedError,
    SigningError,
    new_token,
    normalize_email,
    normalize_name,
    normalize_source,
    normalize_text,
    sign,
    token_digest,
)
from tests.factories import make_action, make_signature, signature_input

# --- email addresses ---------------------------------------------------------------------


def test_email_is_stripped_and_its_domain_lower_cased():
    email = normalize_email("  Someone@Example.ORG \n")
    assert email.address == "Someone@example.org"
    assert email.lookup_key == "someone@example.org"


@pytest.mark.parametrize("variant", [
    "someone@example.org",
    "SOMEONE@EXAMPLE.ORG",
    "SomeOne@example.org",
    "  someone@example.org  ",
    "\tsomeone@Example.Org\n",
])
def test_letter_case_and_spaces_give_the_same_lookup_key(variant):
    assert normalize_email(variant).lookup_key == "someone@example.org"


@pytest.mark.parametrize("variant", [
    "user@bücher.example",
    "user@xn--bcher-kva.example",
    "USER@BÜCHER.EXAMPLE",
    "User@XN--BCHER-KVA.example",
])
def test_an_idn_domain_in_unicode_or_punycode_gives_the_same_lookup_key(variant):
    assert normalize_email(variant).lookup_key == "user@xn--bcher-kva.example"


def test_different_addresses_give_different_keys():
    assert normalize_email("anna@example.org").lookup_key != normalize_email(
        "anne@example.org").lookup_key
    assert normalize_email("anna@example.org").lookup_key != normalize_email(
        "anna@example.net").lookup_key


@pytest.mark.parametrize("raw", [
    "",
    "   ",
    "not-an-email",
    "user@",
    "@example.org",
    "user@@example.org",
    "user@example",            # no top-level domain
    "user@example..org",
    "user name@example.org",
    "user@exa mple.org",
    "user@localhost",          # a special-use domain
    "user@-example.org",
    "user@example.org" + "x" * 300,
    "user@example.org\x00",
    "user@\u202eexample.org",
])
def test_invalid_addresses_are_refused_for_the_email_field(raw):
    with pytest.raises(SigningError) as caught:
        normalize_email(raw)
    assert caught.value.field == "email"
    assert str(caught.value)


# --- names and free text -----------------------------------------------------------------


def test_text_is_nfc_normalized():
    decomposed = "Jose\u0301 Mu\u0308ller"
    assert normalize_text(decomposed) == "Jos\u00e9 M\u00fcller"


@pytest.mark.parametrize("invisible", [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a", "\u202b", "\u202c", "\u202d",
    "\u202e",  # right-to-left override
    "\u2066", "\u2067", "\u2068", "\u2069",  # bidi isolates
    "\x00", "\x07", "\x1b", "\x7f", "\x85",  # control characters
])
def test_invisible_and_bidi_override_characters_are_removed(invisible):
    assert normalize_text(f"Le{invisible}ila") == "Leila"


def test_a_right_to_left_override_cannot_disguise_a_name():
    assert normalize_text("\u202eadieL\u202c") == "adieL"


def test_white_space_is_folded():
    assert normalize_text("  Anna \t\n  Maria  ") == "Anna Maria"


@pytest.mark.parametrize("name", ["Leila", "José", "O'Neil", "Anne-Marie", "李小龍",
                                  "Ngũgĩ wa Thiong'o", "محمد", "Jr. 3"])
def test_real_names_are_kept(name):
    assert normalize_name(name, "first_name") == name


def test_names_are_normalized():
    assert normalize_name("  Jose\u0301\u200b  ", "last_name") == "Jos\u00e9"


@pytest.mark.parametrize("raw", ["!!!", "...", "-", "'", "?!", "- . -", "🙂", "★★", "\u0301"])
def test_punctuation_or_symbol_only_names_are_refused(raw):
    with pytest.raises(SigningError) as caught:
        normalize_name(raw, "last_name")
    assert caught.value.field == "last_name"
    assert "punctuation" in str(caught.value)


@pytest.mark.parametrize("raw", ["", "   ", "\u200b\u200b", "\u202e", "\t\n"])
def test_empty_or_invisible_only_names_are_required(raw):
    with pytest.raises(SigningError) as caught:
        normalize_name(raw, "first_name")
    assert caught.value.field == "first_name"
    assert "required" in str(caught.value)


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None),
    ("", None),
    ("newsletter", "newsletter"),
    ("news letter<script>", "newsletterscript"),
    ("!!!", None),
    ("a" * 200, "a" * 64),
    ("fb_2026.11-ua", "fb_2026.11-ua"),
])
def test_campaign_source_is_reduced_to_a_safe_label(raw, expected):
    assert normalize_source(raw) == expected


def test_tokens_are_random_and_only_their_digest_is_kept():
    token, digest = new_token()
    other, _ = new_token()
    assert token != other
    assert len(token) >= 43
    assert digest == hashlib.sha256(token.encode()).hexdigest() == token_digest(token)
    assert token not in digest


# --- the signing service -----------------------------------------------------------------


def _stored() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(Signature)),
            db.session.scalar(select(func.count()).select_from(OutboundEmail)))


def test_sign_stores_a_pending_signature_with_normalized_values(app):
    action = make_action()
    signature = make_signature(action, first_name=" Jose\u0301\u200b ", last_name="Mu\u0308ller",
                               email="  Jose@Example.ORG ", country="fr",
                               postcode=" 75 011 ", comment="  Stop it.  ")
    assert signature.status == SignatureStatus.PENDING
    assert (signature.first_name, signature.last_name) == ("José", "Müller")
    assert signature.email == "Jose@example.org"
    assert signature.country == "FR"
    assert signature.postcode == "75 011"
    assert signature.comment == "Stop it."
    assert signature.updates_opt_in is False
    assert signature.consent_version is None and signature.consent_at is None
    assert signature.token_digest and signature.token_issued_at
    assert signature.confirmed_at is None
    assert counting.counts(action.id) == counting.Counts(confirmed=0, pending=1)
    assert _stored() == (1, 1)


def test_opting_in_records_the_consent_version(app):
    signature = make_signature(make_action(), updates_opt_in=True)
    assert signature.updates_opt_in is True
    assert signature.consent_version == CONSENT_VERSION
    assert signature.consent_at is not None


def test_signing_again_with_the_same_address_adds_nothing(app):
    action = make_action()
    first = sign(action, signature_input(email="anna@example.org"))
    again = sign(action, signature_input(email=" ANNA@example.org", first_name="Other"))
    assert first.created and not again.created
    assert again.signature_id == first.signature_id
    assert again.confirmation_queued is False  # within the resend interval
    assert _stored() == (1, 1)
    assert counting.counts(action.id).pending == 1


def test_the_same_address_may_sign_different_actions(app):
    sign(make_action(), signature_input(email="anna@example.org"))
    sign(make_action(), signature_input(email="anna@example.org"))
    assert _stored() == (2, 2)


def test_sign_refuses_a_country_that_is_not_iso_3166(app):
    action = make_action()
    for country in ("ZZ", "XX", "", "FRA", "EU", "UK"):
        with pytest.raises(SigningError) as caught:
            sign(action, signature_input(country=country))
        assert caught.value.field == "country", country
    assert _stored() == (0, 0)


def test_sign_refuses_over_long_fields(app):
    action = make_action()
    for field, value in [("first_name", "x" * 101), ("last_name", "x" * 101),
                         ("email", "a" * 64 + "@" + "b" * 190 + ".org"),
                         ("postcode", "1" * 21), ("comment", "c" * 1001),
                         ("comment", "c" * 5000)]:
        with pytest.raises(SigningError) as caught:
            sign(action, signature_input(**{field: value}))
        assert caught.value.field == field
        assert "at most" in str(caught.value)
    assert _stored() == (0, 0)


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_sign_refuses_an_action_that_is_not_open(app, status):
    action = make_action(publish=status != "draft")
    if status == "closed":
        actions.close_action(action)
    with pytest.raises(ActionClosedError):
        sign(action, signature_input())
    assert _stored() == (0, 0)
