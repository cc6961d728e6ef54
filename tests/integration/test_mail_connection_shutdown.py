"""A real Celery worker keeps one SMTP connection per process between emails, and
says QUIT on each when it stops: prefork children (worker_process_shutdown) and a
threaded worker (worker_shutdown) alike."""

from __future__ import annotations

import pytest
from flask import Flask

from petitions.models import OutboxStatus
from tests.conftest import MailSink
from tests.factories import make_action, make_signature
from tests.integration.conftest import (
    CeleryWorker,
    Workers,
    outbox_rows,
    settings_environment,
    wait_until,
)


class CountingQuits(MailSink):
    """Also counts the connections that ended with QUIT."""

    def __init__(self) -> None:
        super().__init__()
        self.quits = 0

    async def handle_QUIT(self, server: object, session: object, envelope: object) -> str:
        with self.changed:
            self.quits += 1
            self.changed.notify_all()
        return "221 Bye"


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_stopping_worker_says_quit_on_the_connections_it_kept(
        live_app: Flask, workers: Workers, smtp_servers, tmp_path, pool: str):  # type: ignore[no-untyped-def]
    sink = CountingQuits()
    port = smtp_servers(sink)
    workers.stop()
    worker = CeleryWorker({**workers.env, **settings_environment({"MAIL_PORT": port})},
                          tmp_path / "worker.log", pool=pool).start()
    try:
        action = make_action()
        for n in range(6):
            make_signature(action, email=f"quit{n}@example.org")
        wait_until(lambda: [r.status for r in outbox_rows()] == [OutboxStatus.SENT] * 6, 60,
                   what=lambda: worker.log_tail())
        connections = len(set(sink.peers))
        # Two processes (or threads), each over its own connection, kept between emails.
        assert 1 <= connections <= 2 < len(sink.messages)
        assert sink.quits == 0
    finally:
        worker.stop()

    assert sink.quits == connections
    assert len(sink.messages) == 6
