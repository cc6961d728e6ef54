"""The suppression list: bounced addresses land on it, every sending path checks it, and
admins see and edit it (by address, though only a digest is stored)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select

from petitions.extensions import db
from petitions.models import AuditEntry, OutboundEmail, OutboxStatus, Suppression
from petitions.services import suppression
from tests.conftest import free_port
from tests.factories import (
    csrf_token,
    deliver_pending_mail,
    field_error,
    make_action,
    make_signature,
    parse_html,
    post_form,
)
from tests.organizer_factories import login, make_user


class RefusingHandler:
    """An SMTP server that knows no mailbox: every recipient gets a permanent 550."""

    async def handle_RCPT(self, server: object, session: object, envelope: object,
                          address: str, rcpt_options: list[str]) -> str:
        return "550 5.1.1 <" + address + ">: no such user"


@pytest.fixture
def refusing_smtp(app, monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    port = free_port()
    controller = Controller(RefusingHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    yield
    controller.stop()


def test_a_permanent_refusal_suppresses_the_address_everywhere(app, refusing_smtp):
    action = make_action()
    signature = make_signature(action, email="gone@example.org")
    deliver_pending_mail()

    row = db.session.scalars(select(OutboundEmail)).one()
    assert row.status == OutboxStatus.FAILED and "gone@example.org" not in row.last_error
    [entry] = db.session.scalars(select(Suppression)).all()
    assert (entry.scope, entry.reason, entry.email_digest) == (
        "all", "bounced", signature.email_digest)
    assert suppression.is_suppressed(signature.email_digest, make_action().id)


def search(client, address: str):  # type: ignore[no-untyped-def]
    return client.post("/admin/suppressions/search", data={
        "address": address, "csrf_token": csrf_token(client, "/admin/suppressions")})


def test_admins_add_find_and_remove_suppressed_addresses(app, client, mailbox):
    admin = make_user("admin")
    login(client, admin)
    assert client.get("/admin/suppressions").status_code == 200

    response = post_form(client, "/admin/suppressions", {"email": "not an address"})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "email")

    response = post_form(client, "/admin/suppressions",
                         {"email": "Blocked@Example.org", "note": "asked by phone"})
    assert response.status_code == 303
    [entry] = db.session.scalars(select(Suppression)).all()
    assert (entry.scope, entry.reason, entry.note) == ("all", "admin", "asked by phone")
    html = client.get("/admin/suppressions").get_data(as_text=True)
    assert "blocked@example.org" not in html.lower()  # only the digest is kept

    # Found by the address however it is typed; another address finds nothing. The
    # search is a POST: the address never sits in a URL.
    page = parse_html(client.get("/admin/suppressions").get_data(as_text=True))
    [form] = [f for f in page.find_all("form") if f.find("input", name="address")]
    assert form.get("method") == "post"
    assert form.get("action") == "/admin/suppressions/search"
    found = parse_html(search(client, "blocked@EXAMPLE.org").get_data(as_text=True))
    assert len(found.find("tbody").find_all("tr")) == 1
    other = parse_html(search(client, "someone@example.org").get_data(as_text=True))
    assert other.find("tbody").find_all("tr") == []
    invalid = search(client, "nope")
    assert invalid.status_code == 422
    assert field_error(invalid.get_data(as_text=True), "address")
    # A GET with the address in the query string searches nothing: other entries show.
    post_form(client, "/admin/suppressions", {"email": "other@example.org"})
    listed = parse_html(client.get("/admin/suppressions?address=blocked@example.org")
                        .get_data(as_text=True))
    assert len(listed.find("tbody").find_all("tr")) == 2
    db.session.execute(delete(Suppression).where(Suppression.id != entry.id))
    db.session.commit()

    # The address gets no mail now.
    make_signature(make_action(), email="blocked@example.org")
    deliver_pending_mail()
    assert mailbox.messages == []

    token = csrf_token(client, "/admin/suppressions")
    assert client.post(f"/admin/suppressions/{entry.id}/remove",
                       data={"csrf_token": token}).status_code == 303
    assert db.session.scalars(select(Suppression)).all() == []
    verbs = db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.object_type == "suppression").order_by(AuditEntry.id)).all()
    assert verbs == ["suppression.create", "suppression.create", "suppression.delete"]
    assert client.post(f"/admin/suppressions/{entry.id}/remove",
                       data={"csrf_token": token}).status_code == 404


def test_organizers_may_not_see_the_suppression_list(client):
    login(client, make_user("organizer"))
    assert client.get("/admin/suppressions").status_code == 403
