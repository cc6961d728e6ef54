"""What the outbox and the worker promise when things go wrong: every accepted signature
gets its email exactly once, whether a task is delivered twice, the worker is down, the
SMTP server says "later" or "never", or the broker is down while people sign."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask import Flask

from petitions.models import OutboundEmail, OutboxStatus
from petitions.services import intake, outbox
from tests.conftest import MailSink, confirmation_link
from tests.factories import form_data, make_action, make_signature, post_form
from tests.integration.conftest import (
    BackgroundProcess,
    CeleryWorker,
    RedisServer,
    build_app,
    clean_environment,
    close_app,
    outbox_rows,
    sealed_rows,
    settings_environment,
    wait_until,
)


def wait_for_outbox(expected: int, status: OutboxStatus, worker: BackgroundProcess,
                    timeout: float = 60.0) -> list[OutboundEmail]:
    """Wait until the outbox holds ``expected`` rows, all in ``status``."""
    def done() -> list[OutboundEmail] | None:
        rows = outbox_rows()
        ok = len(rows) == expected and all(r.status == status for r in rows)
        return rows if ok else None

    return wait_until(done, timeout, interval=0.1,
                      what=lambda: f"{expected} outbox rows {status}: "
                                   f"{[(r.id, r.status, r.attempts) for r in outbox_rows()]}\n"
                                   + worker.log_tail())


def one_each(mailbox: MailSink, addresses: list[str]) -> None:
    """Exactly one email per address, and nothing else."""
    assert len(mailbox.messages) == len(addresses)
    for address in addresses:
        assert len(mailbox.to(address)) == 1, address
    links = {confirmation_link(m) for m in mailbox.messages}
    assert len(links) == len(addresses)


def test_the_same_task_delivered_twice_sends_one_email(live_app, worker, mailbox,
                                                       monkeypatch):
    action = make_action()
    # Record the email without the usual hand-off: this test publishes it itself.
    monkeypatch.setattr(outbox, "hand_off", lambda ids: 0)
    make_signature(action, email="once@example.org")
    [row] = outbox_rows()
    assert row.status == OutboxStatus.PENDING

    celery = live_app.extensions["celery"]
    tasks = [celery.send_task(outbox.SEND_EMAIL_TASK, args=[row.id]) for _ in range(2)]
    # The worker has two threads and takes both at once: the row lock decides.
    lines = [worker.wait_for_task(task.id) for task in tasks]

    assert all(line.endswith("'sent'") for line in lines), lines
    assert len(mailbox.messages) == 1
    assert len(mailbox.to("once@example.org")) == 1
    [row] = outbox_rows()
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 1
    assert row.payload is None  # the token left with the email


def test_signatures_made_while_the_worker_is_down_are_all_sent_once_it_is_back(
        live_app, live_client, workers, worker, mailbox):
    action = make_action()
    workers.stop()

    addresses = [f"queued{n}@example.org" for n in range(20)]
    for address in addresses:
        response = post_form(live_client, f"/actions/{action.slug}", form_data(email=address))
        assert response.status_code == 303

    # Sealed, handed off, and waiting in Redis for a vault worker.
    rows = sealed_rows()
    assert len(rows) == 20 and all(r.dispatched_at is not None for r in rows)
    assert outbox_rows() == []
    assert workers.queued() == 20
    assert mailbox.messages == []

    restarted = workers.start()
    mailbox.wait_for(20, timeout=60)
    rows = wait_for_outbox(20, OutboxStatus.SENT, restarted)
    assert all(r.attempts == 1 for r in rows)
    one_each(mailbox, addresses)


class RefusingAtFirst(MailSink):
    """An SMTP server that answers 451 to the first ``failures`` messages."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures_left = failures
        self.refused = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self._lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                self.refused += 1
                return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def test_temporary_smtp_failures_are_retried_until_each_email_is_sent_once(
        live_app, live_client, workers, smtp_servers):
    failures = 7
    sink = RefusingAtFirst(failures)
    port = smtp_servers(sink)
    flaky = workers.start(MAIL_PORT=port)
    action = make_action()

    addresses = [f"retry{n}@example.org" for n in range(5)]
    for address in addresses:
        response = post_form(live_client, f"/actions/{action.slug}", form_data(email=address))
        assert response.status_code == 303

    rows = wait_for_outbox(len(addresses), OutboxStatus.SENT, flaky, timeout=90)
    assert sink.refused == failures
    # Every refusal cost one attempt of some email, and each email one more to succeed.
    assert sum(r.attempts for r in rows) == len(addresses) + failures
    assert all(r.last_error is None and r.payload is None for r in rows)
    one_each(sink, addresses)
    assert "Retry in" in flaky.log()


class Refusing(MailSink):
    """An SMTP server that refuses one address at RCPT and another at DATA, with a 5xx
    that quotes the address, as real servers do."""

    def __init__(self, at_rcpt: str, at_data: str) -> None:
        super().__init__()
        self.at_rcpt = at_rcpt
        self.at_data = at_data

    async def handle_RCPT(self, server: object, session: object, envelope: object,
                          address: str, rcpt_options: list[str]) -> str:
        if address == self.at_rcpt:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[attr-defined]
        if self.at_data in str(message["To"]):
            return f"550 5.7.1 Message to {self.at_data} refused by policy"
        return await super().handle_DATA(server, session, envelope)


def test_a_permanent_smtp_failure_is_recorded_without_the_address(
        live_app, live_client, workers, smtp_servers):
    at_rcpt, at_data, fine = ("nobody@example.org", "blocked@example.org",
                              "fine@example.org")
    sink = Refusing(at_rcpt=at_rcpt, at_data=at_data)
    refusing = workers.start(MAIL_PORT=smtp_servers(sink))
    action = make_action()
    for address in (at_rcpt, at_data, fine):
        post_form(live_client, f"/actions/{action.slug}", form_data(email=address))

    def settled() -> list[OutboundEmail] | None:
        rows = outbox_rows()
        done = len(rows) == 3 and all(r.status != OutboxStatus.PENDING for r in rows)
        return rows if done else None

    rows = wait_until(settled, 60, interval=0.1, what=refusing.log_tail)
    by_address = {r.signature.email: r for r in rows}

    assert by_address[fine].status == OutboxStatus.SENT
    for address in (at_rcpt, at_data):
        row = by_address[address]
        assert row.status == OutboxStatus.FAILED
        assert row.attempts == 1  # a permanent failure is not retried
        assert row.payload is None
        assert row.last_error and "550" in row.last_error
        assert address not in row.last_error
        assert address.partition("@")[0] not in row.last_error
    assert "policy" in by_address[at_data].last_error
    one_each(sink, [fine])
    # Nor does the worker's log name them.
    log = refusing.log()
    assert at_rcpt not in log and at_data not in log


# --- the broker is down while people sign ----------------------------------------------

class IsolatedBroker:
    """An app and a worker on a Redis server of the test's own, to stop at will."""

    def __init__(self, app: Flask, redis_server: RedisServer, worker: CeleryWorker) -> None:
        self.app = app
        self.redis = redis_server
        self.worker = worker


@pytest.fixture
def isolated_broker(live_app: Flask, live_settings: dict[str, object],
                    tmp_path: Path) -> Iterator[IsolatedBroker]:
    server = RedisServer(tmp_path / "redis").start()
    app = worker = None
    try:
        # The live app's settings (same database, same SMTP server), another broker.
        settings = {**live_settings, "CELERY_BROKER_URL": server.url,
                    "INSTANCE_PATH": str(tmp_path / "instance")}
        app = build_app(settings)
        worker = CeleryWorker(clean_environment(**settings_environment(settings)),
                              tmp_path / "worker.log").start()
        yield IsolatedBroker(app, server, worker)
    finally:
        if worker is not None:
            worker.stop()
        if app is not None:
            close_app(app)
        server.stop()


def test_an_email_accepted_while_the_broker_is_down_is_sent_once_it_is_back(
        live_app, isolated_broker, mailbox):
    app, server, worker = isolated_broker.app, isolated_broker.redis, isolated_broker.worker
    client = app.test_client()
    with app.app_context():
        slug = make_action().slug

    server.stop()
    response = post_form(client, f"/actions/{slug}",
                         form_data(email="patient@example.org"))
    assert response.status_code == 303  # the supporter notices nothing

    with app.app_context():
        # Stored sealed, not handed off: left for the dispatcher.
        [row] = sealed_rows()
        assert row.dispatched_at is None and row.failed_at is None
        assert outbox_rows() == []
    assert mailbox.messages == []

    server.start()
    with app.app_context():
        # What the scheduler's dispatch_intake task runs every few seconds.
        assert intake.dispatch_pending() == 1
        messages = mailbox.wait_for(1, timeout=60)
        assert len(messages) == 1, worker.log_tail()
        wait_for_outbox(1, OutboxStatus.SENT, worker)
        # A second dispatcher round finds nothing left to hand off.
        assert intake.dispatch_pending() == 0 and outbox.dispatch_pending() == 0
        assert sealed_rows() == []
    assert len(mailbox.to("patient@example.org")) == 1
    assert "Connection to broker lost" in worker.log()
