"""Integration fixtures: the app on real PostgreSQL, Redis as the Celery broker, a real
Celery worker in a subprocess, and mail through a real SMTP server (aiosmtpd).

Everything in this folder is marked ``integration``. The worker runs with exactly the
settings the app under test was built with, passed as environment variables, so it
reads them the way a deployed worker does. It is started once and kept for the
session; a test that needs it stopped, or configured differently, asks ``workers``.

Nothing here is autouse: a test that needs no external service (the embedded default)
never skips because PostgreSQL or Redis is down.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from celery import current_app as current_celery
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import select

from config import SETTINGS
from petitions import create_app
from petitions.extensions import db
from petitions.models import OutboundEmail, SealedSubmission
from tests.conftest import (
    REDIS_URL,
    MailSink,
    app_config,
    empty_tables,
    free_port,
    redis_available,
    service_missing,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The virtualenv running the tests holds ``celery`` and ``flask`` too.
BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
FLASK = str(BIN / "flask")

# Redis databases this suite may claim as its broker, one per concurrent test run.
BROKER_DATABASES = range(15, 7, -1)
BROKER_LOCK_KEY = "petitions-tests:claimed-by"      # held while a run uses the database
BROKER_MARKER_KEY = "petitions-tests:broker"        # the database is the test suite's
# kombu's Redis transport: each queue is a list of its name (the default queue, and
# the vault workers' queue of sealed signatures), and messages a worker has taken but
# not yet acknowledged sit in this hash.
QUEUE_KEYS = ("celery", "vault")
UNACKED_KEYS = ("unacked", "unacked_index")

T = TypeVar("T")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``integration`` (before ``-m`` deselects)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


# --- waiting ---------------------------------------------------------------------------

def wait_until(condition: Callable[[], T], timeout: float = 30.0, *,
               interval: float = 0.05, what: str | Callable[[], str] = "the condition") -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Fails with ``what`` (or what it returns, e.g. a worker's log) after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g}s waiting for {detail}")
        time.sleep(interval)


def sealed_rows() -> list[SealedSubmission]:
    """The sealed submissions as committed right now (waiting for a vault worker)."""
    db.session.rollback()
    return list(db.session.scalars(select(SealedSubmission).order_by(SealedSubmission.id)))


def wait_for_intake(worker: BackgroundProcess, timeout: float = 30.0) -> None:
    """Wait until a vault worker has opened every sealed signature."""
    wait_until(lambda: not sealed_rows(), timeout, interval=0.05,
               what=lambda: "the vault worker to open the sealed signatures\n"
                            + worker.log_tail())


def outbox_rows() -> list[OutboundEmail]:
    """The outbox as committed right now (ends the session's transaction first, so
    what worker processes committed is visible)."""
    db.session.rollback()
    return list(db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)))


# --- processes --------------------------------------------------------------------------

def settings_environment(settings: Mapping[str, Any]) -> dict[str, str]:
    """Settings as create_app takes them, written as the environment variables that
    config.load_settings reads back (lists comma-joined)."""
    return {name: ",".join(value) if isinstance(value, list) else str(value)
            for name, value in settings.items()}


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any of the app's settings (a developer's
    shell may have DATABASE_URL or MAIL_SERVER set), plus ``variables``."""
    names = {setting.name for setting in SETTINGS} | {"INSTANCE_PATH", "FLASK_APP"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


class BackgroundProcess:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], *, env: Mapping[str, str],
                 log_path: Path, cwd: Path = ROOT) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def start(self) -> BackgroundProcess:
        assert not self.running, f"{self.name} is running already"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        tail = "\n".join(self.log().splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with status {self.process.returncode}\n"
                                 + self.log_tail())

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the log matches the regular expression ``pattern``."""
        compiled = re.compile(pattern)

        def found() -> re.Match[str] | None:
            match = compiled.search(self.log())
            if match is None:
                self.check_alive()
            return match

        return wait_until(found, timeout, interval=0.1,
                          what=lambda: f"{pattern!r} in the log of {self.name}\n"
                                       + self.log_tail())

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a Celery worker's warm shutdown), SIGKILL if that takes too long."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            # Signalled only while the leader is alive (not reaped), so its process
            # group id can't belong to anything else.
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None


class CeleryWorker(BackgroundProcess):
    """``celery -A workers worker``, started and considered up once it logs "ready"."""

    READY = r"@\S+ ready\."

    def __init__(self, env: Mapping[str, str], log_path: Path, *, pool: str = "threads",
                 concurrency: int = 2, cwd: Path = ROOT) -> None:
        node = f"integration-{uuid.uuid4().hex[:8]}@%h"
        args = [CELERY, "-A", "workers", "worker", "--pool", pool,
                "--without-mingle", "--without-gossip", "-l", "INFO", "-n", node]
        if pool != "solo":
            args[6:6] = ["-c", str(concurrency)]
        super().__init__("celery worker", args, env=env, log_path=log_path, cwd=cwd)

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        super().start()
        try:
            self.wait_for_log(self.READY, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_task(self, task_id: str, outcome: str = "succeeded",
                      timeout: float = 30.0) -> str:
        """Wait for the worker to log the end of the task ``task_id``; return the line."""
        match = self.wait_for_log(
            rf"Task [\w.]+\[{re.escape(task_id)}\] {outcome}[^\n]*(?=\n)", timeout)
        return match.group(0)


class Workers:
    """The Celery worker of the live app: at most one at a time consumes the broker,
    so a test that wants one configured differently gets it to itself."""

    def __init__(self, env: Mapping[str, str], broker_url: str, log_dir: Path) -> None:
        self.env = dict(env)
        self.broker_url = broker_url
        self.log_dir = log_dir
        self.current: CeleryWorker | None = None
        self.current_is_default = False
        self._started = 0

    def start(self, **overrides: object) -> CeleryWorker:
        """Stop whatever worker runs, and start one with the live app's settings, where
        ``overrides`` (setting names) replace some of them."""
        self.stop()
        self._started += 1
        env = {**self.env, **settings_environment(overrides)}
        worker = CeleryWorker(env, self.log_dir / f"worker-{self._started}.log")
        worker.start()
        self.current, self.current_is_default = worker, not overrides
        return worker

    def ensure_default(self) -> CeleryWorker:
        if self.current is not None and self.current_is_default and self.current.running:
            return self.current
        return self.start()

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None

    def queued(self) -> int:
        """Messages waiting in the broker, not yet taken by a worker."""
        with redis.Redis.from_url(self.broker_url) as client:
            return sum(int(client.llen(key)) for key in QUEUE_KEYS)

    def _unacked(self) -> int:
        with redis.Redis.from_url(self.broker_url) as client:
            return int(client.hlen(UNACKED_KEYS[0]))

    def settle(self, timeout: float = 30.0) -> None:
        """After a test: nothing of it may run on into the next one.

        A non-default worker is stopped; the default one must finish what it holds
        (its queue empty, nothing unacknowledged); a message nobody consumed is purged.
        """
        try:
            if self.current is not None and not self.current_is_default:
                self.stop()
            if self.current is not None and self.current.running:
                worker = self.current
                wait_until(lambda: self.queued() == 0 and self._unacked() == 0, timeout,
                           interval=0.1,
                           what=lambda: "the worker to finish this test's tasks\n"
                                        + worker.log_tail())
        finally:
            if self.current is None or not self.current.running:
                with redis.Redis.from_url(self.broker_url) as client:
                    client.delete(*QUEUE_KEYS, *UNACKED_KEYS)


class RedisServer(BackgroundProcess):
    """A redis-server of the test's own, on a free port, with nothing persisted."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            service_missing("redis-server", "the executable is not on PATH")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__("redis-server", [
            str(executable), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str(directory)], env=clean_environment(),
            log_path=directory / "redis.log", cwd=directory)

    def start(self, timeout: float = 20.0) -> RedisServer:
        super().start()

        def answers() -> bool:
            self.check_alive()
            return redis_available(self.url) is None

        try:
            wait_until(answers, timeout, interval=0.05,
                       what=lambda: "redis-server to answer\n" + self.log_tail())
        except BaseException:
            self.stop()
            raise
        return self


# --- the app ----------------------------------------------------------------------------

def build_app(settings: dict[str, object]) -> Flask:
    """create_app, without leaving its Celery app as Celery's global current/default app
    (every Celery() makes itself that): the other suites' apps are not to be disturbed."""
    previous = current_celery._get_current_object()
    try:
        return create_app(settings)
    finally:
        previous.set_current()
        previous.set_default()


def close_app(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].close()


@pytest.fixture(scope="session")
def redis_broker_url() -> Iterator[str]:
    """A Redis database of its own for this run's broker, empty at the start.

    Several test runs on one machine (two terminals, two engineers) each claim a
    different database, so no worker consumes another run's tasks. Only a database
    that is empty, or that this suite used before, is claimed and flushed: a
    developer's own data in another database is never touched.
    """
    reason = redis_available(REDIS_URL)
    if reason is not None:
        service_missing("Redis", reason)
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    base = urlsplit(REDIS_URL)
    for number in BROKER_DATABASES:
        url = base._replace(path=f"/{number}").geturl()
        with redis.Redis.from_url(url) as client:
            if not client.set(BROKER_LOCK_KEY, token, nx=True, ex=6 * 3600):
                continue  # another run is using it
            if client.dbsize() == 1 or client.exists(BROKER_MARKER_KEY):
                client.flushdb()
                client.set(BROKER_LOCK_KEY, token, ex=6 * 3600)
                client.set(BROKER_MARKER_KEY, "the petitions test suite's broker")
                break
            client.delete(BROKER_LOCK_KEY)  # somebody else's data: leave it alone
    else:
        service_missing("Redis", f"no free database among {list(BROKER_DATABASES)} "
                                 "(each is in use by another test run, or not empty)")
    yield url
    with redis.Redis.from_url(url) as client:
        if client.get(BROKER_LOCK_KEY) == token.encode():
            client.flushdb()


@pytest.fixture(scope="session")
def live_settings(postgres_database: str, redis_broker_url: str,
                  smtp_server: tuple[str, int, MailSink],
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The settings of the live app, and so of its worker."""
    host, port, _ = smtp_server
    return app_config(
        postgres_database.replace("postgresql://", "postgresql+psycopg://", 1),
        tmp_path_factory.mktemp("live"),
        CELERY_BROKER_URL=redis_broker_url, MAIL_SERVER=host, MAIL_PORT=port,
        MAIL_RETRY_BACKOFF_MAX=2)


@pytest.fixture(scope="session")
def _live_app(live_settings: dict[str, object]) -> Iterator[Flask]:
    app = build_app(live_settings)
    with app.app_context():
        upgrade()
    yield app
    close_app(app)


@pytest.fixture(scope="session")
def workers(live_settings: dict[str, object], redis_broker_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    manager = Workers(clean_environment(**settings_environment(live_settings)),
                      redis_broker_url, tmp_path_factory.mktemp("worker-logs"))
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture
def live_app(_live_app: Flask, workers: Workers) -> Iterator[Flask]:
    """The live app, inside an app context; after the test its tasks are finished and
    every table is emptied."""
    with _live_app.app_context():
        try:
            yield _live_app
        finally:
            try:
                workers.settle()
            finally:
                db.session.rollback()
                empty_tables()
                db.session.remove()


@pytest.fixture
def live_client(live_app: Flask) -> FlaskClient:
    return live_app.test_client()


@pytest.fixture
def worker(workers: Workers, live_app: Flask) -> CeleryWorker:
    """The live app's worker, running."""
    return workers.ensure_default()


@pytest.fixture
def smtp_servers() -> Iterator[Callable[[object], int]]:
    """Start extra SMTP servers with the given aiosmtpd handler; returns their port."""
    controllers: list[Controller] = []

    def start(handler: object) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()
