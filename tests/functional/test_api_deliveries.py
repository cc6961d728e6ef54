"""The tally and delivery routes of the API: an organizer asks for a delivery, a worker
compiles it and each target receives the package by email; who may ask, what bad
requests answer; and the tally, public figures for everyone and the rest for staff,
which never counts signature rows itself."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import event, select

from petitions.api.openapi import SPEC
from petitions.extensions import db
from petitions.models import Action, ActionStatus, AuditEntry, DeliveryStatus
from petitions.services import deliveries, tallies
from petitions.services.actions import TargetInput, update_action
from tests.api_factories import staff_headers
from tests.delivery_flow_factories import (
    ADDRESS,
    GUTERRES,
    NO_EMAIL,
    ORGANIZER_EMAIL,
    PAPER_SIGNER,
    PENDING_SIGNER,
    SIGNERS,
    TURK,
    Organizer,
    attachments,
    delivery_outbox,
    make_deliverable_action,
    make_organizer,
    pdf_text,
    pdf_words,
)
from tests.factories import (
    deliver_pending_mail,
    make_action,
    make_confirmed_signature,
    make_signature,
)

SPEC_URI = "urn:petitions:openapi"
REGISTRY = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))


def schema_errors(name: str, instance: object) -> list[str]:
    """What in ``instance`` breaks the description's schema ``name``."""
    validator = Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"},
                                     registry=REGISTRY,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(instance)]


def deliveries_url(action: Action) -> str:
    return f"/api/v1/actions/{action.slug}/deliveries"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["status"] == status and error["message"]
    return error


@pytest.fixture
def action(app) -> Action:
    return make_deliverable_action()


@pytest.fixture
def organizer(action) -> Organizer:
    return make_organizer(action)


# --- the whole delivery ------------------------------------------------------------------


def test_each_target_gets_one_email_with_the_letter_and_the_list(client, mailbox, action,
                                                                 organizer):
    mailbox.clear()
    response = client.post(deliveries_url(action), headers=organizer.headers)

    assert response.status_code == 202, response.get_data(as_text=True)
    queued = response.json
    assert schema_errors("Delivery", queued) == []
    assert response.headers["Location"] == (
        f"http://localhost{deliveries_url(action)}/{queued['id']}")
    assert (queued["status"], queued["trigger"], queued["action"]) == (
        "queued", "manual", action.slug)
    assert queued["confirmed"] is None and queued["recipients"] == []

    assert deliveries.compile_delivery(queued["id"]) == DeliveryStatus.SENDING
    sending = client.get(response.headers["Location"], headers=organizer.headers).json
    assert sending["status"] == "sending"
    assert (sending["confirmed"], sending["paper"], sending["total"]) == (3, 1, 4)
    assert sending["by_country"] == {"CN": 1, "FR": 1, "IR": 1}
    assert [(r["name"], r["title"], r["status"]) for r in sending["recipients"]] == [
        (GUTERRES.name, GUTERRES.title, "pending"), (TURK.name, TURK.title, "pending")]

    assert deliver_pending_mail() == 3  # two targets, and the organizer's own copy

    assert len(mailbox.messages) == 3
    [copy] = mailbox.to(ORGANIZER_EMAIL)
    assert set(attachments(copy)) == {f"{action.slug}-signatures.csv",
                                      f"{action.slug}-letter-1.pdf",
                                      f"{action.slug}-letter-2.pdf"}
    message_ids = {}
    for target, other in ((GUTERRES, TURK), (TURK, GUTERRES)):
        [message] = mailbox.to(target.email)
        [to] = message["To"].addresses
        assert message["Cc"] is None
        assert (to.display_name, to.addr_spec) == (target.name, target.email)
        assert message["Subject"] == f"4 signatures: {action.title}"
        assert f"Dear {target.name}," in message.get_body(("plain",)).get_content()
        envelope = mailbox.envelopes[mailbox.messages.index(message)]
        assert envelope[1] == [target.email]
        files = attachments(message)
        assert set(files) == {f"{action.slug}-letter.pdf", f"{action.slug}-signatures.csv"}
        media_type, letter = files[f"{action.slug}-letter.pdf"]
        assert media_type == "application/pdf"
        text, words = pdf_text(letter), pdf_words(letter)
        assert f"Dear {target.name}," in text and target.title in text
        assert other.name not in text
        for first, last, *_ in SIGNERS:
            assert {*first.split(), *last.split()} <= words
        assert {*PAPER_SIGNER[0].split(), *PAPER_SIGNER[1].split()} <= words
        assert PENDING_SIGNER[1] not in text
        assert ADDRESS.search(text) is None
        assert all(postcode not in text for *_, postcode in SIGNERS)
        media_type, listing = files[f"{action.slug}-signatures.csv"]
        assert media_type == "text/csv"
        rows = list(csv.reader(io.StringIO(listing.lstrip("\ufeff"))))
        assert rows == [["first_name", "last_name", "country", "collected"],
                        *[[f, la, c, "online"] for f, la, c, *_ in SIGNERS],
                        [*PAPER_SIGNER, "paper"]]
        message_ids[target.name] = message["Message-ID"]

    sent = client.get(response.headers["Location"], headers=organizer.headers).json
    assert schema_errors("Delivery", sent) == []
    assert sent["status"] == "sent" and sent["sent_at"] and sent["error"] is None
    assert (sent["confirmed"], sent["paper"], sent["total"]) == (3, 1, 4)
    for recipient in sent["recipients"]:
        assert recipient["status"] == "sent" and recipient["sent_at"]
        assert recipient["message_id"] == message_ids[recipient["name"]]
        assert recipient["error"] is None
    assert not any(address in str(sent) for address in (GUTERRES.email, TURK.email))

    # The task delivered twice, e.g. after a worker was lost: nothing is sent again.
    assert deliveries.compile_delivery(queued["id"]) == DeliveryStatus.SENT
    assert deliver_pending_mail() == 0
    assert len(mailbox.messages) == 3 and len(delivery_outbox()) == 2
    assert db.session.get(Action, action.id).status == ActionStatus.PUBLISHED


def test_the_request_is_audited_as_made_through_the_api(client, action, organizer):
    response = client.post(deliveries_url(action), json={"mark_delivered": True},
                           headers=organizer.headers)

    assert response.status_code == 202
    [entry] = db.session.scalars(select(AuditEntry)
                                 .where(AuditEntry.verb == "delivery.request")).all()
    assert (entry.actor_id, entry.via, entry.object_id) == (
        organizer.user.id, "api", str(response.json["id"]))
    assert entry.after == {"action_id": action.id, "trigger": "manual",
                           "mark_delivered": True}


def test_the_list_has_every_delivery_of_the_action_newest_first(client, action, organizer):
    other = make_deliverable_action()
    admin = staff_headers("admin")
    first = client.post(deliveries_url(action), headers=organizer.headers).json["id"]
    second = client.post(deliveries_url(action), headers=admin).json["id"]
    client.post(deliveries_url(other), headers=admin)

    response = client.get(deliveries_url(action), headers=organizer.headers)

    assert response.status_code == 200
    assert schema_errors("DeliveryList", response.json) == []
    assert [d["id"] for d in response.json["deliveries"]] == [second, first]
    assert response.headers["Cache-Control"] == "no-store"


def test_an_action_without_deliveries_has_an_empty_list(client, action, organizer):
    response = client.get(deliveries_url(action), headers=organizer.headers)
    assert response.json == {"deliveries": []}


# --- refused requests --------------------------------------------------------------------


def test_a_draft_can_not_be_delivered(client):
    draft = make_action(publish=False)
    error = error_of(client.post(deliveries_url(draft), headers=staff_headers("admin")), 422)
    assert "draft" in error["message"]


def test_an_action_whose_targets_have_no_address_can_not_be_delivered(client):
    action = make_action(targets=[NO_EMAIL])
    headers = staff_headers("organizer", action)
    error = error_of(client.post(deliveries_url(action), headers=headers), 422)
    assert "email" in error["message"]
    assert client.get(deliveries_url(action), headers=headers).json == {"deliveries": []}


@pytest.mark.parametrize(("kwargs", "status", "field"), [
    ({"json": {"mark_delivered": "yes"}}, 422, "mark_delivered"),
    ({"json": {"mark_delivered": True, "to": "x@example.org"}}, 422, "to"),
    ({"data": b"{", "content_type": "application/json"}, 400, None),
    ({"json": ["mark_delivered"]}, 400, None),
    ({"data": b"mark_delivered=1", "content_type": "text/plain"}, 415, None),
])
def test_a_bad_body_is_refused_and_delivers_nothing(client, action, organizer, kwargs,
                                                    status, field):
    response = client.post(deliveries_url(action), headers=organizer.headers, **kwargs)

    error = error_of(response, status)
    if field:
        assert set(error["fields"]) == {field}
    assert deliveries.list_deliveries(action) == []


def test_who_may_ask_for_and_see_deliveries(client, action, organizer):
    delivery_id = client.post(deliveries_url(action), headers=organizer.headers).json["id"]
    one = f"{deliveries_url(action)}/{delivery_id}"
    stranger = staff_headers("organizer")

    for method, url in (("POST", deliveries_url(action)), ("GET", deliveries_url(action)),
                        ("GET", one)):
        anonymous = client.open(url, method=method)
        error_of(anonymous, 401)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        error_of(client.open(url, method=method, headers=stranger), 403)
    assert client.get(one, headers=staff_headers("admin")).status_code == 200
    assert len(deliveries.list_deliveries(action)) == 1


def test_unknown_actions_and_deliveries_are_not_found(client, action, organizer):
    other = make_deliverable_action()
    admin = staff_headers("admin")
    others_delivery = client.post(deliveries_url(other), headers=admin).json["id"]

    error_of(client.get(f"{deliveries_url(action)}/{others_delivery}",
                        headers=organizer.headers), 404)
    error_of(client.get(f"{deliveries_url(action)}/{others_delivery}", headers=admin), 404)
    error_of(client.get(f"{deliveries_url(action)}/999999", headers=admin), 404)
    error_of(client.post("/api/v1/actions/nothing-here/deliveries", headers=admin), 404)
    error_of(client.get("/api/v1/actions/nothing-here/deliveries", headers=admin), 404)


# --- the public tally --------------------------------------------------------------------


@pytest.fixture
def statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app runs while the test goes on."""
    seen: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    yield seen
    event.remove(db.engine, "before_cursor_execute", remember)


def reads_signatures(statements: list[str]) -> bool:
    return any(re.search(r"\bsignatures\b", s) for s in statements)


def _tally_action() -> Action:
    action = make_action()
    make_confirmed_signature(action, country="FR")
    make_confirmed_signature(action, country="IR")
    make_confirmed_signature(action, country="FR")
    make_signature(action, country="DE")
    return action


def test_the_public_tally_is_confirmed_and_paper_only(client):
    """No pending count and no breakdown: a new, unconfirmed signature must not move
    anything a stranger can read (docs/security.md, "the oracle closed")."""
    action = _tally_action()

    response = client.get(f"/api/v1/actions/{action.slug}/tally")

    assert response.status_code == 200
    data = response.json
    assert schema_errors("Tally", data) == []
    assert data == {"confirmed": 3, "paper": 0, "total": 3}


@pytest.mark.parametrize("who", ["admin", "organizer"])
def test_staff_who_manage_the_action_get_the_full_tally(client, who):
    action = _tally_action()
    headers = staff_headers(who, action if who == "organizer" else None)

    response = client.get(f"/api/v1/actions/{action.slug}/tally", headers=headers)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = response.json
    assert schema_errors("Tally", data) == []
    assert (data["confirmed"], data["pending"], data["paper"], data["total"]) == (3, 1, 0, 3)
    assert data["by_country"] == {"FR": 2, "IR": 1}
    assert sum(data["by_day"].values()) == 3
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+Z", data["compiled_at"])


@pytest.mark.parametrize("headers", [
    "stranger", {"Authorization": "Bearer pt_not-a-token"}, {"Authorization": "Basic eDp5"}])
def test_any_other_token_gets_the_public_tally(client, headers):
    action = _tally_action()
    if headers == "stranger":
        headers = staff_headers("organizer", make_action())

    response = client.get(f"/api/v1/actions/{action.slug}/tally", headers=headers)

    assert (response.status_code, response.json) == (
        200, {"confirmed": 3, "paper": 0, "total": 3})


def test_the_tally_reads_counters_and_the_compiled_tally_not_signatures(client, statements):
    action = make_action()
    headers = staff_headers("organizer", action)
    make_confirmed_signature(action, country="FR")
    tallies.compile_stale()
    url = f"/api/v1/actions/{action.slug}/tally"
    make_confirmed_signature(action, country="IR")
    db.session.expire_all()
    statements.clear()

    public = client.get(url).json
    live = client.get(url, headers=headers).json

    assert not reads_signatures(statements)
    assert public == {"confirmed": 2, "paper": 0, "total": 2}
    # The totals are live; the breakdowns wait for the scheduler's next run.
    assert (live["confirmed"], live["by_country"]) == (2, {"FR": 1})
    assert tallies.compile_stale() == 1
    compiled = client.get(url, headers=headers).json
    assert (compiled["confirmed"], compiled["by_country"]) == (2, {"FR": 1, "IR": 1})
    assert (datetime.fromisoformat(compiled["compiled_at"])
            > datetime.fromisoformat(live["compiled_at"]))


@pytest.mark.parametrize("slug", ["nothing-here", "a-draft"])
def test_there_is_no_tally_of_a_draft_or_of_nothing(client, slug):
    make_action(slug="a-draft", publish=False)
    error_of(client.get(f"/api/v1/actions/{slug}/tally"), 404)


def test_a_closed_action_still_has_its_tally(client):
    action = make_action()
    make_confirmed_signature(action)
    update_action(action, {"status": ActionStatus.CLOSED}, actor=None)

    assert client.get(f"/api/v1/actions/{action.slug}/tally").json["confirmed"] == 1


def test_targets_without_an_address_get_no_email(client, mailbox, action, organizer):
    update_action(action, {"targets": [NO_EMAIL, TargetInput(TURK.name, email=TURK.email)]},
                  actor=None)
    delivery_id = client.post(deliveries_url(action), headers=organizer.headers).json["id"]
    mailbox.clear()

    deliveries.compile_delivery(delivery_id)
    deliver_pending_mail()

    assert [m["To"].addresses[0].addr_spec for m in mailbox.messages] == [
        TURK.email, organizer.user.email]
