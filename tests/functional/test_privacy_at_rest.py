"""A copy of the database alone must not tell who signed.

People sign with names, addresses, postcodes and comments nobody else could have
typed; then the database is read the way a thief with a copy would read it: every
column of every table through the driver (no ORM, no decryption), the PostgreSQL
dump, the SQLite file. None of those values may appear, in any letter case.
"""

from __future__ import annotations

import json
import secrets
import shutil
import smtplib
import string
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import LargeBinary, bindparam, select, text, update

from petitions.crypto import FORMAT_VERSION, vault
from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxStatus, Signature, SignatureStatus, utcnow
from petitions.services import intake, mail, privacy
from petitions.services.keys import signatures_for_email
from petitions.services.outbox import SEND_EMAIL_TASK, dispatch_pending
from petitions.services.signing import SignatureInput, sign
from tests.conftest import confirmation_link, service_missing
from tests.factories import deliver_pending_mail, form_data, make_action, post_form


def _letters(n: int = 8) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))


@dataclass(frozen=True)
class Signer:
    """A supporter whose every value is unique to this test run."""

    first_name: str
    last_name: str
    email: str
    postcode: str
    comment: str
    ip: str

    @classmethod
    def make(cls, n: int) -> Signer:
        tag = _letters()
        return cls(
            first_name=f"Ysolde{tag}" if n % 2 else f"Zoë{tag}",
            last_name=f"Quarterfield{tag.upper()}",
            email=f"Ysolde.{tag}@Refuge-{tag}.example.org",
            postcode=f"QZ{tag[:5].upper()}",
            comment=f"Free them now: {tag} from the camp committee of {tag[::-1]}",
            ip=f"203.0.113.{n + 10}",
        )

    def form(self) -> dict[str, str]:
        return form_data(first_name=self.first_name, last_name=self.last_name,
                         email=self.email, postcode=self.postcode, comment=self.comment,
                         updates_opt_in="y")

    def personal_values(self) -> list[str]:
        local, _, domain = self.email.partition("@")
        return [self.first_name, self.last_name, self.email, local, domain, self.postcode,
                self.comment, self.ip]


@dataclass
class SignedState:
    signers: list[Signer]
    tokens: list[str]
    action_title: str

    def needles(self) -> set[str]:
        """Every personal value, as typed and lower-cased, and every token mailed."""
        values = [v for s in self.signers for v in s.personal_values()] + self.tokens
        return {v for value in values for v in (value, value.lower())}


def sign_through_the_site(client: Any, slug: str, signer: Signer) -> None:
    response = post_form(client, f"/actions/{slug}", signer.form(),
                         environ_base={"REMOTE_ADDR": signer.ip})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert signer.email.lower() not in response.headers["Location"].lower()


def token_of(message: Any) -> str:
    return confirmation_link(message).rsplit("/", 1)[1]


@pytest.fixture
def signed(app, client, mailbox, monkeypatch) -> Iterator[SignedState]:
    """Signatures in every state, and mail in every state, committed to the database."""
    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    action = make_action()
    other_action = make_action()
    signers = [Signer.make(n) for n in range(7)]

    # Three sign, their confirmation mail is delivered over SMTP; one confirms.
    for signer in signers[:3]:
        sign_through_the_site(client, action.slug, signer)
    assert deliver_pending_mail() == 3
    messages = mailbox.wait_for(3)
    tokens = [token_of(m) for m in messages]
    first_link = confirmation_link(mailbox.to(signers[0].email)[0])
    assert post_form(client, first_link.removeprefix("http://petitions.test"),
                     {}).status_code == 303

    # One signs again while pending: a new token waits in the outbox, unsent.
    sign_through_the_site(client, action.slug, signers[1])
    # Two more sign and their mail is not sent yet.
    for signer in signers[3:5]:
        sign_through_the_site(client, action.slug, signer)
    # One signs two actions (through the service, as an import would).
    sign(other_action, SignatureInput(
        first_name=signers[5].first_name, last_name=signers[5].last_name,
        email=signers[5].email, country="DE", postcode=signers[5].postcode,
        comment=signers[5].comment), ip=signers[5].ip)
    sign_through_the_site(client, action.slug, signers[5])
    # One whose mail server refuses the address, quoting it back.
    sign_through_the_site(client, action.slug, signers[6])
    pending = db.session.scalars(select(OutboundEmail).join(Signature).where(
        OutboundEmail.status == OutboxStatus.PENDING)).all()
    refused = [row.id for row in pending if row.signature.email.lower()
               == signers[6].email.lower()]

    def refuse(self: smtplib.SMTP, message: Any, *args: Any, **kwargs: Any) -> None:
        raise smtplib.SMTPResponseException(
            550, f"5.1.1 <{signers[6].email}>: Recipient address rejected".encode())

    with monkeypatch.context() as patch:
        patch.setattr(smtplib.SMTP, "send_message", refuse)
        assert mail.deliver(refused[0]) == OutboxStatus.FAILED

    db.session.expire_all()
    statuses = db.session.scalars(select(OutboundEmail.status)).all()
    assert {OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.FAILED} <= set(statuses)
    [first] = signatures_for_email(signers[0].email)
    assert first.status == SignatureStatus.CONFIRMED
    yield SignedState(signers, tokens, action.title)


# --- reading the database as a thief would ----------------------------------------------

def _as_text(value: object) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def raw_rows() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, as the driver returns it."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        if db.engine.dialect.name == "postgresql":
            cursor.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                           "('pg_catalog', 'information_schema')")
            tables = [f'"{schema}"."{name}"' for schema, name in cursor.fetchall()]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = [f'"{name}"' for (name,) in cursor.fetchall()]
        rows = {}
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")
            rows[table.rsplit(".", 1)[-1].strip('"')] = list(cursor.fetchall())
        cursor.close()
        return rows
    finally:
        connection.close()


def found_in(text: str, needles: set[str]) -> list[str]:
    lowered = text.lower()
    return sorted(n for n in needles if n in text or n.lower() in lowered)


def test_no_personal_value_in_any_column_of_any_table(signed):
    rows = raw_rows()
    assert len(rows["signatures"]) == 8
    assert len(rows["outbound_emails"]) >= 8

    leaks = []
    for table, table_rows in rows.items():
        for row in table_rows:
            for value in row:
                if value is None:
                    continue
                if hit := found_in(_as_text(value), signed.needles()):
                    leaks.append((table, hit))
    assert not leaks

    # The scan does read the values: what is meant to be in clear is found.
    everything = " ".join(_as_text(v) for r in rows.values() for row in r for v in row)
    assert found_in(everything, {signed.action_title})


def test_the_scan_would_see_a_value_stored_in_clear(signed):
    """The scan above is only worth something if it catches a leak, text or bytes."""
    person = signed.signers[2]
    statement = text("UPDATE signatures SET source = :source, comment = :comment "
                     "WHERE id = (SELECT MIN(id) FROM signatures)")
    db.session.execute(statement.bindparams(bindparam("comment", type_=LargeBinary)),
                       {"source": person.postcode.lower(),
                        "comment": person.comment.upper().encode()})
    db.session.commit()
    seen = " ".join(_as_text(v) for r in raw_rows().values() for row in r for v in row)
    assert found_in(seen, signed.needles()) == sorted(
        {person.postcode, person.postcode.lower(), person.comment, person.comment.lower()})


def test_personal_columns_hold_ciphertext_and_counting_columns_stay_clear(signed):
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT first_name, last_name, email, postcode, comment, country, "
                       "status, created_at FROM signatures")
        for *secret, country, status, created_at in cursor.fetchall():
            for blob in secret:
                assert bytes(blob)[:1] == FORMAT_VERSION
            assert country in {"FR", "DE"}
            assert status in {"pending", "confirmed"}
            assert created_at is not None
        cursor.execute("SELECT status, payload, last_error FROM outbound_emails")
        outbox = cursor.fetchall()
    finally:
        connection.close()
    for status, payload, last_error in outbox:
        if status == "pending":
            # The token waits encrypted, and only the token.
            assert bytes(payload)[:1] == FORMAT_VERSION
            text = vault().decrypt(bytes(payload), "outbound_emails.payload")
            assert list(json.loads(text)) == ["token"]
        else:
            assert payload is None  # erased once sent, or given up
        if status == "failed":
            assert "<address>" in last_error


# Each check below is for one database: the test runs on that backend only.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_pg_dump_shows_no_personal_data(signed, backend):
    if shutil.which("pg_dump") is None:
        service_missing("pg_dump", "not on PATH")
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(["pg_dump", "--no-owner", "--dbname", url], capture_output=True,
                          check=True, timeout=300).stdout.decode("utf-8", errors="replace")
    assert signed.action_title in dump
    assert not found_in(dump, signed.needles())
    # bytea is dumped in hex: a plain value stored as bytes would show only this way.
    hex_forms = {n.encode().hex() for n in signed.needles()}
    assert not found_in(dump, hex_forms)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_file_shows_no_personal_data(signed, backend):
    path = Path(db.engine.url.database or "")
    contents = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    text = contents.decode("utf-8", errors="replace")
    assert signed.action_title in text
    assert not found_in(text, signed.needles())


# --- data-subject requests ----------------------------------------------------------------

def test_a_signer_is_found_by_address_without_decrypting(signed):
    person = signed.signers[5]
    variants = [person.email, person.email.lower(), person.email.upper(),
                f"  {person.email}  "]
    for variant in variants:
        found = signatures_for_email(variant)
        assert len(found) == 2, variant
        assert {s.last_name for s in found} == {person.last_name}
    assert signatures_for_email(f"nobody-{_letters()}@example.org") == []


# --- IP addresses -------------------------------------------------------------------------

def _ip_digests() -> dict[int, str | None]:
    return dict(db.session.execute(select(Signature.id, Signature.ip_digest)
                                   .order_by(Signature.id)).all())


def test_ip_address_is_stored_only_as_a_truncated_keyed_digest(app, client):
    action = make_action()
    signers = [Signer.make(1), Signer.make(2)]
    same_ip = replace(Signer.make(3), ip=signers[0].ip)
    for signer in [*signers, same_ip]:
        sign_through_the_site(client, action.slug, signer)

    digests = list(_ip_digests().values())
    full = vault().digest(signers[0].ip, "ip")
    assert digests[0] == full[:16] != full
    assert all(d is not None and len(d) == 16 and int(d, 16) >= 0 for d in digests)
    assert signers[0].ip not in digests[0]
    # Enough to spot a flood from one address, and nothing more.
    assert digests[0] == digests[2] != digests[1]


def test_ip_digests_are_erased_after_the_configured_days(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "IP_DIGEST_RETENTION_DAYS", 7)
    action = make_action()
    for n in range(3):
        sign_through_the_site(client, action.slug, Signer.make(n))
    old, recent, new = db.session.scalars(select(Signature.id).order_by(Signature.id)).all()
    now = utcnow()
    for signature_id, age in ((old, timedelta(days=8)), (recent, timedelta(days=6))):
        db.session.execute(update(Signature).where(Signature.id == signature_id)
                           .values(created_at=now - age))
    db.session.commit()

    assert privacy.purge_ip_digests() == 1
    digests = _ip_digests()
    assert digests[old] is None
    assert digests[recent] is not None and digests[new] is not None

    monkeypatch.setitem(app.config, "IP_DIGEST_RETENTION_DAYS", 5)
    assert privacy.purge_ip_digests() == 1
    digests = _ip_digests()
    assert digests[recent] is None and digests[new] is not None
    # The signatures themselves stay: only the digest goes.
    assert db.session.scalar(select(Signature).where(Signature.id == old)) is not None


# --- what is handed to the broker ---------------------------------------------------------

def test_task_arguments_are_only_ids(app, client, monkeypatch):
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    celery = app.extensions["celery"]

    def record(name: str, *args: Any, **kwargs: Any) -> None:
        calls.append((name, args, kwargs))

    monkeypatch.setattr(celery, "send_task", record)
    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    action = make_action()
    signers = [Signer.make(n) for n in range(3)]
    for signer in signers:
        sign_through_the_site(client, action.slug, signer)
    sign_through_the_site(client, action.slug, signers[0])  # a resend
    sign(action, SignatureInput(first_name=signers[1].first_name, last_name="Other",
                                email=f"x-{_letters()}@example.org", country="FR"))
    # Rows the broker never got are handed off again by the dispatcher.
    db.session.execute(update(OutboundEmail).values(dispatched_at=None))
    db.session.commit()
    assert dispatch_pending() == 5

    # Four sealed signatures for the vault workers, five emails, five again.
    assert [name for name, _, _ in calls].count(intake.PROCESS_TASK) == 4
    assert len(calls) == 14
    needles = {v for s in signers for value in s.personal_values()
               for v in (value, value.lower())}
    for name, args, kwargs in calls:
        assert name in (SEND_EMAIL_TASK, intake.PROCESS_TASK)
        assert not args
        task_args = kwargs.pop("args")
        assert task_args and all(type(a) is int for a in task_args)
        assert not kwargs.get("kwargs")
        assert set(kwargs) <= {"retry"}
        assert not found_in(repr((name, task_args, kwargs)), needles)
