"""Starting and stopping the production stack on loopback, for the benchmark.

Every process the harness starts is a ``Service``: its own process group, its
output in a log file, and a ``stop`` that ends the whole group (SIGTERM, then
SIGKILL after a grace period). ``Stack`` registers each one in an ``ExitStack``
as it starts, so whatever happens next (a failed check, an exception, Ctrl-C),
everything started is stopped and the bench database dropped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class BenchError(RuntimeError):
    """The stack could not start, or a check failed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout: float, what: str,
               interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Service:
    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> Service:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"{self.name} exited; the end of {self.log_path}:\n"
                             + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


class Stack:
    """The bench's own database, Redis, SMTP sink, web, worker and beat processes."""

    def __init__(self, exit_stack: contextlib.ExitStack, log_dir: Path, database: str,
                 worker_concurrency: int, web_processes: int | None = None,
                 web_threads: int | None = None) -> None:
        self.exits = exit_stack
        self.log_dir = log_dir
        self.database = database
        self.worker_concurrency = worker_concurrency
        self.web_processes = web_processes
        self.web_threads = web_threads
        self.redis_port = free_port()
        self.smtp_port = free_port()
        self.web_port = free_port()
        self.ceiling_port = free_port()
        self.count_file = log_dir / "smtp-count"
        self.dsn = f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{database}"
        self.broker_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = self._environment()
        self.services: dict[str, Service] = {}

    def _environment(self) -> dict[str, str]:
        from config import SETTINGS
        from petitions.crypto import generate_intake_keys, generate_key

        # A developer's own settings (a DATABASE_URL in the shell, say) must not leak in.
        names = {setting.name for setting in SETTINGS}
        env = {k: v for k, v in os.environ.items() if k not in names}
        intake_public, intake_private = generate_intake_keys()
        env.update({
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PII_ENCRYPTION_KEYS": generate_key(),
            "PII_INDEX_KEY": generate_key(),
            # One environment for every process here; a deployment gives the private
            # key to the vault workers only.
            "INTAKE_PUBLIC_KEY": intake_public,
            "INTAKE_PRIVATE_KEY": intake_private,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.smtp_port),
            "DATABASE_URL": self.dsn,
            "CELERY_BROKER_URL": self.broker_url,
            "REDIS_URL": self.broker_url,
            "BASE_URL": "https://bench.invalid",
            "RATELIMIT_ENABLED": "false",
            "BOT_CHECKS_ENABLED": "false",
            "INSTANCE_PATH": str(self.log_dir / "instance"),
            "LOG_LEVEL": "WARNING",
            "FLASK_APP": "petitions",
            "BENCH_CEILING_DSN": self.dsn,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        })
        # gunicorn's production settings (config/gunicorn.py) unless the run asks otherwise.
        if self.web_processes:
            env["WEB_CONCURRENCY"] = str(self.web_processes)
        if self.web_threads:
            env["WEB_THREADS"] = str(self.web_threads)
        return env

    def web_settings(self) -> str:
        """What config/gunicorn.py makes of the environment, for the results table."""
        from config import setting, web_processes

        return (f"gunicorn -c config/gunicorn.py: {web_processes(self.env)} processes, "
                f"{setting('WEB_THREADS', self.env)} threads each (gthread)")

    # --- the pieces ------------------------------------------------------------------------

    def _service(self, name: str, args: list[str]) -> Service:
        service = Service(name, args, self.env, self.log_dir).start()
        self.services[name] = service
        self.exits.callback(service.stop)
        return service

    def create_database(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self.exits.callback(self.drop_database)
        subprocess.run([str(BIN / "flask"), "db", "upgrade"], env=self.env, cwd=ROOT,
                       check=True, capture_output=True)
        with psycopg.connect(self.dsn) as connection:
            connection.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY,"
                               " email text NOT NULL, created_at timestamptz DEFAULT now())")

    def drop_database(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def start_redis(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise BenchError("redis-server is not on PATH")
        self._service("redis", [executable, "--bind", "127.0.0.1", "--port",
                                str(self.redis_port), "--save", "", "--appendonly", "no",
                                "--dir", str(self.log_dir)])
        wait_until(lambda: port_open(self.redis_port), 20, "redis-server")

    def start_smtp_sink(self) -> None:
        self._service("smtp-sink", [sys.executable, "-m", "bench.smtp_sink",
                                    str(self.smtp_port), str(self.count_file)])
        wait_until(lambda: port_open(self.smtp_port), 20, "the SMTP sink")

    def emails_received(self) -> int:
        try:
            return int(self.count_file.read_text() or 0)
        except FileNotFoundError:
            return 0

    def _gunicorn(self, name: str, port: int, target: str) -> None:
        self._service(name, [str(BIN / "gunicorn"), "--config",
                             str(ROOT / "config" / "gunicorn.py"), "--bind",
                             f"127.0.0.1:{port}", target])
        service = self.services[name]

        def listening() -> bool:
            service.check_alive()
            return port_open(port)

        wait_until(listening, 60, f"{name} on port {port}")

    def start_web(self) -> None:
        self._gunicorn("web", self.web_port, "petitions:create_app()")

    def start_ceiling(self) -> None:
        self._gunicorn("ceiling", self.ceiling_port, "bench.ceiling_app:app")

    def start_beat(self) -> None:
        self._service("beat", [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel",
                               "WARNING", "--schedule", str(self.log_dir / "beat-schedule")])

    def start_worker(self, name: str = "worker", app: str = "workers",
                     queue: str | None = None) -> Service:
        args = [str(BIN / "celery"), "-A", app, "worker", "--loglevel", "WARNING",
                "--concurrency", str(self.worker_concurrency), "--without-mingle",
                "--without-gossip", "--hostname", f"{name}@bench"]
        if queue:
            args += ["--queues", queue]
        return self._service(name, args)

    def web_worker_pids(self) -> list[int]:
        master = self.services["web"].pid
        # gunicorn's master is the process we started; its workers are its children.
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker_url)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB, from /proc/<pid>/status (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0
