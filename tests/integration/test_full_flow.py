"""The supporter's whole path on the real services: the web app on PostgreSQL hands the
email to Redis, a Celery worker sends it to an SMTP server, and the link in it confirms."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import OutboxStatus, Signature, SignatureStatus
from tests.conftest import confirmation_link
from tests.factories import csrf_token, form_data, make_action, post_form
from tests.integration.conftest import outbox_rows, wait_for_intake, wait_until

BASE_URL = "http://petitions.test"


def api_count(client: FlaskClient, slug: str) -> int:
    response = client.get(f"/api/v1/actions/{slug}")
    assert response.status_code == 200
    return response.json["signature_count"]


def signature_states() -> list[tuple[SignatureStatus, bool]]:
    db.session.rollback()
    return [(s.status, s.confirmed_at is not None)
            for s in db.session.scalars(select(Signature).order_by(Signature.id))]


def all_sent(expected: int) -> bool:
    rows = outbox_rows()
    return len(rows) == expected and all(r.status == OutboxStatus.SENT for r in rows)


def test_sign_receive_confirm_and_count(live_app, live_client, worker, mailbox):
    action = make_action()
    url = f"/actions/{action.slug}"
    assert api_count(live_client, action.slug) == 0

    response = post_form(live_client, url, form_data(first_name="Amina",
                                                     email="Amina.Kaya@Example.org"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/actions/{action.slug}/check-email")

    messages = mailbox.wait_for(1)
    assert len(messages) == 1, worker.log_tail()
    [message] = messages
    assert "amina.kaya@example.org" in str(message["To"]).lower()
    assert message["Subject"] == f"Please confirm your signature: {action.title}"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain", "text/html"]
    link = confirmation_link(message)
    assert link.startswith(BASE_URL + "/confirm/")
    html = message.get_body(preferencelist=("html",))
    assert html is not None and link in html.get_content()
    wait_until(lambda: all_sent(1), what="the outbox row to be marked sent")
    # With a real mail server, the token is in the email only, never in the log.
    assert link.rpartition("/")[2] not in worker.log()

    # Opening the link (as a mail scanner does) changes nothing.
    path = link.removeprefix(BASE_URL)
    page = live_client.get(path)
    assert page.status_code == 200
    assert "Confirm my signature" in page.get_data(as_text=True)
    assert signature_states() == [(SignatureStatus.PENDING, False)]
    assert api_count(live_client, action.slug) == 0

    # Pressing the button, with the form's CSRF token, confirms.
    token = csrf_token(live_client, path)
    confirmed = live_client.post(path, data={"csrf_token": token})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"].endswith(f"/actions/{action.slug}/thank-you")
    assert signature_states() == [(SignatureStatus.CONFIRMED, True)]
    assert api_count(live_client, action.slug) == 1
    thanks = live_client.get(confirmed.headers["Location"])
    assert thanks.status_code == 200
    assert "your signature is confirmed" in thanks.get_data(as_text=True)

    # The link stays harmless afterwards, and the count does not move again.
    assert live_client.get(path).status_code == 200
    assert live_client.post(path, data={"csrf_token": token}).status_code == 303
    assert api_count(live_client, action.slug) == 1
    assert len(mailbox.messages) == 1


def test_a_confirmation_post_without_csrf_token_is_refused(live_app, live_client, worker,
                                                           mailbox):
    action = make_action()
    post_form(live_client, f"/actions/{action.slug}", form_data())
    [message] = mailbox.wait_for(1)
    path = confirmation_link(message).removeprefix(BASE_URL)

    assert live_client.post(path, data={}).status_code == 400
    assert signature_states() == [(SignatureStatus.PENDING, False)]
    assert api_count(live_client, action.slug) == 0


def test_signing_twice_gives_one_signature_and_one_email(live_app, live_client, worker,
                                                         mailbox):
    action = make_action()
    url = f"/actions/{action.slug}"

    first = post_form(live_client, url, form_data(email="twice@example.org"))
    second = post_form(live_client, url, form_data(email="  TWICE@example.ORG "))
    # Nobody can tell from the response that the address had signed already.
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]

    wait_for_intake(worker)
    assert signature_states() == [(SignatureStatus.PENDING, False)]
    # Within the resend interval, the second signing queued no email at all ...
    assert len(outbox_rows()) == 1
    # ... so once the one email is sent, nothing else can follow it.
    wait_until(lambda: all_sent(1), what=lambda: "the outbox row to be marked sent\n"
                                                  + worker.log_tail())
    assert len(mailbox.messages) == 1
    assert len(mailbox.to("twice@example.org")) == 1
