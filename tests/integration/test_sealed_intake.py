"""The sealed intake end to end: a web tier holding only the intake public key, a real
Celery worker (started as documented, no queue options) opening what it sealed, real
Redis, PostgreSQL and SMTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from petitions.crypto import IntakeKeys, generate_intake_keys
from petitions.extensions import db
from petitions.models import Signature, SignatureStatus
from tests.conftest import confirmation_link
from tests.factories import csrf_token, form_data, make_action, post_form
from tests.integration.conftest import (
    build_app,
    close_app,
    sealed_rows,
    wait_for_intake,
    wait_until,
)

BASE_URL = "http://petitions.test"


@pytest.fixture
def web_tier(live_app: Flask, live_settings: dict[str, object],
             tmp_path: Path) -> Iterator[Flask]:
    """The live app's settings, without the private key: what a web host holds."""
    app = build_app({**live_settings, "INTAKE_PRIVATE_KEY": None,
                     "INSTANCE_PATH": str(tmp_path / "instance")})
    try:
        yield app
    finally:
        close_app(app)


def test_a_web_tier_with_the_public_key_only_signs_and_the_worker_opens(
        live_app, web_tier, worker, mailbox):
    assert web_tier.config["INTAKE_PRIVATE_KEY"] is None
    assert not web_tier.extensions["intake"].can_open
    slug = make_action().slug
    client = web_tier.test_client()
    url = f"/actions/{slug}"
    with web_tier.app_context():
        response = post_form(client, url, form_data(first_name="Nadia",
                                                    email="nadia.sealed@example.org"))
        # The worker may open the two in either order: the same person, told apart
        # only by the case of the address.
        again = post_form(client, url, form_data(first_name="Nadia",
                                                 email="NADIA.sealed@example.org"))
    assert response.status_code == again.status_code == 303
    assert response.headers["Location"] == again.headers["Location"]

    # The worker (it has the private key) opens both: one signature, one email.
    [message] = mailbox.wait_for(1)
    assert "nadia.sealed@example.org" in str(message["To"]).lower()
    wait_for_intake(worker)
    assert re.search(r"Task petitions\.intake_process\[[\w-]+\] succeeded", worker.log())
    assert "nadia" not in worker.log().lower()
    signatures = list(db.session.scalars(select(Signature)))
    assert [(s.first_name, s.status) for s in signatures] == [("Nadia", SignatureStatus.PENDING)]

    # Confirming stays on the web tier: the token's digest is all it needs.
    path = confirmation_link(message).removeprefix(BASE_URL)
    with web_tier.app_context():
        confirmed = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"].endswith(f"/actions/{slug}/thank-you")
    db.session.rollback()
    assert db.session.scalar(select(Signature.status)) == SignatureStatus.CONFIRMED
    assert len(mailbox.messages) == 1


def test_an_unopenable_submission_is_kept_as_failed(live_app, worker, web_tier):
    """Sealed to a key the worker does not hold: recorded as failed, not retried."""
    slug = make_action().slug
    client = web_tier.test_client()
    web_tier.extensions["intake"] = IntakeKeys(generate_intake_keys()[0])
    with web_tier.app_context():
        assert post_form(client, f"/actions/{slug}", form_data()).status_code == 303
    failed = wait_until(lambda: [r for r in sealed_rows() if r.failed_at is not None],
                        what=worker.log_tail)
    assert len(failed) == 1
    assert "cannot be opened" in worker.log()
    assert db.session.scalar(select(Signature.id)) is None
