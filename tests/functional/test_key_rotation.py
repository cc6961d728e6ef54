"""Rotating the encryption key while people keep signing.

The app's vault is rebuilt for each test with the key list under test (the new key
first, the test run's key after it, as an operator would configure it) and put
back afterwards, so other tests keep the keys of the run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import LargeBinary, bindparam, event, select, text

from petitions.crypto import (
    KEY_ID_LENGTH,
    IntakeKeys,
    PIIVault,
    VaultError,
    generate_key,
    vault,
)
from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxStatus, Signature
from petitions.services import deliveries, keys
from petitions.services.confirming import TokenState, confirm
from petitions.services.signing import resend_confirmation
from tests.conftest import TEST_KEYS
from tests.delivery_flow_factories import make_deliverable_action
from tests.factories import deliver_pending_mail, make_action, make_signature

OLD_KEY = TEST_KEYS["PII_ENCRYPTION_KEYS"][0]

UseKeys = Callable[..., PIIVault]


@pytest.fixture
def use_keys(app: Flask) -> Iterator[UseKeys]:
    """Swap the app's encryption keys (the index key stays); restore them afterwards."""
    original_vault = app.extensions["pii"]
    original_keys = app.config["PII_ENCRYPTION_KEYS"]

    def use(*encryption_keys: str) -> PIIVault:
        app.extensions["pii"] = PIIVault(list(encryption_keys), TEST_KEYS["PII_INDEX_KEY"])
        app.config["PII_ENCRYPTION_KEYS"] = list(encryption_keys)
        db.session.expire_all()
        return app.extensions["pii"]

    yield use
    app.extensions["pii"] = original_vault
    app.config["PII_ENCRYPTION_KEYS"] = original_keys


@pytest.fixture
def no_broker(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the ids handed to Celery instead of sending them anywhere."""
    handed: list[int] = []
    monkeypatch.setattr(app.extensions["celery"], "send_task",
                        lambda name, args, **kwargs: handed.extend(args))
    return handed


def sign_people(action: Any, count: int, label: str) -> list[int]:
    ids = []
    for n in range(count):
        signature = make_signature(action, first_name=f"Rotation{label}", last_name=f"Person{n}",
                                   postcode=f"RT{n} {label[:3].upper()}",
                                   comment=f"comment {label} {n}")
        ids.append(signature.id)
    return ids


def raw_values() -> dict[tuple[str, int], bytes]:
    """Every stored ciphertext, by (table.column, row id), read without decrypting."""
    return {key: blob for key, (blob, _) in _raw_with_contexts().items()}


def _raw_with_contexts() -> dict[tuple[str, int], tuple[bytes, str]]:
    values = {}
    for column in keys.encrypted_columns():
        rows = db.session.execute(select(column.primary_key, column.raw,
                                         *column.context_columns)
                                  .where(column.column.is_not(None)))
        values.update({(column.name, row_id): (bytes(blob), column.context_for(bound))
                       for row_id, blob, *bound in rows})
    db.session.rollback()
    return values


def decrypted_values(pii: PIIVault) -> dict[tuple[str, int], bytes]:
    return {key: pii.decrypt_bytes(blob, context)
            for key, (blob, context) in _raw_with_contexts().items()}


def orm_snapshot() -> dict[int, tuple[str, str, str, str | None, str | None]]:
    """What the application reads, through the ORM and the current vault."""
    db.session.expire_all()
    return {s.id: (s.first_name, s.last_name, s.email, s.postcode, s.comment)
            for s in db.session.scalars(select(Signature).order_by(Signature.id))}


def key_ids(values: dict[tuple[str, int], bytes]) -> set[bytes]:
    return {blob[1:1 + KEY_ID_LENGTH] for blob in values.values()}


def test_every_encrypted_column_is_found_by_inspecting_the_tables():
    found = {c.name for c in keys.encrypted_columns()}
    assert {"signatures.first_name", "signatures.last_name", "signatures.email",
            "signatures.postcode", "signatures.comment", "outbound_emails.payload"} <= found
    assert "delivery_files.content" in found
    for column in keys.encrypted_columns():
        if not column.context_columns:
            assert column.context == column.name


def test_rotation_re_encrypts_every_value_under_the_new_key(app, use_keys, mailbox):
    action = make_action()
    sign_people(action, 5, "before")
    deliver_pending_mail()
    resend_later = sign_people(action, 2, "pending")  # their tokens wait in the outbox
    before = orm_snapshot()
    plain_before = decrypted_values(vault())
    stored_before = raw_values()
    assert key_ids(stored_before) == {vault().current_key_id}
    assert any(name == "outbound_emails.payload" for name, _ in stored_before)

    new_key = generate_key()
    rotated_vault = use_keys(new_key, OLD_KEY)
    assert orm_snapshot() == before  # the old key still decrypts
    report = keys.rotate(batch_size=2)
    assert report.rotated == len(stored_before)
    assert report.remaining == 0 and report.conflicts == 0

    stored_after = raw_values()
    assert stored_after.keys() == stored_before.keys()
    assert key_ids(stored_after) == {rotated_vault.current_key_id}
    assert all(stored_after[k] != stored_before[k] for k in stored_before)

    # The old key can now be removed: everything still reads the same without it.
    only_new = use_keys(new_key)
    assert orm_snapshot() == before
    assert decrypted_values(only_new) == plain_before
    mail_row = db.session.scalar(select(OutboundEmail).where(
        OutboundEmail.signature_id == resend_later[0]))
    assert mail_row is not None and list(json.loads(mail_row.payload or "")) == ["token"]
    # ... and the old key alone reads none of it.
    with pytest.raises(VaultError):
        decrypted_values(PIIVault([OLD_KEY], TEST_KEYS["PII_INDEX_KEY"]))


def test_rotation_interleaved_with_signing_leaves_everything_readable(
        app, use_keys, mailbox, no_broker, monkeypatch):
    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    action = make_action()
    first_ids = sign_people(action, 6, "early")
    new_key = generate_key()
    rotated_vault = use_keys(new_key, OLD_KEY)

    batches = keys.rotate_batches(batch_size=2)
    results = []
    for step, batch in enumerate(batches):
        results.append(batch)
        # Between two batches the site goes on: new signers, a resend, a delivery,
        # a confirmation.
        sign_people(action, 1, f"during{step}")
        signature = db.session.get(Signature, first_ids[step % len(first_ids)])
        assert signature is not None
        resend_confirmation(signature)
        if step == 1:
            deliver_pending_mail()
        if step == 2:
            token = json.loads(db.session.scalars(
                select(OutboundEmail.payload)
                .where(OutboundEmail.status == OutboxStatus.PENDING)).first() or "{}")["token"]
            assert confirm(token).state == TokenState.CONFIRMED
    assert len(results) > 3
    assert sum(b.rotated for b in results) > 0

    stored = raw_values()
    assert key_ids(stored) == {rotated_vault.current_key_id}
    assert sum(keys.count_stale(c) for c in keys.encrypted_columns()) == 0
    signed = orm_snapshot()
    use_keys(new_key)
    assert orm_snapshot() == signed
    decrypted_values(vault())  # every value of every column, old key gone
    assert len(signed) == 6 + len(results)


def test_a_value_changed_during_rotation_is_not_overwritten(app, use_keys, no_broker):
    action = make_action()
    [signature_id, deleted_id] = sign_people(action, 2, "cas")
    column = next(c for c in keys.encrypted_columns() if c.name == "signatures.first_name")
    stale = {row_id: blob for (name, row_id), blob in raw_values().items()
             if name == column.name}
    use_keys(generate_key(), OLD_KEY)

    # The application writes after the rotation read the row, before it wrote it.
    signature = db.session.get(Signature, signature_id)
    assert signature is not None
    signature.first_name = "Renamed"
    db.session.delete(db.session.get(Signature, deleted_id))
    db.session.commit()

    rotated, conflicts = keys.reencrypt_rows(column, list(stale.items()))
    db.session.commit()
    assert (rotated, conflicts) == (0, 2)
    assert orm_snapshot()[signature_id][0] == "Renamed"


def test_a_row_rewritten_under_the_old_key_is_reported_and_picked_up_next_time(
        app, use_keys, no_broker):
    """A process still on the old key list writes behind the rotation: nothing is lost,
    the run says the old key can't go yet, and running again finishes the work."""
    action = make_action()
    [first_id, *_] = sign_people(action, 4, "lagging")
    old_vault = vault()
    new_key = generate_key()
    use_keys(new_key, OLD_KEY)

    batches = keys.rotate_batches(batch_size=1)
    first_batch = next(batches)
    assert (first_batch.column, first_batch.last_id) == ("signatures.first_name", first_id)
    behind = old_vault.encrypt("Written by an old process", "signatures.first_name")
    db.session.execute(text("UPDATE signatures SET first_name = :blob WHERE id = :id")
                       .bindparams(bindparam("blob", type_=LargeBinary)),
                       {"blob": behind, "id": first_id})
    db.session.commit()
    list(batches)
    column = next(c for c in keys.encrypted_columns() if c.name == "signatures.first_name")
    assert keys.count_stale(column) == 1

    report = keys.rotate()
    assert report.rotated == 1 and report.remaining == 0
    use_keys(new_key)
    assert orm_snapshot()[first_id][0] == "Written by an old process"


def test_running_rotate_twice_is_a_no_op_the_second_time(app, use_keys, no_broker):
    action = make_action()
    sign_people(action, 3, "twice")
    use_keys(generate_key(), OLD_KEY)
    first = keys.rotate(batch_size=2)
    assert first.rotated > 0
    stored = raw_values()

    statements: list[str] = []

    def count_updates(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count_updates)
    try:
        second = keys.rotate(batch_size=2)
    finally:
        event.remove(db.engine, "before_cursor_execute", count_updates)
    assert second.rotated == 0 and second.conflicts == 0 and second.remaining == 0
    assert statements == []
    assert raw_values() == stored


def test_rotation_with_a_key_missing_stops_and_loses_nothing(app, use_keys, no_broker):
    action = make_action()
    sign_people(action, 2, "missing")
    stored = raw_values()
    use_keys(generate_key())  # the old key was dropped too early
    with pytest.raises(keys.RotationError, match="cannot be decrypted"):
        keys.rotate()
    assert raw_values() == stored


def test_rotation_while_signing_in_another_thread(app, use_keys, no_broker, backend):
    """Signing really concurrent with the rotation: every row still decrypts after."""
    action = make_action()
    sign_people(action, 10, "base")
    new_key = generate_key()
    use_keys(new_key, OLD_KEY)
    action_id = action.id
    errors: list[BaseException] = []
    started = threading.Event()

    def keep_signing() -> None:
        with app.app_context():
            try:
                from petitions.models import Action

                local_action = db.session.get(Action, action_id)
                started.set()
                sign_people(local_action, 10, "thread")
            except BaseException as exc:
                errors.append(exc)
                started.set()
            finally:
                db.session.remove()

    signer = threading.Thread(target=keep_signing)
    signer.start()
    started.wait(timeout=60)
    report = keys.rotate(batch_size=1)
    signer.join(timeout=120)
    assert not signer.is_alive()
    assert not errors
    assert report.remaining == 0

    db.session.expire_all()
    assert sum(keys.count_stale(c) for c in keys.encrypted_columns()) == 0
    use_keys(new_key)
    assert len(orm_snapshot()) == 20
    decrypted_values(vault())


# --- the command line -------------------------------------------------------------------

def test_keys_generate_prints_env_lines_ready_to_paste(runner):
    result = runner.invoke(args=["keys", "generate"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "PII_ENCRYPTION_KEYS", "PII_INDEX_KEY", "INTAKE_PUBLIC_KEY", "INTAKE_PRIVATE_KEY"]
    encryption_key, index_key, public, private = (line.split("=", 1)[1] for line in lines)
    assert encryption_key != index_key
    PIIVault([encryption_key], index_key)  # both are valid 256-bit keys
    assert IntakeKeys(public, private).can_open  # a matching intake key pair
    assert "never to the web tier" in result.stderr
    assert "keep PII_INDEX_KEY unchanged" in result.stderr
    again = runner.invoke(args=["keys", "generate"])
    assert set(again.stdout.splitlines()).isdisjoint(lines)


def test_keys_rotate_command(app, runner, use_keys, no_broker):
    action = make_action()
    sign_people(action, 3, "cli")
    stored = raw_values()
    new_key = generate_key()
    rotated_vault = use_keys(new_key, OLD_KEY)

    dry = runner.invoke(args=["keys", "rotate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "signatures.first_name: 3 under older keys" in dry.output
    assert raw_values() == stored

    result = runner.invoke(args=["keys", "rotate", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert f"under key {rotated_vault.current_key_id.hex()}" in result.output
    assert "signatures.first_name: 2 re-encrypted" in result.output
    assert "signatures.first_name: 1 re-encrypted" in result.output
    assert f"Re-encrypted {len(stored)} values" in result.output
    assert "older keys can now be removed" in result.output
    assert key_ids(raw_values()) == {rotated_vault.current_key_id}
    assert "Rotationcli" not in result.output

    again = runner.invoke(args=["keys", "rotate"])
    assert again.exit_code == 0, again.output
    assert "Re-encrypted 0 values" in again.output

    use_keys(new_key)
    assert {v[0] for v in orm_snapshot().values()} == {"Rotationcli"}


def test_keys_rotate_command_fails_clearly_without_the_old_key(app, runner, use_keys,
                                                               no_broker):
    action = make_action()
    sign_people(action, 1, "cliold")
    use_keys(generate_key())
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 1
    assert "cannot be decrypted" in result.output
    assert "PII_ENCRYPTION_KEYS" in result.output


def test_keys_rotate_rejects_a_zero_batch_size(runner):
    result = runner.invoke(args=["keys", "rotate", "--batch-size", "0"])
    assert result.exit_code == 2


def test_rotation_covers_the_delivery_packages(app, runner, use_keys, no_broker):
    """The PDF letters and the CSV list every signer's name: they are rotated with the
    rest, counted, and still open once the old key is gone."""
    action = make_deliverable_action()
    delivery = deliveries.request_delivery(action, actor=None)
    deliveries.compile_delivery(delivery.id)
    db.session.expire_all()
    before = {f.name: deliveries.read_file(f)
              for f in deliveries.list_deliveries(action)[0].files}
    assert set(before) == {"signatures.csv", "letter-1.pdf", "letter-2.pdf"}
    stored = raw_values()

    new_key = generate_key()
    use_keys(new_key, OLD_KEY)
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "delivery_files.content: 3 re-encrypted" in result.output
    assert f"Re-encrypted {len(stored)} values" in result.output

    use_keys(new_key)  # the old key removed from the configuration
    package = deliveries.get_delivery(action, delivery.id)
    assert package is not None
    after = {f.name: deliveries.read_file(f) for f in package.files}
    assert after == before
    assert "Ørjan" in after["signatures.csv"].decode()
