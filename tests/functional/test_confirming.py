"""Confirming a signature from the link in its email."""

from __future__ import annotations

import secrets
import threading
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import OutboundEmail, Signature, SignatureStatus
from petitions.services import confirming, counting
from tests.conftest import confirmation_link
from tests.factories import (
    age_signature,
    confirmation_token,
    csrf_token,
    deliver_pending_mail,
    form_data,
    fresh,
    make_action,
    make_signature,
    parse_html,
    post_form,
)


def _signed_by_email(client, mailbox, action, **overrides):
    """Sign through the form and return (signature, path of the link in the email)."""
    assert post_form(client, f"/actions/{action.slug}",
                     form_data(**overrides)).status_code == 303
    deliver_pending_mail()
    link = confirmation_link(mailbox.wait_for(1)[-1])
    assert link.startswith("http://petitions.test/confirm/")
    signature = db.session.scalars(select(Signature).order_by(Signature.id.desc())).first()
    return signature, urlsplit(link).path


def _public_counts(client, action) -> tuple[int, int, int]:
    """The count as the home page, the action page and the API show it."""
    def count(html: str) -> int:
        node = parse_html(html).find("p", class_="count").find("strong")
        return int(node.text.replace(",", ""))

    home = count(client.get("/").get_data(as_text=True))
    page = count(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    api = client.get(f"/api/v1/actions/{action.slug}").json["signature_count"]
    return home, page, api


# --- looking at the link -----------------------------------------------------------------


def test_opening_the_link_changes_nothing_and_offers_one_button(client, mailbox):
    action = make_action(title="Free the residents", summary="They need protection.")
    signature, path = _signed_by_email(client, mailbox, action)
    for _ in range(3):  # a mail scanner may open it many times
        response = client.get(path)
        assert response.status_code == 200
    assert fresh(Signature, signature.id).status == SignatureStatus.PENDING
    assert fresh(Signature, signature.id).confirmed_at is None
    assert counting.counts(action.id) == counting.Counts(confirmed=0, pending=1)
    assert _public_counts(client, action) == (0, 0, 0)

    page = parse_html(response.get_data(as_text=True))
    assert "Free the residents" in page.text and "They need protection." in page.text
    [form] = page.find_all("form")
    assert form.get("method") == "post"
    assert form.get("action") == path
    assert form.find("input", name="csrf_token", type="hidden").get("value")
    [button] = page.find_all("button")
    assert button.text == "Confirm my signature"
    assert button.get("type") == "submit"


# --- confirming --------------------------------------------------------------------------


def test_confirming_counts_the_signature_and_thanks_with_share_links(client, mailbox):
    action = make_action(title="Free the residents")
    signature, path = _signed_by_email(client, mailbox, action)
    assert _public_counts(client, action) == (0, 0, 0)

    response = post_form(client, path, {})
    assert response.status_code == 303
    thank_you = f"/actions/{action.slug}/thank-you"
    assert urlsplit(response.headers["Location"]).path == thank_you

    confirmed = fresh(Signature, signature.id)
    assert confirmed.status == SignatureStatus.CONFIRMED
    assert confirmed.confirmed_at is not None
    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=0)
    assert _public_counts(client, action) == (1, 1, 1)

    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    doc = parse_html(html)
    assert "your signature is confirmed" in doc.find("h1").text
    action_url = f"http://petitions.test/actions/{action.slug}"
    hrefs = [unquote(a.get("href")) for a in doc.find("ul", class_="share").find_all("a")]
    assert any(h.startswith("mailto:") for h in hrefs)
    for network in ("https://wa.me/", "https://t.me/", "https://x.com/",
                    "https://www.facebook.com/"):
        [href] = [h for h in hrefs if h.startswith(network)]
        assert action_url in href
    assert doc.find("input", id="share-url").get("value") == action_url
    assert int(doc.find("p", class_="count").find("strong").text) == 1


def test_confirming_twice_counts_once(client, mailbox):
    action = make_action()
    _, path = _signed_by_email(client, mailbox, action)
    token = csrf_token(client, path)
    first = client.post(path, data={"csrf_token": token})
    second = client.post(path, data={"csrf_token": token})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=0)
    assert _public_counts(client, action) == (1, 1, 1)
    # Opening the link afterwards says so, and changes nothing either.
    again = client.get(path)
    assert again.status_code == 200
    assert "already confirmed" in parse_html(again.get_data(as_text=True)).find("h1").text
    assert counting.counts(action.id).confirmed == 1


def test_two_confirmations_racing_each_other_count_once(app):
    # Two requests with one token at the same instant, each with its own session and
    # connection: one conditional update moves the signature, the other finds it moved.
    action = make_action()
    token = confirmation_token(make_signature(action))
    start = threading.Barrier(2)
    states: list[confirming.TokenState] = []

    def confirm_once() -> None:
        with app.app_context():
            start.wait()
            states.append(confirming.confirm(token).state)
            db.session.remove()

    threads = [threading.Thread(target=confirm_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert states == [confirming.TokenState.CONFIRMED] * 2
    db.session.expire_all()
    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=0)


def test_only_confirmed_signatures_are_counted(client, mailbox):
    action = make_action()
    _, path = _signed_by_email(client, mailbox, action)
    for _ in range(4):
        make_signature(action)
    post_form(client, path, {})
    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=4)
    assert _public_counts(client, action) == (1, 1, 1)


def test_confirming_without_the_csrf_token_is_refused(client, mailbox):
    action = make_action()
    signature, path = _signed_by_email(client, mailbox, action)
    response = client.post(path)
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)
    assert fresh(Signature, signature.id).status == SignatureStatus.PENDING
    assert counting.counts(action.id).confirmed == 0


# --- forged, altered, expired links ------------------------------------------------------


def _altered(token: str) -> str:
    return token[:-2] + ("AA" if token[-2:] != "AA" else "BB")


FORGED = [
    pytest.param(lambda real: secrets.token_urlsafe(32), id="random"),
    pytest.param(_altered, id="altered"),
    pytest.param(lambda real: real[:30], id="truncated"),
    pytest.param(lambda real: real + "x", id="extended"),
    pytest.param(lambda real: real.upper(), id="upper-cased"),
    pytest.param(lambda real: "abc", id="too-short"),
    pytest.param(lambda real: "a" * 5000, id="too-long"),
    pytest.param(lambda real: "%00" * 43, id="nul-bytes"),
    pytest.param(lambda real: "%FF%FE" * 20, id="undecodable"),
    pytest.param(lambda real: "%C3%BC" * 43, id="unicode"),
    pytest.param(lambda real: "%E2%80%AE" + real, id="bidi-override"),
    pytest.param(lambda real: "' OR 1=1 --" + "x" * 30, id="sql-ish"),
]


def test_forged_or_altered_links_get_a_clear_404(client):
    action = make_action()
    signature = make_signature(action)
    real = confirmation_token(signature)
    csrf = csrf_token(client, f"/actions/{action.slug}")
    for case in FORGED:
        [forge] = case.values
        path = f"/confirm/{forge(real)}"
        opened = client.get(path)
        assert opened.status_code == 404, case.id
        page = parse_html(opened.get_data(as_text=True))
        assert page.find("h1").text == "This link is not valid"
        assert "sign the action again" in page.text
        assert client.post(path, data={"csrf_token": csrf}).status_code == 404, case.id
        resend = client.post(path + "/resend", data={"csrf_token": csrf})
        assert resend.status_code == 404, case.id
        assert resend.mimetype == "text/html"
    assert fresh(Signature, signature.id).status == SignatureStatus.PENDING
    assert counting.counts(action.id).confirmed == 0
    assert deliver_pending_mail() == 1  # only the original email


def _expired_page(client, path):
    response = client.get(path)
    assert response.status_code == 410
    page = parse_html(response.get_data(as_text=True))
    assert page.find("h1").text == "This link has expired"
    return page


def test_an_expired_link_offers_a_new_one(client, mailbox):
    action = make_action(title="Free the residents")
    signature, old_path = _signed_by_email(client, mailbox, action)
    age_signature(signature, hours=169)

    page = _expired_page(client, old_path)
    assert "Free the residents" in page.text
    [form] = page.find_all("form")
    assert form.get("method") == "post"
    assert form.get("action") == old_path + "/resend"
    token = form.find("input", name="csrf_token").get("value")
    assert form.find("button").text == "Send me a new link"

    # Pressing "confirm" on an expired link does not confirm.
    assert client.post(old_path, data={"csrf_token": token}).status_code == 410
    assert fresh(Signature, signature.id).status == SignatureStatus.PENDING

    response = client.post(old_path + "/resend", data={"csrf_token": token})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/actions/{action.slug}/check-email"
    assert deliver_pending_mail() == 1
    messages = mailbox.wait_for(2)
    assert len(messages) == 2
    new_path = urlsplit(confirmation_link(messages[1])).path
    assert new_path != old_path

    assert client.get(old_path).status_code == 404  # replaced by the new link
    assert post_form(client, new_path, {}).status_code == 303
    assert fresh(Signature, signature.id).status == SignatureStatus.CONFIRMED
    assert _public_counts(client, action) == (1, 1, 1)


def test_the_link_lifetime_is_a_setting(app, client, mailbox, monkeypatch):
    action = make_action()
    signature, path = _signed_by_email(client, mailbox, action)
    assert client.get(path).status_code == 200
    monkeypatch.setitem(app.config, "CONFIRMATION_MAX_AGE_HOURS", 0)
    _expired_page(client, path)
    monkeypatch.setitem(app.config, "CONFIRMATION_MAX_AGE_HOURS", 168)
    age_signature(signature, hours=167)
    assert client.get(path).status_code == 200
    age_signature(fresh(Signature, signature.id), hours=2)
    _expired_page(client, path)


def test_resending_from_an_expired_link_respects_the_resend_interval(client, mailbox):
    action = make_action()
    signature, path = _signed_by_email(client, mailbox, action)
    age_signature(signature, hours=169)
    token = _expired_page(client, path).find("input", name="csrf_token").get("value")
    assert client.post(path + "/resend", data={"csrf_token": token}).status_code == 303
    # The old link is gone now: pressing the button again finds nothing to resend.
    assert client.post(path + "/resend", data={"csrf_token": token}).status_code == 404
    assert deliver_pending_mail() == 1
    outbox = db.session.scalar(select(func.count()).select_from(OutboundEmail))
    assert outbox == 2


def test_resending_needs_the_csrf_token(client, mailbox):
    action = make_action()
    signature, path = _signed_by_email(client, mailbox, action)
    age_signature(signature, hours=169)
    assert client.post(path + "/resend").status_code == 400
    assert deliver_pending_mail() == 0


def test_a_resend_link_is_not_opened_by_a_get(client, mailbox):
    action = make_action()
    _, path = _signed_by_email(client, mailbox, action)
    assert client.get(path + "/resend").status_code == 405
    assert deliver_pending_mail() == 0


# --- no input makes a 500 ----------------------------------------------------------------


GARBAGE_TOKENS = ["x", "%00", "%00" * 50, "A" * 43, "%FF" * 43, "%2F" * 43, "..%2F..%2F" * 5,
                  "\u202e" * 43, "a" * 10_000, "%F0%9F%98%80" * 20, "%ED%A0%80" * 15]


def test_garbage_confirmation_links_never_cause_a_server_error(client):
    action = make_action()
    make_signature(action)
    csrf = csrf_token(client, f"/actions/{action.slug}")
    for token in GARBAGE_TOKENS:
        for path in (f"/confirm/{token}", f"/confirm/{token}/resend"):
            responses = [
                client.get(path), client.post(path),
                client.post(path, data={"csrf_token": csrf}),
                client.post(path, data={"csrf_token": csrf, "extra": "\x00" * 1000}),
                client.post(path, json={"token": token}, headers={"X-CSRFToken": csrf})]
            statuses = [r.status_code for r in responses]
            assert all(status < 500 for status in statuses), (path[:60], statuses)
    assert counting.counts(action.id).confirmed == 0
