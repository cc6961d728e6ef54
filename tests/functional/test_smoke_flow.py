"""The supporter's whole path through the test client, mail through a real SMTP server."""

from __future__ import annotations

from tests.conftest import confirmation_link
from tests.factories import deliver_pending_mail, form_data, make_action, post_form


def test_sign_confirm_and_count(client, mailbox):
    action = make_action()
    url = f"/actions/{action.slug}"
    response = post_form(client, url, form_data(email="Someone@Example.org"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/actions/{action.slug}/check-email")

    assert deliver_pending_mail() == 1
    [message] = mailbox.wait_for(1)
    link = confirmation_link(message)
    path = link.removeprefix("http://petitions.test")

    page = client.get(path)
    assert page.status_code == 200
    assert client.get("/api/v1/actions/" + action.slug).json["signature_count"] == 0

    confirmed = post_form(client, path, {})
    assert confirmed.status_code == 303
    assert client.get("/api/v1/actions/" + action.slug).json["signature_count"] == 1
