"""An update sent by a real worker, killed in the middle of the sending: every opted-in
confirmed signer still gets it exactly once, and nobody else gets it.

The worker is killed (SIGKILL) after the first batch's emails went out, while it holds
the next batch's task for its countdown: the task is lost with it (Redis hands an
unacknowledged message back only after an hour), so only the resume job can go on.
It is not killed between an SMTP server's "250" and the commit that records it: no
outbox can tell that email from an unsent one, and would send it again."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxStatus, SignatureStatus, Update, UpdateStatus
from petitions.services import updates
from petitions.services.signing import email_digest
from tests.factories import make_action
from tests.integration.conftest import wait_until
from tests.messaging_factories import UPDATE_SUBJECT, new_update
from tests.organizer_factories import bulk_signatures, make_user

BATCH = 10


def update_rows(update_id: int) -> list[OutboundEmail]:
    db.session.rollback()  # see what the worker committed
    return list(db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.update_id == update_id).order_by(OutboundEmail.id)))


def recipients_of(mailbox) -> list[str]:  # type: ignore[no-untyped-def]
    return [address for message, (_, addresses) in zip(mailbox.messages, mailbox.envelopes,
                                                       strict=True)
            if message["Subject"] == UPDATE_SUBJECT for address in addresses]


def test_an_update_reaches_each_opted_in_signer_once_across_a_killed_worker(
        live_app, workers, mailbox, monkeypatch):
    action, other = make_action(), make_action()
    bulk_signatures(action, 60, updates_opt_in=True, each=lambda i: {
        "email": f"wanted{i}@example.org", "email_digest": email_digest(f"wanted{i}@example.org")})
    bulk_signatures(action, 5)  # confirmed, no news wanted
    bulk_signatures(action, 3, status=SignatureStatus.PENDING, updates_opt_in=True)
    bulk_signatures(other, 5, updates_opt_in=True)
    wanted = {f"wanted{n}@example.org" for n in range(60)}
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)

    # A slow pace: ten seconds between batches of ten.
    slow = workers.start(UPDATE_BATCH_SIZE=BATCH, UPDATE_RATE_PER_MINUTE=60)
    updates.start_sending(update, organizer)

    # The first batch is sent; the worker holds the next one, due in a few seconds.
    wait_until(lambda: len(update_rows(update.id)) == BATCH and all(
        r.status == OutboxStatus.SENT for r in update_rows(update.id)), 30,
        what=lambda: "the first batch to be sent\n" + slow.log_tail())
    assert slow.process is not None
    os.killpg(slow.process.pid, signal.SIGKILL)
    slow.process.wait()
    workers.stop()
    assert len(recipients_of(mailbox)) == BATCH
    db.session.rollback()
    assert db.session.get(Update, update.id).status == UpdateStatus.SENDING

    # Back with a brisk pace; the scheduler's resume job finds the stalled update.
    fast = workers.start(UPDATE_BATCH_SIZE=BATCH, UPDATE_RATE_PER_MINUTE=6000)
    monkeypatch.setitem(live_app.config, "UPDATE_BATCH_SIZE", BATCH)
    monkeypatch.setitem(live_app.config, "UPDATE_RATE_PER_MINUTE", 6000)
    assert updates.resume_stalled(older_than=timedelta(0)) == 1

    def finished() -> bool:
        db.session.rollback()
        rows = update_rows(update.id)
        return (db.session.get(Update, update.id).status == UpdateStatus.SENT
                and len(rows) == 60 and all(r.status == OutboxStatus.SENT for r in rows))

    wait_until(finished, 60, what=lambda: "the update to be sent to all\n" + fast.log_tail())

    # The killed worker's own next batch, delivered late, finds the cursor moved on.
    celery = live_app.extensions["celery"]
    late = celery.send_task(updates.BATCH_TASK, args=[update.id, BATCH])
    assert fast.wait_for_task(late.id).endswith(" 0")

    received = recipients_of(mailbox)
    assert len(received) == 60
    assert set(received) == wanted
    assert db.session.get(Update, update.id).recipients == 60
