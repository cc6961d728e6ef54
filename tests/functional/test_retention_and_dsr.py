"""Retention (signers of long-closed actions anonymized unless the action keeps its data)
and data-subject requests (export and erase, from the CLI and the console)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import (
    Action,
    ActionStatus,
    AuditEntry,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    OutboundEmail,
    PaperSignature,
    Signature,
    Subscriber,
    Suppression,
    SuppressionReason,
    utcnow,
)
from petitions.services import counting, deliveries, dsr, paper, retention
from petitions.services.actions import close_action, update_action
from petitions.services.signing import email_digest
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.delivery_flow_factories import make_deliverable_action, pdf_text
from tests.factories import (
    csrf_token,
    deliver_pending_mail,
    field_error,
    fresh,
    make_action,
    make_confirmed_signature,
    make_signature,
    parse_html,
    post_form,
)
from tests.functional.test_admin_console import action_form
from tests.organizer_factories import csv_bytes

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
ADDRESS = "Leila.Subject@Example.org"


def close_long_ago(action: Action, days: int) -> Action:
    close_action(action)
    action.closed_at = utcnow() - timedelta(days=days)
    db.session.commit()
    return action


# --- retention ---------------------------------------------------------------------------

def test_signers_of_long_closed_actions_are_anonymized(app: Flask) -> None:
    old, recent, kept, open_action = (make_action() for _ in range(4))
    signatures = {a.id: make_confirmed_signature(a, postcode="75001", comment="Free them")
                  for a in (old, recent, kept, open_action)}
    close_long_ago(old, 400)
    close_long_ago(recent, 100)
    close_long_ago(kept, 400)
    kept.keep_data = True
    db.session.commit()
    counts_before = counting.counts(old.id)

    assert retention.anonymize_due() == 1

    gone = fresh(Signature, signatures[old.id].id)
    assert gone.first_name == gone.last_name == gone.email == retention.ANONYMIZED
    assert gone.postcode is None and gone.comment is None
    assert gone.ip_network_digest is None and gone.email_domain_digest is None
    # What is counted stays, and the digest still stops a second signature.
    assert gone.country == "FR" and gone.confirmed_at is not None
    assert gone.email_digest == signatures[old.id].email_digest
    assert counting.counts(old.id) == counts_before
    assert fresh(Action, old.id).anonymized_at is not None
    for action_id in (recent.id, kept.id, open_action.id):
        assert fresh(Signature, signatures[action_id].id).postcode == "75001"
    assert retention.anonymize_due() == 0  # done once
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "action.anonymize")).one()
    assert entry.object_id == str(old.id)


def test_the_retention_period_is_a_setting(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    action = make_action()
    make_confirmed_signature(action)
    close_long_ago(action, 40)
    assert retention.due_actions() == []
    monkeypatch.setitem(app.config, "RETENTION_DAYS_AFTER_CLOSE", 30)
    assert [a.id for a in retention.due_actions()] == [action.id]


def test_an_admin_keeps_an_actions_data(client: FlaskClient) -> None:
    log_in(client, make_user("admin"))
    action = make_action(slug="court-case")
    response = post_form(client, f"/admin/actions/{action.slug}/edit",
                         action_form(slug=action.slug, keep_data="y"))
    assert response.status_code == 303
    assert fresh(Action, action.id).keep_data is True


def test_paper_signatures_are_anonymized_with_the_online_ones(app: Flask) -> None:
    action = make_action()
    make_confirmed_signature(action)
    paper.upload(action, csv_bytes([["Nasrin", "Sotoudeh", "IR"]]), label="Vigil",
                 uploaded_by=None)
    close_long_ago(action, 400)
    assert retention.anonymize_due() == 1
    [row] = db.session.scalars(select(PaperSignature)).all()
    db.session.refresh(row)
    assert (row.first_name, row.last_name, row.country) == (
        retention.ANONYMIZED, retention.ANONYMIZED, "IR")
    assert counting.counts(action.id).paper == 1
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "action.anonymize")).one()
    assert entry.after == {"signatures": 1, "paper_signatures": 1, "delivery_files": 0}


def test_anonymizing_an_action_deletes_its_delivery_packages_too(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "DELIVERY_FILE_RETENTION_DAYS", 10_000)
    action = make_deliverable_action()
    delivery = deliveries.request_delivery(action, actor=None)
    deliveries.compile_delivery(delivery.id)
    deliver_pending_mail()
    close_long_ago(action, 400)
    assert retention.anonymize_due() == 1
    kept = fresh(Delivery, delivery.id)
    assert kept.files == [] and kept.total == 4


def test_reopening_restarts_the_retention_clock_for_old_and_new_signers(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    action = make_action()
    early = make_confirmed_signature(action, postcode="11111")
    close_long_ago(action, 400)
    update_action(action, {"status": ActionStatus.PUBLISHED}, actor=None)  # reopened
    late = make_confirmed_signature(action, postcode="22222")
    close_action(action)  # closed again, today
    # The first close's clock is gone: nothing is anonymized before the new one runs out.
    assert retention.anonymize_due() == 0
    assert fresh(Signature, early.id).postcode == "11111"

    later = utcnow() + timedelta(days=400)
    assert retention.anonymize_due(now=later) == 1
    for signature in (early, late):
        assert fresh(Signature, signature.id).first_name == retention.ANONYMIZED


def test_signers_after_a_reopen_of_an_anonymized_action_are_anonymized_in_their_turn(
        app: Flask) -> None:
    action = make_action()
    make_confirmed_signature(action)
    close_long_ago(action, 400)
    assert retention.anonymize_due() == 1
    update_action(action, {"status": ActionStatus.PUBLISHED}, actor=None)
    late = make_confirmed_signature(action, postcode="33333")
    close_action(action)
    assert retention.anonymize_due() == 0
    assert retention.anonymize_due(now=utcnow() + timedelta(days=400)) == 1
    assert fresh(Signature, late.id).postcode is None


def test_delivery_files_are_deleted_after_their_own_retention(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    action = make_deliverable_action()
    kept_action = make_deliverable_action()
    kept_action.keep_data = True
    db.session.commit()
    ids = []
    for subject_action in (action, kept_action):
        delivery = deliveries.request_delivery(subject_action, actor=None)
        deliveries.compile_delivery(delivery.id)
        ids.append(delivery.id)
    deliver_pending_mail()
    assert {fresh(Delivery, i).status for i in ids} == {DeliveryStatus.SENT}
    monkeypatch.setitem(app.config, "DELIVERY_FILE_RETENTION_DAYS", 30)
    assert retention.purge_delivery_files(now=utcnow() + timedelta(days=29)) == 0
    assert retention.purge_delivery_files(now=utcnow() + timedelta(days=31)) == 3

    gone, kept = fresh(Delivery, ids[0]), fresh(Delivery, ids[1])
    assert gone.files == [] and gone.total == 4 and len(gone.recipients) == 2
    assert len(kept.files) == 3
    assert db.session.scalar(select(func.count()).select_from(DeliveryFile)) == 3


# --- data-subject requests ---------------------------------------------------------------

def subject_everywhere() -> tuple[Action, Action]:
    first, second = make_action(), make_action()
    make_confirmed_signature(first, email=ADDRESS, comment="My comment")
    make_signature(second, email=ADDRESS.lower())
    make_confirmed_signature(first, email="someone.else@example.org")
    digest = email_digest("leila.subject@example.org")
    db.session.add(Subscriber(email="leila.subject@example.org", email_digest=digest))
    db.session.add(Suppression(email_digest=digest, scope="all",
                               reason=SuppressionReason.UNSUBSCRIBED))
    db.session.commit()
    return first, second


def test_export_gives_everything_held_about_an_address(app: Flask) -> None:
    first, second = subject_everywhere()
    make_user("organizer", email="leila.subject@example.org")
    data = dsr.export("  LEILA.subject@example.org ", actor=None)
    assert [s["action"]["slug"] for s in data["signatures"]] == [first.slug, second.slug]
    assert data["signatures"][0]["comment"] == "My comment"
    assert data["signatures"][0]["status"] == "confirmed"
    assert data["subscriber"]["email"] == "leila.subject@example.org"
    assert data["suppressions"][0]["reason"] == "unsubscribed"
    assert data["staff_account"]["role"] == "organizer"
    json.dumps(data)  # all plain values
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "privacy.export")).one()
    assert entry.object_id == email_digest("leila.subject@example.org")[:dsr.DIGEST_PREFIX]
    assert "leila" not in json.dumps([entry.object_id, entry.before, entry.after]).lower()


def test_erase_removes_signatures_and_subscription_and_adjusts_counts(app: Flask) -> None:
    first, second = subject_everywhere()
    digest = email_digest("leila.subject@example.org")
    theirs = list(db.session.scalars(select(Signature.id)
                                     .where(Signature.email_digest == digest)))
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(
        OutboundEmail.signature_id.in_(theirs))) == 2
    erasure = dsr.erase(ADDRESS, actor=None)
    assert (erasure.signatures, erasure.subscriber, erasure.staff_account) == (2, True, False)
    assert counting.counts(first.id).confirmed == 1
    assert counting.counts(second.id).pending == 0
    assert db.session.scalar(select(func.count()).select_from(Signature)
                             .where(Signature.email_digest == digest)) == 0
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
    # The suppression stays: it is what keeps mail from reaching them.
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1
    # Their emails (with the address, encrypted) went with the signatures.
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(
        OutboundEmail.signature_id.in_(theirs))) == 0
    assert dsr.export(ADDRESS, actor=None)["signatures"] == []


def test_the_cli_exports_and_erases(runner) -> None:  # type: ignore[no-untyped-def]
    first, _ = subject_everywhere()
    exported = runner.invoke(args=["privacy", "export", ADDRESS])
    assert exported.exit_code == 0, exported.output
    assert len(json.loads(exported.output)["signatures"]) == 2
    refused = runner.invoke(args=["privacy", "export", "not-an-address"])
    assert refused.exit_code != 0
    erased = runner.invoke(args=["privacy", "erase", ADDRESS, "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "Erased 2 signature(s)" in erased.output
    assert counting.counts(first.id).confirmed == 1
    verbs = list(db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.verb.startswith("privacy."), AuditEntry.via == "cli")))
    assert sorted(verbs) == ["privacy.erase", "privacy.export"]


def test_the_console_downloads_and_erases(client: FlaskClient) -> None:
    subject_everywhere()
    log_in(client, make_user("admin"))
    url = "/admin/privacy"
    token = csrf_token(client, url)
    download = client.post(url, data={"csrf_token": token, "email": ADDRESS, "export": "1"})
    assert download.status_code == 200
    assert download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    assert len(download.get_json()["signatures"]) == 2
    unconfirmed = client.post(url, data={"csrf_token": token, "email": ADDRESS, "erase": "1"})
    assert unconfirmed.status_code == 422
    assert field_error(unconfirmed.get_data(as_text=True), "confirm_erase")
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 3
    erased = client.post(url, data={"csrf_token": token, "email": ADDRESS, "erase": "1",
                                    "confirm_erase": "y"})
    assert erased.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 1
    invalid = client.post(url, data={"csrf_token": token, "email": "nope", "export": "1"})
    assert invalid.status_code == 422
    assert field_error(invalid.get_data(as_text=True), "email")


# --- every copy: paper signatures and delivery packages ----------------------------------

def test_erasure_rebuilds_the_packages_and_reports_one_already_delivered(runner) -> None:
    action = make_deliverable_action()
    make_confirmed_signature(action, first_name="Leila", last_name="Subject",
                             country="IR", email=ADDRESS)
    paper.upload(action, csv_bytes([["Leila", "Subject", "IR"]]), label="Vigil",
                 uploaded_by=None)
    sent = deliveries.request_delivery(action, actor=None)
    deliveries.compile_delivery(sent.id)
    deliver_pending_mail()
    waiting = deliveries.request_delivery(action, actor=None)
    deliveries.compile_delivery(waiting.id)  # compiled; its emails not sent yet

    def names(delivery_id: int) -> str:
        files = fresh(Delivery, delivery_id).files
        return " ".join(deliveries.read_file(f).decode("utf-8", "replace") for f in files
                        if f.name.endswith(".csv")) + " ".join(
            pdf_text(deliveries.read_file(f)) for f in files if f.name.endswith(".pdf"))

    assert names(sent.id).count("Subject") == 6  # CSV and two letters, online and paper
    exported = dsr.export(ADDRESS, actor=None, paper_name="leila  SUBJECT")
    assert len(exported["paper_signatures"]) == 1
    assert [(p["delivery"], p["sent_to_targets"]) for p in exported["delivery_packages"]] == [
        (sent.id, True), (waiting.id, False)]

    erased = runner.invoke(args=["privacy", "erase", ADDRESS, "--paper-name",
                                 "Leila Subject", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "Erased 1 paper signature(s)" in erased.output
    assert "Rebuilt 2 delivery package(s)" in erased.output
    assert f"cannot be recalled): delivery {sent.id}." in erased.output
    for delivery_id in (sent.id, waiting.id):
        assert "Subject" not in names(delivery_id)
        package = fresh(Delivery, delivery_id)
        assert (package.confirmed_count, package.paper_count) == (3, 1)
        assert "Ørjan" in names(delivery_id)  # the others are still listed
    assert counting.counts(action.id).paper == 1
    marks = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "delivery.erasure").order_by(AuditEntry.id)).all()
    assert [(m.object_id, m.after["already_sent_to_targets"]) for m in marks] == [
        (str(sent.id), True), (str(waiting.id), False)]
    # The waiting delivery's targets get the rebuilt package.
    deliver_pending_mail()
    assert "Subject" not in names(waiting.id)


def test_the_console_erases_paper_signatures_and_names_delivered_packages(
        client: FlaskClient) -> None:
    action = make_deliverable_action()
    make_confirmed_signature(action, first_name="Leila", last_name="Subject", email=ADDRESS)
    sent = deliveries.request_delivery(action, actor=None)
    deliveries.compile_delivery(sent.id)
    deliver_pending_mail()
    log_in(client, make_user("admin"))
    url = "/admin/privacy"
    token = csrf_token(client, url)
    erased = client.post(url, data={"csrf_token": token, "email": ADDRESS, "erase": "1",
                                    "confirm_erase": "y", "paper_name": "Ørjan Ståle"},
                         follow_redirects=True)
    page = erased.get_data(as_text=True)
    assert "Erased 1 paper signature." in page
    assert "Rebuilt 1 delivery package without this person." in page
    assert f"delivery {sent.id}." in page
    assert counting.counts(action.id).paper == 0


def test_the_data_subject_lookup_is_a_post_and_a_get_with_the_address_does_nothing(
        client: FlaskClient) -> None:
    subject_everywhere()
    log_in(client, make_user("admin"))
    response = client.get(f"/admin/privacy?email={ADDRESS}&export=1")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert ADDRESS.lower() not in page.lower()
    forms = parse_html(page).find_all("form")
    assert [f.get("method") for f in forms if f.find("input", name="email")] == ["post"]
    assert db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb.startswith("privacy."))).all() == []
