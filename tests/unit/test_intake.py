"""The sealed intake's rules: sealing, opening, the binding, and what a vault worker
does with a submission (once, in one transaction, never retrying one it can't open)."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from petitions.crypto import (
    IntakeKeys,
    VaultError,
    _development_intake_keys,
    generate_intake_keys,
    intake_keys,
)
from petitions.extensions import db
from petitions.models import OutboundEmail, SealedSubmission, Signature
from petitions.services import intake, signing
from petitions.services.intake import Submission, UnopenableError
from tests.factories import make_action, signature_input


def submission(action_id: int = 7, **overrides: str) -> Submission:
    return Submission(action_id, signature_input(**overrides), "203.0.113.9", "newsletter",
                      "fr")


def stored(sealed: bytes) -> int:
    row = SealedSubmission(sealed=sealed)
    db.session.add(row)
    db.session.commit()
    return row.id


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def reseal(plaintext: bytes) -> bytes:
    return intake_keys().seal(plaintext)


# --- sealing and opening -----------------------------------------------------------------

def test_a_sealed_submission_opens_to_what_was_sealed(app: Flask):
    original = submission(email="Leila@Example.org", first_name="Leïla")
    assert intake.open_sealed(intake.seal(original)) == original


def test_the_sealed_bytes_hold_no_plaintext(app: Flask):
    sealed = intake.seal(submission(email="findme@example.org", first_name="Findme"))
    for clear in (b"findme", b"Findme", b"203.0.113.9", b"newsletter", b"intake"):
        assert clear not in sealed


def test_each_seal_is_different(app: Flask):
    same = submission()
    assert intake.seal(same) != intake.seal(same)


def test_a_submission_bound_to_action_a_cannot_be_processed_as_action_b(app: Flask):
    body = json.loads(intake_keys().open(intake.seal(submission(action_id=1)))
                      .partition(b"\n")[2])
    body["action_id"] = 2  # the content names B, the binding still names A
    with pytest.raises(UnopenableError, match="bound"):
        intake.open_sealed(reseal(intake.binding(1) + b"\n" + json.dumps(body).encode()))


@pytest.mark.parametrize("prefix", [b"export:v1:1", b"intake:v2:1", b"", b"intake:v1:01"])
def test_a_plaintext_bound_to_another_purpose_is_refused(app: Flask, prefix: bytes):
    body = intake_keys().open(intake.seal(submission(action_id=1))).partition(b"\n")[2]
    with pytest.raises(UnopenableError):
        intake.open_sealed(reseal(prefix + b"\n" + body))


def test_tampered_bytes_and_another_key_do_not_open(app: Flask):
    sealed = bytearray(intake.seal(submission()))
    sealed[-1] ^= 1
    with pytest.raises(UnopenableError):
        intake.open_sealed(bytes(sealed))
    other = IntakeKeys(generate_intake_keys()[0])
    with pytest.raises(UnopenableError):
        intake.open_sealed(other.seal(b"intake:v1:7\n{}"))


def test_the_public_key_alone_seals_but_cannot_open():
    public, private = generate_intake_keys()
    web = IntakeKeys(public)
    assert not web.can_open
    sealed = web.seal(b"secret")
    with pytest.raises(VaultError, match="INTAKE_PRIVATE_KEY"):
        web.open(sealed)
    assert IntakeKeys(public, private).open(sealed) == b"secret"


def test_a_private_key_of_another_pair_is_refused():
    public, _ = generate_intake_keys()
    with pytest.raises(VaultError, match="does not belong"):
        IntakeKeys(public, generate_intake_keys()[1])
    with pytest.raises(VaultError, match="base64"):
        IntakeKeys("not base64!")


# --- the vault worker's part -------------------------------------------------------------

def test_processing_signs_once_and_a_second_run_does_nothing(app: Flask):
    action = make_action()
    submission_id = stored(intake.seal(submission(action.id, email="once@example.org")))
    assert intake.process(submission_id) == "signed"
    assert intake.process(submission_id) is None
    assert count(Signature) == 1 and count(OutboundEmail) == 1
    assert count(SealedSubmission) == 0
    signature = db.session.scalars(select(Signature)).one()
    assert (signature.email, signature.locale, signature.source) == (
        "once@example.org", "fr", "newsletter")
    assert signature.ip_digest == signing.ip_digest("203.0.113.9")


def test_a_tampered_submission_is_kept_as_failed_and_never_retried(
        app: Flask, caplog: pytest.LogCaptureFixture):
    action = make_action()
    sealed = bytearray(intake.seal(submission(action.id, email="tamper@example.org")))
    sealed[40] ^= 0xFF
    submission_id = stored(bytes(sealed))
    assert intake.process(submission_id) == "failed"
    row = db.session.get(SealedSubmission, submission_id)
    assert row is not None and row.failed_at is not None
    assert intake.process(submission_id) is None
    assert intake.dispatch_pending() == 0 and intake.process_pending() == 0
    assert count(Signature) == 0
    assert f"Sealed submission {submission_id} cannot be opened" in caplog.text
    assert "tamper" not in caplog.text


def test_a_worker_dying_mid_way_leaves_the_submission_for_a_retry(
        app: Flask, monkeypatch: pytest.MonkeyPatch):
    action = make_action()
    submission_id = stored(intake.seal(submission(action.id)))
    store = signing.store

    def dies(*args: object, **kwargs: object) -> object:
        store(*args, **kwargs)  # the signature is written, then the worker dies
        raise SystemExit("worker killed")

    monkeypatch.setattr(signing, "store", dies)
    with pytest.raises(SystemExit):
        intake.process(submission_id)
    db.session.rollback()
    assert count(Signature) == 0 and count(OutboundEmail) == 0
    assert db.session.get(SealedSubmission, submission_id) is not None
    monkeypatch.setattr(signing, "store", store)
    assert intake.process(submission_id) == "signed"
    assert count(Signature) == 1 and count(SealedSubmission) == 0


def test_a_process_without_the_private_key_leaves_the_row_alone(
        app: Flask, monkeypatch: pytest.MonkeyPatch):
    action = make_action()
    submission_id = stored(intake.seal(submission(action.id)))
    public = app.config["INTAKE_PUBLIC_KEY"]
    monkeypatch.setitem(app.extensions, "intake", IntakeKeys(public))
    with pytest.raises(VaultError, match="INTAKE_PRIVATE_KEY"):
        intake.process(submission_id)
    row = db.session.get(SealedSubmission, submission_id)
    assert row is not None and row.failed_at is None


def test_a_closed_or_missing_action_drops_the_submission(app: Flask):
    closed = make_action(publish=False)
    first = stored(intake.seal(submission(closed.id)))
    second = stored(intake.seal(submission(closed.id + 1000)))
    assert intake.process(first) == "dropped" and intake.process(second) == "dropped"
    assert count(Signature) == 0 and count(SealedSubmission) == 0


# --- development keys --------------------------------------------------------------------

def test_development_generates_one_intake_key_pair_even_when_processes_race(tmp_path: Path):
    instance = tmp_path / "instance"
    found: list[tuple[str, str]] = []
    threads = [threading.Thread(target=lambda: found.append(_development_intake_keys(instance)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1
    public, private = found[0]
    assert IntakeKeys(public, private).can_open
    assert sorted(p.name for p in instance.iterdir()) == ["intake-keys.json"]
    assert stat.S_IMODE((instance / "intake-keys.json").stat().st_mode) == 0o600
