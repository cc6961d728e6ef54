"""Shared fixtures.

The suite runs on every backend in ``TEST_BACKENDS`` (default: SQLite and
PostgreSQL). The schema is built once per backend by running the Alembic
migrations, exactly as ``flask db upgrade`` does; after each test every table is
emptied. A service the suite needs but can't reach makes its tests skip on a
developer's machine and fail under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from petitions import create_app
from petitions.crypto import generate_intake_keys, generate_key
from petitions.extensions import db
from petitions.services import abuse, branding, intake

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
BACKENDS = [b.strip() for b in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",")
            if b.strip()]

# One set of keys for the whole run, shared with worker subprocesses.
_INTAKE_PUBLIC, _INTAKE_PRIVATE = generate_intake_keys()
TEST_KEYS = {"PII_ENCRYPTION_KEYS": [generate_key()], "PII_INDEX_KEY": generate_key(),
             "INTAKE_PUBLIC_KEY": _INTAKE_PUBLIC, "INTAKE_PRIVATE_KEY": _INTAKE_PRIVATE}


def service_missing(name: str, reason: str) -> None:
    """Skip locally, fail in CI: a missing service must never pass CI silently."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true requires it)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- PostgreSQL --------------------------------------------------------------------------

def _pg_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped at the end."""
    name = f"petitions_test_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", str(exc).strip())
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_available(url: str = REDIS_URL) -> str | None:
    """None when Redis answers a PING at ``url``, else the reason it does not."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


# --- SMTP --------------------------------------------------------------------------------

class MailSink:
    """What a real SMTP server (aiosmtpd) received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        # The client's (address, port) of each message: one per SMTP connection.
        self.peers: list[object] = []
        self._servers: list[Any] = []
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[attr-defined]
        with self.changed:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))  # type: ignore[attr-defined]
            self.peers.append(session.peer)  # type: ignore[attr-defined]
            self._servers.append(server)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()
            self.peers.clear()
            self._servers.clear()

    def hang_up(self) -> None:
        """Close, from the server's side, the connections messages came over, as a
        server does with an idle client."""
        async def close(server: Any) -> None:
            if server.transport is not None:
                server.transport.close()
            await asyncio.sleep(0)  # the loop closes the socket itself in its next turn

        with self._lock:
            servers = list(self._servers)
        for server in servers:
            asyncio.run_coroutine_threadsafe(close(server), server.loop).result(timeout=10)

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[str, int, MailSink]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port, sink
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[str, int, MailSink]) -> Iterator[MailSink]:
    sink = smtp_server[2]
    sink.clear()
    yield sink
    sink.clear()


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def confirmation_link(message: EmailMessage) -> str:
    match = re.search(r"https?://\S+/confirm/[A-Za-z0-9_-]+", body_text(message))
    assert match, "no confirmation link in the email"
    return match.group(0)


# --- the application ---------------------------------------------------------------------

class IsolatedClient(FlaskClient):
    """A test client whose every request starts with an empty ``g``, as in production.

    The ``app`` fixture keeps one app context open for the whole test, and Flask reuses
    it for the test's requests; without this, the user Flask-Login keeps in ``g`` would
    carry over from one request, and one client, to the next (a deactivated user would
    stay logged in, an anonymous client would act as the last one to log in).

    It also plays the vault worker's part: after a POST, the sealed signatures it left
    are opened (``intake.process_pending``), as a worker would a moment later, so a
    test can look at the signature right after signing. ``vault_worker = False``
    leaves them sealed (tests of what the web tier alone does).
    """

    vault_worker = True

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if has_app_context():
            for name in list(g):
                g.pop(name)
        response = super().open(*args, **kwargs)
        if self.vault_worker and has_app_context() and response.request.method == "POST":
            intake.process_pending()
        return response


def app_config(database_url: str, tmp: Path, **overrides: object) -> dict[str, object]:
    return {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp / "instance"),
        "BASE_URL": "http://petitions.test",
        "CELERY_BROKER_URL": "memory://",
        "MAIL_DEFAULT_SENDER": "Urgent Actions <actions@petitions.test>",
        # Switched on by the tests about them (tests/functional/test_rate_limits.py,
        # test_bot_checks.py); the rest of the suite posts forms at machine speed.
        "RATELIMIT_ENABLED": False,
        "BOT_CHECKS_ENABLED": False,
        # Off, so that a page shows what a test just changed; on in test_public_cache.py.
        "PUBLIC_CACHE_SECONDS": 0,
        **TEST_KEYS,
        **overrides,
    }


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory,
                 request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite'}"
    if backend == "postgresql":
        return request.getfixturevalue("postgres_database").replace(
            "postgresql://", "postgresql+psycopg://")
    raise ValueError(f"unknown backend {backend!r}")


@pytest.fixture(scope="session")
def _session_app(database_url: str, tmp_path_factory: pytest.TempPathFactory,
                 smtp_server: tuple[str, int, MailSink]) -> Iterator[Flask]:
    host, port, _ = smtp_server
    app = create_app(app_config(database_url, tmp_path_factory.mktemp("app"),
                                MAIL_SERVER=host, MAIL_PORT=port))
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
        empty_tables()  # the rows a migration fills in (the default topics), too
    yield app
    with app.app_context():
        db.engine.dispose()


def empty_tables() -> None:
    # DELETE, children first, is several times faster than TRUNCATE on the few rows a
    # test leaves; no test depends on ids starting again at 1.
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(text(f"DELETE FROM {table.name}"))
    db.session.commit()
    abuse.forget_cached_rules()  # the rules just deleted, behind the service's back
    branding.forget_cached()  # likewise the branding


@pytest.fixture
def app(_session_app: Flask) -> Iterator[Flask]:
    """The app, inside an app context, with empty tables after the test."""
    with _session_app.app_context():
        yield _session_app
        db.session.rollback()
        empty_tables()
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()
