"""Delivering the signatures: a compiled delivery sends one email per target once, however
often its task runs; SMTP failures are retried, and one that is final shows with its
reason; a delivery may move the action to delivered, which its public page then says;
and deliveries start by themselves once, when the goal is reached or the deadline passed."""

from __future__ import annotations

import contextlib
import smtplib
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from petitions.extensions import db
from petitions.i18n import format_long_date
from petitions.models import (
    Action,
    ActionStatus,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    DeliveryTrigger,
    OutboxStatus,
)
from petitions.services import deliveries, mail
from petitions.services.actions import TargetInput, update_action
from tests.account_factories import raw_rows
from tests.delivery_flow_factories import (
    ADDRESS,
    GUTERRES,
    NO_EMAIL,
    SIGNERS,
    TURK,
    Organizer,
    attachments,
    delivery_outbox,
    make_deliverable_action,
    make_organizer,
    pending_delivery_outbox_ids,
)
from tests.factories import (
    deliver_pending_mail,
    fresh,
    make_action,
    make_confirmed_signature,
    parse_html,
)
from tests.organizer_factories import bulk_signatures
from workers import tasks


@pytest.fixture
def action(app) -> Action:
    return make_deliverable_action()


@pytest.fixture
def organizer(action) -> Organizer:
    return make_organizer(action)


def request(action: Action, organizer: Organizer | None = None, **kwargs: Any) -> int:
    """A manual delivery asked for by ``organizer``; its id."""
    return deliveries.request_delivery(action, actor=organizer.user if organizer else None,
                                       **kwargs).id


def delivery_json(client, action: Action, organizer: Organizer, delivery_id: int) -> dict:
    response = client.get(f"/api/v1/actions/{action.slug}/deliveries/{delivery_id}",
                          headers=organizer.headers)
    assert response.status_code == 200
    return response.json


def refuse(address: str, error: type[Exception], reply: str) -> Any:
    """A ``mail.send_message`` that raises ``error`` for mail to ``address`` and sends
    everything else."""
    send = mail.send_message

    def send_message(message: Any) -> None:
        if address in str(message["To"]):
            raise error(reply)
        send(message)

    return send_message


# --- nobody behind the appeal is named to the officials ----------------------------------


def test_the_targets_message_names_no_organizer_who_gets_a_copy_of_their_own(
        app, mailbox, action, organizer):
    delivery_id = request(action, organizer)
    mailbox.clear()
    deliveries.compile_delivery(delivery_id)
    assert deliver_pending_mail() == 3
    user = organizer.user
    for target in (GUTERRES, TURK):
        [message] = mailbox.to(target.email)
        for header in ("Cc", "Bcc", "Reply-To"):
            assert message[header] is None
        envelope = mailbox.envelopes[mailbox.messages.index(message)]
        assert envelope[1] == [target.email]
        raw = message.as_string()
        bodies = (message.get_body(("plain",)).get_content()
                  + message.get_body(("html",)).get_content())
        for mention in (user.email, user.name, user.email.partition("@")[2]):
            assert mention not in raw and mention not in bodies
    [copy] = mailbox.to(user.email)
    assert str(copy["To"]) == f"{user.name} <{user.email}>"
    assert copy["Cc"] is None
    copy_text = copy.get_body(("plain",)).get_content()
    assert GUTERRES.name in copy_text and TURK.name in copy_text
    assert f"{action.slug}-signatures.csv" in attachments(copy)


# --- once, however often the task runs ---------------------------------------------------


def test_compiling_twice_queues_one_email_per_target(app, mailbox, action, organizer):
    delivery_id = request(action, organizer)
    mailbox.clear()

    assert tasks.compile_delivery.apply(args=[delivery_id]).get() == "sending"
    assert deliveries.compile_delivery(delivery_id) == DeliveryStatus.SENDING

    assert [(r.kind, r.status) for r in delivery_outbox()] == [("delivery", "pending")] * 2
    assert len(fresh(Delivery, delivery_id).recipients) == 2
    assert deliver_pending_mail() == 3  # and the organizer's copy
    assert deliveries.compile_delivery(delivery_id) == DeliveryStatus.SENT
    assert deliver_pending_mail() == 0
    assert sorted(str(m["To"]) for m in mailbox.messages) == sorted(
        [f"{t.name} <{t.email}>" for t in (GUTERRES, TURK)]
        + [f"{organizer.user.name} <{organizer.user.email}>"])


def test_a_second_worker_compiling_the_same_delivery_at_once_adds_nothing(
        app, mailbox, action, organizer, monkeypatch):
    """The task is delivered twice and both copies run: the second finishes compiling
    while the first is still building its files, and the first then finds the
    recipients there and drops its own package."""
    delivery_id = request(action, organizer)
    build_csv = deliveries.build_csv
    seen: list[DeliveryStatus | None] = []

    def build_csv_while_another_worker_compiles(rows: Any) -> bytes:
        monkeypatch.setattr(deliveries, "build_csv", build_csv)
        seen.append(deliveries.compile_delivery(delivery_id))
        return build_csv(rows)

    monkeypatch.setattr(deliveries, "build_csv", build_csv_while_another_worker_compiles)

    assert deliveries.compile_delivery(delivery_id) == DeliveryStatus.SENDING
    assert seen == [DeliveryStatus.SENDING]
    assert len(delivery_outbox()) == 2
    assert len(fresh(Delivery, delivery_id).files) == 3  # two letters and the CSV


def test_an_unknown_delivery_compiles_to_nothing(app):
    assert deliveries.compile_delivery(424242) is None


def test_the_package_is_kept_encrypted(app, action, organizer):
    delivery_id = request(action, organizer)
    deliveries.compile_delivery(delivery_id)

    rows = raw_rows("delivery_files")

    assert sorted(r["name"] for r in rows) == ["letter-1.pdf", "letter-2.pdf", "signatures.csv"]
    for row in rows:
        content = bytes(row["content"])
        assert b"%PDF" not in content and b"first_name" not in content
        assert not any(name.encode() in content for first, last, *_ in SIGNERS
                       for name in (first, last))
    stored = fresh(Delivery, delivery_id)
    letter = deliveries.get_file(stored, "letter-1.pdf")
    assert letter is not None and deliveries.read_file(letter).startswith(b"%PDF")


def test_a_delivery_whose_targets_lost_their_addresses_fails(app, action, organizer):
    delivery_id = request(action, organizer)
    update_action(action, {"targets": [NO_EMAIL]}, actor=None)

    assert deliveries.compile_delivery(delivery_id) == DeliveryStatus.FAILED

    delivery = fresh(Delivery, delivery_id)
    assert delivery.status == DeliveryStatus.FAILED and "email" in delivery.error
    assert delivery_outbox() == []


# --- SMTP failures -----------------------------------------------------------------------


def test_a_target_refused_for_good_fails_the_delivery_with_the_reason(
        app, client, mailbox, action, organizer, monkeypatch):
    delivery_id = request(action, organizer, mark_delivered=True)
    deliveries.compile_delivery(delivery_id)
    mailbox.clear()
    monkeypatch.setattr(mail, "send_message", refuse(
        TURK.email, mail.PermanentMailError,
        f"550 5.1.1 <{TURK.email}>: Recipient address rejected: User unknown"))

    assert deliver_pending_mail() == 3  # two targets and the organizer's copy

    data = delivery_json(client, action, organizer, delivery_id)
    assert data["status"] == "failed" and data["sent_at"] is None
    assert TURK.name in data["error"] and "550 5.1.1" in data["error"]
    assert "User unknown" in data["error"]
    recipients = {r["name"]: r for r in data["recipients"]}
    assert recipients[GUTERRES.name]["status"] == "sent"
    assert recipients[TURK.name]["status"] == "failed"
    assert recipients[TURK.name]["message_id"] is None
    assert "550 5.1.1" in recipients[TURK.name]["error"]
    assert ADDRESS.search(data["error"]) is None
    assert ADDRESS.search(recipients[TURK.name]["error"]) is None
    assert [m["To"].addresses[0].addr_spec for m in mailbox.messages] == [
        GUTERRES.email, organizer.user.email]
    # A failed delivery does not move the action.
    assert fresh(Action, action.id).status == ActionStatus.PUBLISHED


def test_a_temporary_failure_leaves_the_email_pending_for_its_retry(
        app, client, mailbox, action, organizer, monkeypatch):
    delivery_id = request(action, organizer)
    deliveries.compile_delivery(delivery_id)
    mailbox.clear()
    monkeypatch.setattr(mail, "send_message", refuse(
        TURK.email, mail.TemporaryMailError, f"421 4.7.0 <{TURK.email}> try again later"))

    for outbox_id in pending_delivery_outbox_ids():
        with contextlib.suppress(mail.TemporaryMailError):
            mail.deliver(outbox_id)

    [waiting] = [row for row in delivery_outbox() if row.status == OutboxStatus.PENDING]
    assert waiting.delivery_recipient.name == TURK.name and waiting.attempts == 1
    assert ADDRESS.search(waiting.last_error) is None and "421" in waiting.last_error
    data = delivery_json(client, action, organizer, delivery_id)
    assert data["status"] == "sending" and data["error"] is None
    assert [r["status"] for r in data["recipients"]] == ["sent", "pending"]

    monkeypatch.undo()
    assert deliver_pending_mail() == 2  # the retry, and the organizer's copy

    data = delivery_json(client, action, organizer, delivery_id)
    assert data["status"] == "sent" and data["sent_at"]
    assert [r["status"] for r in data["recipients"]] == ["sent", "sent"]
    assert sorted(m["To"].addresses[0].addr_spec for m in mailbox.messages) == sorted(
        [GUTERRES.email, TURK.email, organizer.user.email])


def test_the_task_retries_with_backoff_then_fails_the_delivery(
        app, client, mailbox, action, organizer, monkeypatch):
    """A server that answers 451 every time, through the real SMTP client: the task
    retries MAIL_RETRY_MAX times, waiting longer each time, then gives up."""
    monkeypatch.setitem(app.config, "MAIL_RETRY_MAX", 2)
    waits: list[int] = []
    monkeypatch.setattr(tasks, "_backoff", lambda retries: waits.append(retries) or 0)
    delivery_id = request(action, organizer)
    deliveries.compile_delivery(delivery_id)
    mailbox.clear()
    send = smtplib.SMTP.send_message

    def greylist(self: smtplib.SMTP, message: Any, *args: Any, **kwargs: Any) -> Any:
        if TURK.email in str(message["To"]):
            raise smtplib.SMTPResponseException(
                451, f"4.7.1 <{TURK.email}>: greylisted, try later".encode())
        return send(self, message, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", greylist)

    results = [tasks.send_email.apply(args=[i]).get() for i in pending_delivery_outbox_ids()]

    assert results == ["sent", "failed"]
    assert waits == [0, 1]
    data = delivery_json(client, action, organizer, delivery_id)
    assert data["status"] == "failed"
    assert "gave up after 3 attempts" in data["error"] and "451" in data["error"]
    assert ADDRESS.search(data["error"]) is None


# --- delivered ---------------------------------------------------------------------------


def test_a_delivery_that_reached_everyone_marks_the_action_delivered(
        app, client, action, organizer):
    delivery_id = request(action, organizer, mark_delivered=True)
    assert client.get(f"/actions/{action.slug}").status_code == 200
    deliveries.compile_delivery(delivery_id)
    assert fresh(Action, action.id).status == ActionStatus.PUBLISHED

    deliver_pending_mail()

    delivered = fresh(Action, action.id)
    assert delivered.status == ActionStatus.DELIVERED and delivered.closed_at
    changes = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "action.update")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.before["status"], e.after["status"], e.via) for e in changes] == [
        ("published", "closed", "worker"), ("closed", "delivered", "worker")]
    sent_on = format_long_date(fresh(Delivery, delivery_id).sent_at.date(), "en")
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    notice = page.find("p", class_="delivered")
    assert notice is not None
    assert notice.text == f"Delivered on {sent_on} to {GUTERRES.name}, {TURK.name}."


def test_a_closed_action_is_marked_delivered_too(app, action, organizer):
    update_action(action, {"status": ActionStatus.CLOSED}, actor=None)
    delivery_id = request(action, organizer, mark_delivered=True)
    deliveries.compile_delivery(delivery_id)
    deliver_pending_mail()

    assert fresh(Action, action.id).status == ActionStatus.DELIVERED


def test_without_mark_delivered_the_action_stays_open_and_the_page_tells(
        app, client, action, organizer):
    delivery_id = request(action, organizer)
    deliveries.compile_delivery(delivery_id)
    deliver_pending_mail()

    assert fresh(Action, action.id).status == ActionStatus.PUBLISHED
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    notice = page.find("p", class_="delivered")
    assert notice is not None and notice.text.startswith("Delivered on ")


def test_the_page_says_nothing_before_a_delivery_reached_everyone(app, client, action,
                                                                  organizer):
    delivery_id = request(action, organizer)
    deliveries.compile_delivery(delivery_id)

    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))

    assert page.find("p", class_="delivered") is None


# --- automatic deliveries ----------------------------------------------------------------


def auto_deliveries(action: Action) -> list[Delivery]:
    db.session.expire_all()
    return [d for d in deliveries.list_deliveries(action) if d.trigger != "manual"]


def test_reaching_the_goal_starts_one_delivery(app, mailbox):
    action = make_action(goal=3, deadline=None, targets=[GUTERRES])
    deliveries.set_auto_delivery(action, on_goal=True, at_deadline=False, actor=None)
    bulk_signatures(action, 2)
    assert deliveries.auto_deliver_due() == 0

    make_confirmed_signature(action)
    deliver_pending_mail()
    mailbox.clear()

    assert deliveries.auto_deliver_due() == 1
    assert deliveries.auto_deliver_due() == 0
    [delivery] = auto_deliveries(action)
    assert (delivery.trigger, delivery.mark_delivered, delivery.requested_by) == (
        DeliveryTrigger.GOAL, True, None)

    assert deliveries.compile_delivery(delivery.id) == DeliveryStatus.SENDING
    deliver_pending_mail()

    [message] = mailbox.messages
    assert message["Cc"] is None and "3 signatures" in message["Subject"]
    assert fresh(Action, action.id).status == ActionStatus.DELIVERED
    assert deliveries.auto_deliver_due() == 0
    assert len(auto_deliveries(action)) == 1


def test_passing_the_deadline_starts_one_delivery(app):
    action = make_action(deadline=date(2031, 1, 15), targets=[GUTERRES])
    deliveries.set_auto_delivery(action, on_goal=False, at_deadline=True, actor=None)
    bulk_signatures(action, 150)  # past the goal, which is not a trigger here
    update_action(action, {"status": ActionStatus.CLOSED}, actor=None)

    assert deliveries.auto_deliver_due(date(2031, 1, 15)) == 0
    assert deliveries.auto_deliver_due(date(2031, 1, 16)) == 1
    assert deliveries.auto_deliver_due(date(2031, 1, 17)) == 0

    [delivery] = auto_deliveries(action)
    assert delivery.trigger == DeliveryTrigger.DEADLINE and delivery.mark_delivered


def test_goal_and_deadline_due_together_start_one_delivery(app):
    action = make_action(goal=1, deadline=date(2031, 1, 15), targets=[GUTERRES])
    deliveries.set_auto_delivery(action, on_goal=True, at_deadline=True, actor=None)
    bulk_signatures(action, 1)

    assert deliveries.auto_deliver_due(date(2031, 1, 16)) == 1
    # The goal's delivery is still on its way: the deadline does not send it again.
    assert deliveries.auto_deliver_due(date(2031, 1, 16)) == 0
    [delivery] = auto_deliveries(action)
    assert delivery.trigger == DeliveryTrigger.GOAL


def test_the_deadline_delivers_after_the_goals_delivery_failed(app, monkeypatch):
    action = make_action(goal=1, deadline=date(2031, 1, 15), targets=[GUTERRES])
    deliveries.set_auto_delivery(action, on_goal=True, at_deadline=True, actor=None)
    bulk_signatures(action, 1)
    assert deliveries.auto_deliver_due(date(2031, 1, 10)) == 1
    [goal] = auto_deliveries(action)
    deliveries.compile_delivery(goal.id)
    monkeypatch.setattr(mail, "send_message", refuse(GUTERRES.email, mail.PermanentMailError,
                                                     "554 5.7.1 rejected"))
    deliver_pending_mail()
    assert fresh(Delivery, goal.id).status == DeliveryStatus.FAILED

    assert deliveries.auto_deliver_due(date(2031, 1, 11)) == 0
    assert deliveries.auto_deliver_due(date(2031, 1, 16)) == 1
    assert sorted(d.trigger for d in auto_deliveries(action)) == ["deadline", "goal"]


def test_no_automatic_delivery_unless_asked_for_or_for_a_draft(app):
    unasked = make_action(goal=1, deadline=date(2031, 1, 15), targets=[GUTERRES])
    bulk_signatures(unasked, 2)
    draft = make_action(goal=1, deadline=date(2031, 1, 15), targets=[GUTERRES],
                        publish=False)
    deliveries.set_auto_delivery(draft, on_goal=True, at_deadline=True, actor=None)
    bulk_signatures(draft, 2)

    assert deliveries.auto_deliver_due(date(2031, 2, 1)) == 0
    assert db.session.scalars(select(Delivery)).all() == []


def test_an_automatic_delivery_without_addresses_is_not_started(app):
    action = make_action(goal=1, targets=[TargetInput("Nobody with an address")])
    deliveries.set_auto_delivery(action, on_goal=True, at_deadline=False, actor=None)
    bulk_signatures(action, 1)

    assert deliveries.auto_deliver_due() == 0
    assert db.session.scalars(select(Delivery)).all() == []
