"""No public answer tells whether an address has signed.

An adversary who knows a suspect's address can sign with it and watch everything a
stranger can read: the pages, the widget, the API, their headers. If anything moved
differently for an address that had signed already, or moved at all before the
signature was confirmed (which only the owner of the mailbox can do), the adversary
would learn that the suspect had signed. These tests take every public answer before
and after such a probe and require them to be the same (docs/security.md).
"""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie

import pytest
from flask import Flask
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, OutboundEmail, OutboxKind, Signature
from petitions.services import confirming, network
from tests.factories import (
    confirmation_token,
    form_data,
    make_action,
    make_confirmed_signature,
    make_signature,
    post_form,
)

# What is drawn afresh for every visitor, whatever the database holds: the CSRF token
# bound to the visitor's session.
_CSRF_VALUE = re.compile(rb'(name="csrf_token"[^>]*value=")[^"]*(")')
# How long ago the recent signers confirmed, in words: the clock's, like the Date header
# (the moment itself, in the datetime attribute, is compared).
_AGO_TEXT = re.compile(rb'(<time class="ago" datetime="[^"]*">)[^<]*(</time>)')
Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


def public_urls(app: Flask, action: Action) -> list[str]:
    """Every GET route of the public site and the API that needs nothing but the
    action's slug, plus the widget after signing: new public routes are covered
    without being listed here."""
    urls = []
    for rule in app.url_map.iter_rules():
        if (rule.endpoint.split(".")[0] in {"public", "api"} and "GET" in rule.methods
                and rule.arguments <= {"slug"}):
            urls.append(rule.build({"slug": action.slug} if rule.arguments else {})[1])
    assert f"/api/v1/actions/{action.slug}/tally" in urls
    return [*sorted(urls), f"/actions/{action.slug}/embed?signed=1"]


def _cookies(values: list[str]) -> tuple[str, ...]:
    """Set-Cookie headers without their (random) values: names and attributes."""
    described = []
    for value in values:
        for name, morsel in SimpleCookie(value).items():
            described.append(f"{name}; " + "; ".join(
                f"{key}={morsel[key]}" for key in sorted(morsel.keys()) if morsel[key]))
    return tuple(sorted(described))


def answer(response) -> Answer:  # type: ignore[no-untyped-def]
    # The Date header is the clock's, the same for everyone asking at that second; the
    # body is compared whole below, less the clock's words, so its length is not.
    headers = tuple(sorted((name, value) for name, value in response.headers.items()
                           if name not in {"Set-Cookie", "Date", "Content-Length"}))
    headers += tuple(("Set-Cookie", c) for c in _cookies(response.headers.getlist("Set-Cookie")))
    body = _AGO_TEXT.sub(rb"\1-\2", _CSRF_VALUE.sub(rb"\1-\2", response.get_data()))
    return response.status_code, headers, body


def snapshot(app: Flask, action: Action) -> dict[str, Answer]:
    """What a stranger gets from every public URL, asked as a new visitor; and the
    count asked again with the ETag it had (a widget's revalidation)."""
    seen: dict[str, Answer] = {}
    for url in public_urls(app, action):
        seen[url] = answer(app.test_client().get(url))
    count_url = f"/api/v1/actions/{action.slug}/count"
    etag = dict(seen[count_url][1])["ETag"]
    seen[count_url + " (revalidated)"] = answer(
        app.test_client().get(count_url, headers={"If-None-Match": etag}))
    return seen


def differences(before: dict[str, Answer], after: dict[str, Answer]) -> list[str]:
    return [url for url in before if before[url] != after[url]]


@pytest.fixture
def watched(app) -> Action:
    """An action with some history: a confirmed signer shown publicly, one pending."""
    action = make_action(deadline=None)
    make_confirmed_signature(action, country="FR", show_publicly=True)
    make_signature(action, country="DE")
    return action


def test_a_new_signature_changes_no_public_answer_until_it_is_confirmed(app, client, watched):
    before = snapshot(app, watched)

    response = post_form(client, f"/actions/{watched.slug}",
                         form_data(email="suspect@example.org", country="IR",
                                   show_publicly="y", updates_opt_in="y"))
    assert response.status_code == 303
    after_signing = snapshot(app, watched)

    assert differences(before, after_signing) == []
    # Confirming (only the mailbox's owner can) is what the public sees: the same
    # snapshot does see that, so it would have seen the signature had it shown.
    signature = db.session.scalars(select(Signature).order_by(Signature.id.desc())).first()
    confirming.confirm(confirmation_token(signature))
    after_confirming = snapshot(app, watched)
    assert f"/api/v1/actions/{watched.slug}/count" in differences(before, after_confirming)


@pytest.mark.parametrize("known", ["pending", "confirmed"])
def test_signing_with_a_known_address_answers_as_with_a_new_one(app, client, watched,
                                                                 monkeypatch, known):
    """Byte for byte: the 303 (status, Location, cookie names, body), and every public
    answer after it, whether the address had signed (pending or confirmed) or not."""
    victim = "victim@example.org"
    (make_confirmed_signature if known == "confirmed" else make_signature)(
        watched, email=victim, country="IR")
    # Also past the resend interval, where a pending signer's email is sent again.
    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    baseline = snapshot(app, watched)

    def probe(email: str) -> tuple[Answer, dict[str, Answer]]:
        response = post_form(client, f"/actions/{watched.slug}",
                             form_data(email=email, first_name="Probe", last_name="Probe",
                                       country="IR"))
        return answer(response), snapshot(app, watched)

    known_answer, after_known = probe(" Victim@Example.org ")
    new_answer, after_new = probe("stranger@example.org")

    assert known_answer[0] == 303
    assert known_answer == new_answer
    assert differences(baseline, after_known) == []
    assert differences(baseline, after_new) == []


@pytest.mark.parametrize("known", ["pending", "confirmed"])
def test_joining_the_network_with_a_members_address_answers_as_with_a_new_one(
        app, client, watched, known):
    """The same for the urgent-action network: nothing public tells who is a member."""
    member = "member@example.org"
    network.subscribe(member, network.Choice(True, [], []))
    if known == "confirmed":
        payload = db.session.scalar(select(OutboundEmail.payload)
                                    .where(OutboundEmail.kind == OutboxKind.SUBSCRIBE))
        assert network.confirm(json.loads(payload or "{}")["token"]) is not None
    baseline = snapshot(app, watched)

    def probe(email: str) -> tuple[Answer, Answer, dict[str, Answer]]:
        response = post_form(client, "/network", {"email": email, "scope": "all"})
        followed = client.get(response.headers["Location"])
        return answer(response), answer(followed), snapshot(app, watched)

    known_answer, known_page, after_known = probe(" Member@Example.org ")
    new_answer, new_page, after_new = probe("someone-new@example.org")

    assert known_answer[0] == 303
    assert (known_answer, known_page) == (new_answer, new_page)
    assert differences(baseline, after_known) == differences(baseline, after_new) == []
