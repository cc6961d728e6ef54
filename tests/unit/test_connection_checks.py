"""Pooled PostgreSQL connections are checked before use only after sitting idle: a
connection that died while idle (a database restart) is replaced before anyone sees
it, and a busy one is not pinged on every request."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from petitions import extensions
from tests.clock import FakeClock, fake_clock

IDLE = 10.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return fake_clock(monkeypatch, extensions)


@pytest.fixture
def engine(postgres_database: str) -> Iterator[Engine]:
    engine = create_engine(postgres_database.replace("postgresql://", "postgresql+psycopg://"),
                           pool_size=1, max_overflow=0)
    extensions.ping_idle_connections(engine, IDLE)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def kill(pid: int, postgres_database: str) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def pings(engine: Engine) -> list[str]:
    """Count the checks made from now on."""
    sent: list[str] = []
    original = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        sent.append("ping")
        return original(dbapi_connection)

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    return sent


def test_a_connection_that_died_while_idle_is_replaced_unseen(
        engine: Engine, clock: FakeClock, postgres_database: str) -> None:
    first = backend_pid(engine)
    kill(first, postgres_database)
    clock.now += IDLE
    assert backend_pid(engine) != first


def test_a_busy_connection_is_not_pinged(engine: Engine, clock: FakeClock) -> None:
    sent = pings(engine)
    for _ in range(5):
        backend_pid(engine)
        clock.now += IDLE / 2
    assert sent == []
    clock.now += IDLE
    backend_pid(engine)
    assert sent == ["ping"]


def test_one_that_died_in_busy_use_fails_once_then_the_pool_recovers(
        engine: Engine, clock: FakeClock, postgres_database: str) -> None:
    first = backend_pid(engine)
    kill(first, postgres_database)
    with pytest.raises(OperationalError):
        backend_pid(engine)
    assert backend_pid(engine) != first
