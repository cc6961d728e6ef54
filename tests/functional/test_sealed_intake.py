"""The web tier's part of signing: check the form, seal it, store it with one INSERT,
answer. It looks nothing up, so a new address and one that signed before get the same
answer from the same statements, and a copy of the web host opens nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import current_app as current_celery
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from petitions import create_app
from petitions.crypto import VaultError
from petitions.extensions import db
from petitions.models import OutboundEmail, SealedSubmission, Signature, SignatureStatus
from petitions.services import intake
from tests.conftest import app_config
from tests.factories import (
    csrf_token,
    form_data,
    make_action,
    make_confirmed_signature,
    make_signature,
)


@pytest.fixture
def web(client: FlaskClient) -> FlaskClient:
    """A client whose signatures stay sealed: no vault worker plays its part."""
    client.vault_worker = False  # type: ignore[attr-defined]
    return client


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def sealed_rows() -> list[SealedSubmission]:
    return list(db.session.scalars(select(SealedSubmission).order_by(SealedSubmission.id)))


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def post_sign(client: FlaskClient, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    if not url.split("?")[0].endswith("/embed"):  # the widget takes no CSRF token
        data = {**data, "csrf_token": csrf_token(client, url)}
    with statements() as seen:
        response = client.post(url, data=data)
    return response, seen


def test_signing_is_one_insert_and_no_look_up_of_signers(app: Flask, web: FlaskClient):
    action = make_action()
    url = f"/actions/{action.slug}"
    response, seen = post_sign(web, url, form_data(email="new@example.org"))
    assert response.status_code == 303
    writes = [s for s in seen if re.match(r"(INSERT|UPDATE|DELETE)\b", s)]
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO sealed_submissions")
    touching = [s for s in seen if re.search(
        r"\b(signatures|outbound_emails|block_rules|subscribers)\b", s)]
    assert touching == []
    assert count(Signature) == 0 and len(sealed_rows()) == 1


@pytest.mark.parametrize("endpoint", ["", "/embed"])
def test_new_and_known_addresses_get_the_same_answer_from_the_same_statements(
        app: Flask, web: FlaskClient, endpoint: str):
    action = make_action()
    make_confirmed_signature(action, email="confirmed@example.org")
    make_signature(action, email="pending@example.org")
    url = f"/actions/{action.slug}{endpoint}"
    answers = []
    for address in ("new@example.org", "confirmed@example.org", "pending@example.org"):
        response, seen = post_sign(web, url, form_data(email=address, last_name="Same"))
        answers.append((response.status_code, response.headers["Location"],
                        response.get_data(), [re.sub(r"\d+", "N", s) for s in seen]))
    assert answers[0][0] == 303
    assert answers[0] == answers[1] == answers[2]
    assert len(sealed_rows()) == 3


def test_the_stored_row_holds_no_plaintext(app: Flask, web: FlaskClient):
    action = make_action()
    url = f"/actions/{action.slug}?source=leaflet"
    data = form_data(first_name="Zoraida", last_name="Quintanilla", email="zq@example.org",
                     postcode="75011", comment="A personal comment")
    response, _ = post_sign(web, url, data)
    assert response.status_code == 303
    (row,) = sealed_rows()
    raw = bytes(row.sealed)
    for clear in (b"Zoraida", b"Quintanilla", b"zq@example.org", b"75011",
                  b"personal comment", b"127.0.0.1", b"leaflet"):
        assert clear not in raw
    # The vault worker opens it to everything the signing rules need.
    assert intake.process(row.id) == "signed"
    signature = db.session.scalars(select(Signature)).one()
    assert (signature.first_name, signature.email, signature.postcode, signature.comment,
            signature.source) == ("Zoraida", "zq@example.org", "75011",
                                  "A personal comment", "leaflet")


def test_a_broker_outage_keeps_the_submission_and_the_scheduler_hands_it_off(
        app: Flask, web: FlaskClient, monkeypatch: pytest.MonkeyPatch):
    celery = app.extensions["celery"]

    def broker_down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(celery, "send_task", broker_down)
    action = make_action()
    response, _ = post_sign(web, f"/actions/{action.slug}", form_data())
    assert response.status_code == 303
    (row,) = sealed_rows()
    assert row.dispatched_at is None  # committed, and left for the scheduler

    sent: list[tuple[str, list[int], str | None]] = []
    monkeypatch.setattr(celery, "send_task", lambda name, args=None, **kwargs: sent.append(
        (name, args, celery.amqp.router.route({}, name).get("queue").name)))
    assert intake.dispatch_pending() == 1
    assert sent == [("petitions.intake_process", [row.id], "vault")]
    assert intake.dispatch_pending() == 0  # handed off: not again until it is stale
    assert intake.process(row.id) == "signed"
    assert count(Signature) == 1 and count(OutboundEmail) == 1


def test_a_submission_handed_off_long_ago_and_still_there_is_handed_off_again(
        app: Flask, web: FlaskClient, monkeypatch: pytest.MonkeyPatch):
    action = make_action()
    response, _ = post_sign(web, f"/actions/{action.slug}", form_data())
    assert response.status_code == 303
    assert intake.dispatch_pending() == 0
    monkeypatch.setitem(app.config, "INTAKE_REDISPATCH_AFTER_SECONDS", -1)
    assert intake.dispatch_pending() == 1


def test_a_web_tier_with_only_the_public_key_accepts_signatures_it_cannot_open(
        app: Flask, database_url: str, tmp_path: Path):
    previous = current_celery._get_current_object()
    try:
        web_app = create_app(app_config(database_url, tmp_path, INTAKE_PRIVATE_KEY=None))
    finally:  # every Celery() makes itself the default: the suite's app stays it
        previous.set_current()
        previous.set_default()
    assert web_app.config["INTAKE_PRIVATE_KEY"] is None
    action = make_action()
    try:
        with web_app.app_context():
            client = web_app.test_client()
            url = f"/actions/{action.slug}"
            response = client.post(url, data={**form_data(email="web@example.org"),
                                              "csrf_token": csrf_token(client, url)})
            assert response.status_code == 303
            (row,) = sealed_rows()
            with pytest.raises(VaultError):
                intake.process(row.id)
            with pytest.raises(VaultError):
                intake.process_pending()
            db.session.rollback()
    finally:
        with web_app.app_context():
            db.engine.dispose()
    # A vault worker (this app has the private key) opens it.
    assert intake.process_pending() == 1
    signature = db.session.scalars(select(Signature)).one()
    assert (signature.email, signature.status) == ("web@example.org", SignatureStatus.PENDING)
