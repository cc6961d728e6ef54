"""Property tests (Hypothesis) of the rules every input goes through: normalizing names,
comments, sources and addresses, the signing form, network ranges and the proof of
work. Whatever the input, the rules either refuse it with a message or give a value
that keeps their promises."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from petitions import botcheck
from petitions.models import Action
from petitions.public.forms import SignatureForm
from petitions.services import abuse
from petitions.services.signing import (
    SigningError,
    normalize_comment,
    normalize_email,
    normalize_name,
    normalize_source,
    normalize_text,
)

INVISIBLE = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e"
                       "\u2060-\u2064\u2066-\u2069\ufeff]")
any_text = st.text(st.characters(codec="utf-8"), max_size=200)
FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
                    deadline=None, max_examples=60)


@given(any_text)
def test_normalized_text_is_clean_and_stable(raw: str) -> None:
    text = normalize_text(raw)
    assert normalize_text(text) == text
    assert not INVISIBLE.search(text)
    assert text == text.strip() and "  " not in text


@given(any_text)
def test_a_normalized_comment_keeps_its_lines_and_loses_invisible_characters(raw: str) -> None:
    comment = normalize_comment(raw)
    assert normalize_comment(comment) == comment
    assert not INVISIBLE.search(comment.replace("\n", ""))
    assert "\r" not in comment


@given(any_text)
def test_a_name_is_refused_or_has_a_letter_or_digit(raw: str) -> None:
    try:
        name = normalize_name(raw, "first_name")
    except SigningError as exc:
        assert exc.field == "first_name" and str(exc)
        return
    assert any(unicodedata.category(ch)[0] in "LN" for ch in name)
    assert normalize_name(name, "first_name") == name


@given(st.one_of(st.none(), any_text))
def test_a_source_is_a_short_safe_label(raw: str | None) -> None:
    source = normalize_source(raw)
    assert source is None or re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", source)


@given(st.emails())
def test_an_accepted_address_has_a_stable_case_insensitive_key(raw: str) -> None:
    try:
        email = normalize_email(raw)
    except SigningError as exc:
        assert exc.field == "email" and str(exc)
        return
    assert normalize_email(email.address).lookup_key == email.lookup_key
    local, _, domain = raw.rpartition("@")
    assume(local.isascii())
    assert normalize_email(f"{local.upper()}@{domain.upper()}").lookup_key == email.lookup_key


@given(any_text)
def test_any_text_as_an_address_is_refused_or_accepted_never_crashes(raw: str) -> None:
    try:
        email = normalize_email(raw)
    except SigningError:
        return
    assert "@" in email.lookup_key and email.lookup_key == email.lookup_key.casefold()


@FIXTURES
@given(st.dictionaries(st.sampled_from(["first_name", "last_name", "email", "country",
                                        "postcode", "comment", "updates_opt_in",
                                        "show_publicly", "website"]),
                       any_text, max_size=9))
def test_the_signing_form_validates_anything_without_crashing(app: Flask,
                                                              data: dict[str, str]) -> None:
    with app.test_request_context("/", method="POST", data=data):
        form = SignatureForm(meta={"csrf": False})
        if form.validate():
            assert form.first_name.data and form.email.data and form.country.data
        else:
            assert form.errors
            assert all(str(m) for ms in form.errors.values() for m in ms)


@given(st.ip_addresses(v=4), st.integers(min_value=16, max_value=32))
def test_an_ipv4_range_becomes_the_24s_that_cover_it(address: ipaddress.IPv4Address,
                                                     prefix: int) -> None:
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    networks = abuse.networks_in(str(network))
    assert all(n.prefixlen == 24 for n in networks)
    assert len(networks) == (2 ** (24 - prefix) if prefix < 24 else 1)
    assert any(address in n for n in networks)


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=15))
def test_a_range_wider_than_a_16_is_refused(address: ipaddress.IPv4Address,
                                            prefix: int) -> None:
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    try:
        abuse.networks_in(str(network))
    except abuse.AbuseError as exc:
        assert "/16" in str(exc)
    else:
        raise AssertionError("a range wider than a /16 was accepted")


@FIXTURES
@given(st.text(max_size=300))
def test_a_made_up_proof_of_work_is_never_accepted(app: Flask, raw: str) -> None:
    assert not botcheck.verify_solution(raw, Action(id=1))
