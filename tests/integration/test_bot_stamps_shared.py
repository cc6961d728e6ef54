"""Used bot-check stamps are remembered where every web process sees them: a form that
got past one process is refused by another (two gunicorn workers, or two machines
behind the proxy), through Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from petitions import botcheck
from tests.conftest import app_config
from tests.integration.conftest import RedisServer, build_app, close_app


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two apps, as two processes of one site: the same settings, one Redis."""
    server = RedisServer(tmp_path / "redis").start()
    apps: list[Flask] = []
    try:
        for n in range(2):
            apps.append(build_app(app_config(
                f"sqlite:///{tmp_path / 'shared.sqlite'}", tmp_path / f"process-{n}",
                BOT_CHECKS_ENABLED=True, RATELIMIT_STORAGE_URI=server.url)))
        yield apps[0], apps[1]
    finally:
        for app in apps:
            close_app(app)
        server.stop()


def test_a_stamp_used_on_one_process_is_refused_by_another(
        two_processes: tuple[Flask, Flask]) -> None:
    """Solved puzzles are remembered the same way (``botcheck._first_use``)."""
    first, second = two_processes
    form = botcheck.GuardedForm(botcheck.NETWORK_SCOPE, proof_of_work=False)

    def check(app: Flask, fields: dict[str, str]) -> botcheck.Verdict:
        with app.test_request_context("/network", method="POST"):
            return botcheck.check(fields, form)

    with first.app_context():
        fields = {botcheck.STAMP_FIELD: botcheck.issue_stamp(time.time() - 10)}
    assert check(first, fields) == botcheck.Verdict.PERSON
    assert check(second, fields) == botcheck.Verdict.SEND_AGAIN
    assert check(first, fields) == botcheck.Verdict.SEND_AGAIN
    with second.app_context():
        fresh = {botcheck.STAMP_FIELD: botcheck.issue_stamp(time.time() - 10)}
    assert check(second, fresh) == botcheck.Verdict.PERSON
