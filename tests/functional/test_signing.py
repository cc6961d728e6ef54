"""Signing an action through the form: validation, the confirmation email, duplicates."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from petitions.countries import CODES
from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxStatus, Signature, SignatureStatus
from petitions.services import actions, confirming, counting, retention
from petitions.services.signing import CONSENT_VERSION, token_digest
from tests.conftest import body_text, confirmation_link
from tests.factories import (
    age_signature,
    confirmation_token,
    csrf_token,
    deliver_pending_mail,
    field_error,
    form_data,
    fresh,
    make_action,
    parse_html,
    post_form,
)

FIELDS = ("first_name", "last_name", "email", "country", "postcode", "comment")


def _sign(client, action, **overrides):
    return post_form(client, f"/actions/{action.slug}", form_data(**overrides))


def _stored() -> tuple[int, int]:
    """How many signatures and outbox emails there are."""
    return (db.session.scalar(select(func.count()).select_from(Signature)),
            db.session.scalar(select(func.count()).select_from(OutboundEmail)))


def _path(link: str) -> str:
    return urlsplit(link).path


# --- a valid signature -------------------------------------------------------------------


def test_a_valid_signature_is_stored_pending_and_confirmed_by_email(client, mailbox):
    action = make_action(title="Free the Camp Liberty residents")
    response = _sign(client, action, first_name="Le\u0131la", last_name="Tester",
                     email=" Leila@Example.ORG ", country="IQ", postcode="10001",
                     comment="Stand firm.")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/actions/{action.slug}/check-email"

    [signature] = db.session.scalars(select(Signature)).all()
    assert signature.action_id == action.id
    assert signature.status == SignatureStatus.PENDING
    assert (signature.first_name, signature.last_name) == ("Le\u0131la", "Tester")
    assert signature.email == "Leila@example.org"
    assert (signature.country, signature.postcode, signature.comment) == (
        "IQ", "10001", "Stand firm.")
    assert signature.updates_opt_in is False and signature.consent_version is None
    assert signature.ip_digest  # a keyed digest, never the address itself
    [row] = db.session.scalars(select(OutboundEmail)).all()
    assert (row.signature_id, row.status) == (signature.id, OutboxStatus.PENDING)
    assert counting.counts(action.id) == counting.Counts(confirmed=0, pending=1)
    assert mailbox.messages == []  # the worker sends it, not the web request

    assert deliver_pending_mail() == 1
    [message] = mailbox.wait_for(1)
    assert mailbox.envelopes[0][1] == ["Leila@example.org"]
    assert "Leila@example.org" in message["To"]
    assert message["From"] == "Urgent Actions <actions@petitions.test>"
    assert "Free the Camp Liberty residents" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain", "text/html"]
    link = confirmation_link(message)
    assert re.fullmatch(r"http://petitions\.test/confirm/[A-Za-z0-9_-]{40,}", link)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'href="{link}"' in html
    assert token_digest(link.rsplit("/", 1)[1]) == fresh(Signature, signature.id).token_digest
    sent = fresh(OutboundEmail, row.id)
    assert sent.status == OutboxStatus.SENT and sent.payload is None

    followed = client.get(response.headers["Location"])
    assert followed.status_code == 200
    page = parse_html(followed.get_data(as_text=True))
    assert page.find("h1").text == "Check your email"
    assert "Free the Camp Liberty residents" in page.text


def test_the_email_is_handed_to_the_worker_after_the_commit(app, client, monkeypatch):
    sent = []
    celery = app.extensions["celery"]
    monkeypatch.setattr(celery, "send_task",
                        lambda name, args=None, **kwargs: sent.append((name, args)))
    action = make_action()
    assert _sign(client, action).status_code == 303
    row = db.session.scalars(select(OutboundEmail)).one()
    # The web tier hands the sealed submission to a vault worker, which hands the email
    # it recorded to the mail worker.
    assert [name for name, _ in sent] == ["petitions.intake_process", "petitions.send_email"]
    assert sent[1] == ("petitions.send_email", [row.id])


def test_a_broker_outage_loses_no_email(app, client, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app.extensions["celery"], "send_task", broker_down)
    action = make_action()
    response = _sign(client, action)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/actions/{action.slug}/check-email"
    row = db.session.scalars(select(OutboundEmail)).one()
    # Left for the dispatcher, which picks up rows never handed off.
    assert (row.status, row.dispatched_at) == (OutboxStatus.PENDING, None)
    assert _stored() == (1, 1)


def test_opting_in_to_updates_is_recorded_with_the_consent_version(client):
    action = make_action()
    _sign(client, action, updates_opt_in="y")
    _sign(client, action)
    opted, not_opted = db.session.scalars(select(Signature).order_by(Signature.id)).all()
    assert opted.updates_opt_in is True and opted.consent_version == CONSENT_VERSION
    assert opted.consent_at is not None
    assert not_opted.updates_opt_in is False and not_opted.consent_version is None


def test_the_campaign_source_is_kept(client):
    action = make_action()
    url = f"/actions/{action.slug}?source=newsletter-2026"
    response = post_form(client, url, form_data())
    assert response.status_code == 303
    assert db.session.scalar(select(Signature.source)) == "newsletter-2026"


# --- invalid input -----------------------------------------------------------------------

INVALID = [
    pytest.param({"email": "not-an-email"}, "email", "@", id="email-without-at"),
    pytest.param({"email": "user@example"}, "email", "", id="email-without-tld"),
    pytest.param({"email": "user@@example.org"}, "email", "", id="email-double-at"),
    pytest.param({"email": "user@localhost"}, "email", "", id="email-special-domain"),
    pytest.param({"email": ""}, "email", "Please enter your email address.", id="email-empty"),
    pytest.param({"email": "a" * 250 + "@example.org"}, "email", "", id="email-too-long"),
    pytest.param({"first_name": ""}, "first_name", "Please enter your first name.",
                 id="first-name-missing"),
    pytest.param({"last_name": "   "}, "last_name", "Please enter your last name.",
                 id="last-name-blank"),
    pytest.param({"first_name": "!!!"}, "first_name", "punctuation", id="first-name-punct"),
    pytest.param({"last_name": "- . -"}, "last_name", "punctuation", id="last-name-punct"),
    pytest.param({"first_name": "\U0001F642\U0001F642"}, "first_name", "punctuation",
                 id="first-name-emoji"),
    pytest.param({"last_name": "\u200b\u200b\u202e"}, "last_name", "required",
                 id="last-name-invisible"),
    pytest.param({"country": "ZZ"}, "country", "Please choose a country from the list.",
                 id="country-unknown"),
    pytest.param({"country": ""}, "country", "Please choose your country.",
                 id="country-missing"),
    pytest.param({"country": "FRA"}, "country", "from the list", id="country-alpha3"),
    pytest.param({"first_name": "x" * 101}, "first_name", "100", id="first-name-too-long"),
    pytest.param({"last_name": "y" * 101}, "last_name", "100", id="last-name-too-long"),
    pytest.param({"postcode": "1" * 21}, "postcode", "20", id="postcode-too-long"),
    pytest.param({"comment": "c" * 1001}, "comment", "1000", id="comment-too-long"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID)
def test_invalid_input_is_refused_next_to_its_field(client, mailbox, overrides, field,
                                                    message):
    action = make_action()
    data = form_data(**{"postcode": "75011", "comment": "Keep going.", **overrides})
    response = post_form(client, f"/actions/{action.slug}", data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = field_error(html, field)
    assert error and message in error
    for other in FIELDS:
        if other != field:
            assert field_error(html, other) is None, other
    page = parse_html(html)
    assert page.find("p", class_="error-summary")
    # What the supporter typed is still there.
    for name in ("first_name", "last_name", "email", "postcode"):
        assert page.find("input", name=name).get("value") == data[name]
    assert page.find("textarea", name="comment").text == " ".join(data["comment"].split())
    selected = [o.get("value") for o in page.find("select", name="country").find_all("option")
                if "selected" in o.attrs]
    # The chosen country stays chosen; an unknown code leaves nothing chosen.
    assert selected == ([data["country"]] if data["country"] in (*CODES, "") else [])
    # Nothing stored, nothing queued, nothing sent.
    assert _stored() == (0, 0)
    assert counting.counts(action.id) == counting.Counts()
    assert deliver_pending_mail() == 0
    assert mailbox.messages == []


def test_every_bad_field_gets_its_own_message(client):
    action = make_action()
    response = _sign(client, action, first_name="", email="nope", country="ZZ")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "first_name") == "Please enter your first name."
    assert field_error(html, "email")
    assert field_error(html, "country") == "Please choose a country from the list."
    assert field_error(html, "last_name") is None
    assert _stored() == (0, 0)


def test_the_opt_in_box_stays_ticked_after_an_error(client):
    action = make_action()
    response = _sign(client, action, email="nope", updates_opt_in="y")
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    assert "checked" in page.find("input", name="updates_opt_in").attrs


def test_a_missing_or_wrong_csrf_token_is_a_readable_400(client):
    action = make_action()
    client.get(f"/actions/{action.slug}")  # the session has a token; the form lacks it
    for token in (None, "", "forged-token", "a" * 200):
        data = form_data()
        if token is not None:
            data["csrf_token"] = token
        response = client.post(f"/actions/{action.slug}", data=data)
        assert response.status_code == 400, token
        assert response.mimetype == "text/html"
        page = parse_html(response.get_data(as_text=True))
        assert page.find("h1").text == "Form expired"
        assert "reload the page" in page.text
    assert _stored() == (0, 0)


def test_a_csrf_token_from_another_session_is_refused(app, client):
    action = make_action()
    url = f"/actions/{action.slug}"
    stranger_token = csrf_token(app.test_client(), url)
    client.get(url)
    response = client.post(url, data={**form_data(), "csrf_token": stranger_token})
    assert response.status_code == 400
    assert _stored() == (0, 0)


# --- the same address again --------------------------------------------------------------

SAME_ADDRESS = [
    ("someone@example.org", "SOMEONE@EXAMPLE.ORG"),
    ("someone@example.org", "  Someone@Example.org  "),
    ("Someone@Example.org", "someone@example.org"),
    ("user@bücher.example", "user@xn--bcher-kva.example"),
    ("user@xn--bcher-kva.example", "USER@BÜCHER.EXAMPLE"),
]


@pytest.mark.parametrize(("first", "again"), SAME_ADDRESS)
def test_the_same_address_never_signs_twice(client, mailbox, first, again):
    action = make_action()
    assert _sign(client, action, email=first).status_code == 303
    assert deliver_pending_mail() == 1
    response = _sign(client, action, email=again, first_name="Someone Else")
    assert response.status_code == 303
    # Within the resend interval: no second signature, no second email.
    assert _stored() == (1, 1)
    assert deliver_pending_mail() == 0
    assert len(mailbox.wait_for(1)) == 1
    assert counting.counts(action.id) == counting.Counts(confirmed=0, pending=1)
    assert db.session.scalar(select(Signature.first_name)) == "Leila"


def test_after_the_resend_interval_a_new_link_replaces_the_old(app, client, mailbox,
                                                             monkeypatch):
    action = make_action()
    _sign(client, action, email="anna@example.org")
    deliver_pending_mail()
    old_link = confirmation_link(mailbox.wait_for(1)[0])

    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    assert _sign(client, action, email="ANNA@example.org").status_code == 303
    assert _stored() == (1, 2)
    assert deliver_pending_mail() == 1
    messages = mailbox.wait_for(2)
    assert len(messages) == 2
    new_link = confirmation_link(messages[1])
    assert new_link != old_link
    assert client.get(_path(old_link)).status_code == 404
    assert client.get(_path(new_link)).status_code == 200
    assert counting.counts(action.id) == counting.Counts(confirmed=0, pending=1)


def test_the_resend_interval_is_measured_from_the_last_email(client, mailbox):
    action = make_action()
    _sign(client, action, email="anna@example.org")
    deliver_pending_mail()
    signature = db.session.scalars(select(Signature)).one()
    age_signature(signature, seconds=299)
    _sign(client, action, email="anna@example.org")
    assert deliver_pending_mail() == 0
    age_signature(fresh(Signature, signature.id), seconds=2)
    _sign(client, action, email="anna@example.org")
    assert deliver_pending_mail() == 1
    assert len(mailbox.wait_for(2)) == 2
    assert _stored() == (1, 2)


def _confirmed_signer(client, action, email="anna@example.org", **overrides):
    _sign(client, action, email=email, **overrides)
    signature = db.session.scalars(select(Signature).order_by(Signature.id.desc())).first()
    confirming.confirm(confirmation_token(signature))
    deliver_pending_mail()
    return signature


def _kinds() -> list[str]:
    return list(db.session.scalars(select(OutboundEmail.kind).order_by(OutboundEmail.id)))


def test_a_confirmed_signer_is_told_once_that_someone_signed_again(app, client, mailbox,
                                                                   monkeypatch):
    action = make_action(title="Free the Camp Liberty residents")
    signature = _confirmed_signer(client, action)
    mailbox.clear()

    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    response = _sign(client, action, email="Anna@Example.org", first_name="Someone Else")
    assert response.status_code == 303
    assert deliver_pending_mail() == 1
    [notice] = mailbox.wait_for(1)
    assert mailbox.envelopes[0][1] == ["anna@example.org"]
    assert "Free the Camp Liberty residents" in notice["Subject"]
    assert "again" in notice["Subject"]
    text = body_text(notice)
    assert text.startswith("Hello Leila,")  # the owner's name, not the prober's
    assert "signed “Free the Camp Liberty residents” again with your email address" in text
    assert "Nothing has changed" in text and "You need do nothing." in text
    assert "/confirm/" not in text and "Someone Else" not in text
    html = notice.get_body(preferencelist=("html",)).get_content()
    assert "You need do nothing." in html and "<img" not in html
    # Nothing else changed: one signature, counted once, still the owner's.
    assert _stored() == (1, 2)
    assert _kinds() == ["confirmation", "signed_again"]
    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=0)
    stored = fresh(Signature, signature.id)
    assert (stored.status, stored.first_name) == (SignatureStatus.CONFIRMED, "Leila")
    assert stored.signed_again_notice_at is not None


def test_the_notice_goes_at_most_once_a_day(client, mailbox):
    action = make_action()
    signature = _confirmed_signer(client, action)
    mailbox.clear()

    _sign(client, action, email="anna@example.org")
    assert deliver_pending_mail() == 1
    _sign(client, action, email="anna@example.org")  # a third time, the same day
    _sign(client, action, email="ANNA@example.org")
    assert deliver_pending_mail() == 0
    assert len(mailbox.wait_for(1)) == 1

    stored = fresh(Signature, signature.id)
    stored.signed_again_notice_at -= timedelta(hours=23, minutes=59)
    db.session.commit()
    _sign(client, action, email="anna@example.org")
    assert deliver_pending_mail() == 0
    stored = fresh(Signature, signature.id)
    stored.signed_again_notice_at -= timedelta(minutes=1)
    db.session.commit()
    _sign(client, action, email="anna@example.org")
    assert deliver_pending_mail() == 1
    assert len(mailbox.wait_for(2)) == 2
    assert _kinds() == ["confirmation", "signed_again", "signed_again"]


def test_the_notice_is_per_action(client, mailbox):
    first, second = make_action(), make_action()
    _confirmed_signer(client, first)
    _confirmed_signer(client, second)
    mailbox.clear()

    _sign(client, first, email="anna@example.org")
    _sign(client, second, email="anna@example.org")

    assert deliver_pending_mail() == 2
    assert sorted(" ".join(m["Subject"].split()) for m in mailbox.wait_for(2)) == sorted(
        f"Someone signed again with your address: {a.title}" for a in (first, second))


def test_an_anonymized_signer_gets_no_notice(client, mailbox):
    action = make_action()
    _confirmed_signer(client, action)
    retention.anonymize_action(action)  # its retention ran; then it was reopened
    mailbox.clear()

    assert _sign(client, action, email="anna@example.org").status_code == 303

    assert deliver_pending_mail() == 0
    assert _kinds() == ["confirmation"]


def test_the_notice_is_in_the_signers_language(client, mailbox):
    action = make_action()
    _confirmed_signer(client, action)
    signature = db.session.scalars(select(Signature)).one()
    signature.locale = "fr"
    db.session.commit()
    mailbox.clear()

    _sign(client, action, email="anna@example.org")
    deliver_pending_mail()

    [notice] = mailbox.wait_for(1)
    html = notice.get_body(preferencelist=("html",)).get_content()
    assert '<html lang="fr">' in html


def test_a_pending_signer_signing_again_gets_the_confirmation_not_a_notice(app, client,
                                                                           mailbox,
                                                                           monkeypatch):
    action = make_action()
    _sign(client, action, email="anna@example.org")
    deliver_pending_mail()
    _sign(client, action, email="anna@example.org")  # within the resend interval
    assert deliver_pending_mail() == 0

    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    _sign(client, action, email="anna@example.org")
    assert deliver_pending_mail() == 1
    messages = mailbox.wait_for(2)
    assert [confirmation_link(m) for m in messages]  # both carry a confirmation link
    assert _kinds() == ["confirmation", "confirmation"]
    assert db.session.scalar(select(Signature.signed_again_notice_at)) is None


def test_the_response_never_tells_whether_an_address_has_signed(app, client, monkeypatch):
    action = make_action()

    def observe(email):
        response = _sign(client, action, email=email)
        followed = client.get(response.headers["Location"])
        return (response.status_code, sorted(response.headers.items()), response.get_data(),
                followed.status_code, followed.get_data())

    fresh_address = observe("first@example.org")
    pending_within_interval = observe("FIRST@example.org")
    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    pending_after_interval = observe(" first@example.org ")
    confirming.confirm(confirmation_token(db.session.scalars(select(Signature)).one()))
    confirmed = observe("First@Example.org")
    another_fresh_address = observe("second@example.org")

    assert fresh_address == pending_within_interval == pending_after_interval
    assert fresh_address == confirmed == another_fresh_address
    # ...while what happened behind it differs: one resend, one notice to the confirmed
    # signer, one new signature.
    assert _stored() == (2, 4)


# --- addresses beyond ASCII --------------------------------------------------------------


def test_an_idn_address_gets_its_email_at_the_ascii_form_of_its_domain(client, mailbox):
    action = make_action()
    _sign(client, action, email="user@bücher.example")
    assert deliver_pending_mail() == 1
    [message] = mailbox.wait_for(1)
    assert mailbox.envelopes[0][1] == ["user@xn--bcher-kva.example"]
    assert confirmation_link(message)
    assert db.session.scalar(select(OutboundEmail.status)) == OutboxStatus.SENT


def test_an_address_we_could_not_mail_is_refused_at_the_form(client, mailbox):
    # email-validator accepts a non-ASCII local part only with SMTPUTF8, which this
    # sender does not speak: the supporter is told at once, instead of waiting for a
    # confirmation that can never arrive.
    action = make_action()
    response = _sign(client, action, email="jos\u00e9@example.org")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "email")
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0


# --- closed and unpublished actions ------------------------------------------------------


@pytest.mark.parametrize("how", ["service", "cli"])
def test_signing_a_closed_action_is_refused(client, runner, how):
    action = make_action()
    url = f"/actions/{action.slug}"
    token = csrf_token(client, url)  # the supporter opened the form before it closed
    if how == "cli":
        assert runner.invoke(args=["actions", "close", action.slug]).exit_code == 0
    else:
        actions.close_action(action)
    response = client.post(url, data={**form_data(), "csrf_token": token})
    assert response.status_code == 409
    page = parse_html(response.get_data(as_text=True))
    assert "Your signature was not recorded because the action is closed." in page.text
    assert not page.find_all("form")
    assert _stored() == (0, 0)
    assert deliver_pending_mail() == 0


def test_a_closed_action_refuses_even_before_checking_the_input(client):
    action = make_action()
    url = f"/actions/{action.slug}"
    token = csrf_token(client, url)
    actions.close_action(action)
    response = client.post(url, data={**form_data(email="nope", first_name=""),
                                      "csrf_token": token})
    assert response.status_code == 409
    assert "the action is closed" in response.get_data(as_text=True)
    assert _stored() == (0, 0)


def test_signing_a_draft_is_a_404(client):
    draft = make_action(publish=False)
    token = csrf_token(client, f"/actions/{make_action().slug}")
    response = client.post(f"/actions/{draft.slug}", data={**form_data(), "csrf_token": token})
    assert response.status_code == 404
    assert _stored() == (0, 0)


# --- no input makes a 500 ----------------------------------------------------------------

VALID = {"first_name": "Leila", "last_name": "Tester", "email": "garbage@example.org",
         "country": "FR"}
WEIRD = "\x00\x01\x08\x1b\u202e\u200b\ufeff\ufffd\U0001F600\u0301\uffff\U0010FFFF"

GARBAGE = [
    pytest.param({}, id="no-fields"),
    pytest.param({"first_name": "Leila"}, id="one-field"),
    pytest.param({name: WEIRD for name in FIELDS}, id="control-and-bidi-characters"),
    pytest.param({**VALID, "comment": WEIRD * 50}, id="weird-comment"),
    pytest.param({**VALID, "postcode": "\x00" * 20}, id="nul-postcode"),
    pytest.param({**VALID, "first_name": "\x00Leila"}, id="nul-in-name"),
    pytest.param({**VALID, "email": "user@example.org\x00"}, id="nul-in-email"),
    pytest.param({**VALID, "email": "user@xn--zz.example"}, id="bad-punycode"),
    pytest.param({**VALID, "email": "\"quoted local\"@example.org"}, id="quoted-local-part"),
    pytest.param({**VALID, "email": "user@[127.0.0.1]"}, id="ip-literal-domain"),
    pytest.param({**VALID, "country": "\x00\x00"}, id="nul-country"),
    pytest.param({**VALID, "country": "fr"}, id="lower-case-country"),
    pytest.param({**VALID, "updates_opt_in": WEIRD}, id="weird-checkbox"),
    pytest.param({name: "x" * 150_000 for name in FIELDS}, id="huge-fields"),
    pytest.param({**VALID, "comment": "\u0301" * 900}, id="combining-marks"),
    pytest.param({**VALID, "is_admin": "1", "status": "confirmed", "id": "1",
                  "action_id": "999", "email_digest": "0" * 64, "token_digest": "x"},
                 id="extra-fields"),
    pytest.param({**VALID, "country": ["FR", "DE"], "email": ["a@example.org", "b"]},
                 id="repeated-fields"),
]


def test_garbage_in_the_signing_form_never_causes_a_server_error(client):
    action = make_action()
    url = f"/actions/{action.slug}"
    token = csrf_token(client, url)
    for case in GARBAGE:
        [data] = case.values
        response = client.post(url, data={**data, "csrf_token": token})
        assert response.status_code in (303, 422), case.id


UNDECODABLE = [
    b"first_name=%FF%FE%00&last_name=%C0%AF&email=%ED%A0%80%40example.org&country=%E2%80%AE",
    b"\xff\xfe\x00\x01\x02",
    b"=&=&&&==%%%&first_name=%",
    b"email=" + b"%F0%9F%98%80" * 1000,
]


def test_undecodable_form_bodies_never_cause_a_server_error(client):
    action = make_action()
    url = f"/actions/{action.slug}"
    token = csrf_token(client, url).encode()
    for body in UNDECODABLE:
        response = client.post(url, data=body + b"&csrf_token=" + token,
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code < 500, body[:40]


def test_other_kinds_of_request_never_cause_a_server_error(client):
    action = make_action()
    url = f"/actions/{action.slug}"
    token = csrf_token(client, url)
    as_json = {"X-CSRFToken": token}
    responses = [
        client.post(url, json={**VALID, "csrf_token": token}),
        client.post(url, json={**VALID, "first_name": 123}, headers=as_json),
        client.post(url, json={**VALID, "email": {"a": 1}}, headers=as_json),
        client.post(url, json={**VALID, "country": None, "comment": [1, 2]}, headers=as_json),
        client.post(url, json=[1, 2, 3], headers=as_json),
        client.post(url, data={**VALID, "csrf_token": token,
                               "first_name": (io.BytesIO(b"\x00\xff" * 100), "name.bin")},
                    content_type="multipart/form-data"),
        client.post(url, data={**VALID, "csrf_token": token, "comment": "c" * 2_000_000}),
        client.post(url + "?source=%00%FF%FE" + "x" * 5000,
                    data={**VALID, "csrf_token": token}),
        client.put(url, data={**VALID, "csrf_token": token}),
        client.delete(url),
    ]
    assert all(r.status_code < 500 for r in responses), [r.status_code for r in responses]
    assert responses[6].status_code == 413
