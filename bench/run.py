"""``make bench``: load tests of the production configuration on this machine.

Starts PostgreSQL's bench database, Redis, an SMTP sink, gunicorn (the app and
the bare ceiling app), a Celery worker and beat, all on 127.0.0.1; seeds data;
drives each scenario with wrk for a fixed duration and connection count; checks
what was stored and sent after each run; writes bench/results/<stamp>.md and
.json; and stops everything it started, whatever happens. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import seed
from bench.stack import ROOT, BenchError, Stack, rss_kib, wait_until

LUA = ROOT / "bench" / "lua"
RESULTS = ROOT / "bench" / "results"
ACTIONS = ("bench-empty", "bench-sign", "bench-confirm", "bench-million", "bench-backlog")


@dataclass(frozen=True)
class Scale:
    """How big the run is. ``full`` is ``make bench``; ``smoke`` is the test suite's."""
    duration: int = 10            # seconds per wrk run
    warmup: int = 2               # seconds of unmeasured load on each endpoint first
    threads: int = 2              # wrk threads (the machine's cores)
    page_connections: int = 64
    sign_connections: tuple[int, ...] = (16, 64)
    confirm_connections: int = 64
    confirm_tokens: int = 60_000
    million: int = 1_000_000      # confirmed signatures behind the page, export and tally
    backlog: int = 2_000          # extra confirmation emails queued for the drain
    noop_tasks: int = 20_000
    drain_timeout: int = 600
    scenarios: tuple[str, ...] = ("pages", "count", "signing", "confirm", "drain", "export",
                                  "tally")


SMOKE = Scale(duration=1, warmup=1, threads=1, page_connections=2, sign_connections=(2,),
              confirm_connections=2, confirm_tokens=2_000, million=200, backlog=20,
              noop_tasks=20, drain_timeout=60, scenarios=("signing", "drain"))


@dataclass
class Row:
    """One line of the results table."""
    scenario: str
    rate: float                   # per second
    unit: str
    ceiling: str = ""
    ceiling_rate: float | None = None
    target: str = ""
    verdict: str = ""             # MET / MISSED / "" (no target)
    p99_ms: float | None = None
    checks: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.rate / self.ceiling_rate if self.ceiling_rate else None


@dataclass
class Wrk:
    requests: int
    seconds: float
    statuses: dict[str, int]
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p99_ms(self) -> float:
        return self.latency_us["p99"] / 1000

    def count(self, *codes: int) -> int:
        return sum(self.statuses.get(str(code), 0) for code in codes)


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


class Bench:
    def __init__(self, stack: Stack, scale: Scale) -> None:
        self.stack = stack
        self.scale = scale
        self.rows: list[Row] = []
        self.ceilings: dict[str, Wrk] = {}
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.ids: dict[str, int] = {}
        self.token = ""
        self.session: tuple[str, str] = ("", "")
        self.profile: set[str] = set()
        self.profiles = 0
        self.current = ""
        self.load: dict[str, tuple[float, float]] = {}

    # --- helpers ---------------------------------------------------------------------------

    def check(self, ok: bool, message: str) -> str:
        if not ok:
            self.failures.append(message)
        return ("ok: " if ok else "FAILED: ") + message

    def wrk(self, port: int, path: str, script: str, connections: int,
            duration: int | None = None, **env: str) -> Wrk:
        """One bounded wrk run against 127.0.0.1 (fixed duration, connections, threads)."""
        duration = duration or self.scale.duration
        threads = min(self.scale.threads, connections)
        args = ["wrk", "--threads", str(threads), "--connections", str(connections),
                "--duration", f"{duration}s", "--timeout", "10s",
                "--script", str(LUA / script), f"http://127.0.0.1:{port}{path}"]
        run_env = {**os.environ, "BENCH_LUA_DIR": str(LUA), "BENCH_THREADS": str(threads),
                   **env}
        profiler = self._profiler(port, duration)
        done = subprocess.run(args, env=run_env, capture_output=True, text=True, check=False,
                              timeout=duration + 60)
        if profiler is not None:
            profiler.wait(60)
        match = re.search(r"^BENCH_RESULT (.*)$", done.stdout, re.MULTILINE)
        if done.returncode != 0 or match is None:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        data = json.loads(match.group(1))
        return Wrk(data["requests"], data["duration_us"] / 1e6, data["statuses"],
                   data["errors"], data["latency_us"])

    def _profiler(self, port: int, duration: int,
                  service: str = "web") -> subprocess.Popen[bytes] | None:
        """py-spy on a service's processes (the web workers while a profiled scenario's
        wrk runs, the mail worker while it drains) when --profile names the scenario."""
        if self.current not in self.profile or port != self.stack.web_port:
            return None
        self.profiles += 1
        output = self.stack.log_dir / f"profile-{self.current}-{self.profiles}.txt"
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
             str(self.stack.services[service].pid), "--subprocesses", "--nonblocking",
             "--rate", "200", "--duration", str(duration), "--format", "raw",
             "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def all_answered(self, result: Wrk, expected: int) -> str:
        """Every answer had the expected status (no 5xx, no 4xx, no socket error)."""
        others = {status: n for status, n in result.statuses.items() if status != str(expected)}
        errors = {kind: n for kind, n in result.errors.items() if n}
        return self.check(not others and not errors,
                          f"{result.count(expected)}/{result.requests} answered {expected}"
                          + (f", others {others}" if others else "")
                          + (f", socket errors {errors}" if errors else ""))

    def settled_count(self, query: str, *params: object) -> int:
        """``query``'s count once it stops moving: after wrk's deadline, the requests
        still queued in gunicorn's listen backlog are served and committed for a while."""
        last = self.sql(query, *params)
        while True:
            time.sleep(1)
            now = self.sql(query, *params)
            if now == last:
                return int(now)
            last = now

    def sql(self, query: str, *params: object) -> Any:
        with psycopg.connect(self.stack.dsn) as connection:
            row = connection.execute(query, params).fetchone()
        return row[0] if row else None

    def fetch(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.web_port, timeout=30)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def csrf_session(self, slug: str) -> tuple[str, str]:
        """A session cookie and its CSRF token, fetched once from the action page."""
        status, headers, body = self.fetch(f"/actions/{slug}")
        if status != 200:
            raise BenchError(f"GET /actions/{slug} answered {status}")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
        cookies = [value.split(";", 1)[0] for value in headers.get_all("Set-Cookie") or []]
        if token is None or not cookies:
            raise BenchError("no CSRF token or session cookie on the action page")
        return urllib.parse.quote(token.group(1).decode(), safe=""), "; ".join(cookies)

    # --- setup -----------------------------------------------------------------------------

    def prepare(self) -> None:
        stack = self.stack
        stack.create_database()
        stack.start_redis()
        stack.start_smtp_sink()
        from petitions import create_app
        from petitions.extensions import db

        os.environ.update(stack.env)
        app = create_app()
        self.app = app
        with app.app_context():
            seeded = seed.create_actions(ACTIONS)
            self.ids = seeded.action_ids
            started = time.monotonic()
            seed.insert_signatures(stack.dsn, self.ids["bench-million"], self.scale.million,
                                   status="confirmed")
            self.notes.append(f"Seeded {self.scale.million:,} confirmed signatures in "
                              f"{time.monotonic() - started:.0f} s (INSERT … SELECT over "
                              "generate_series, a pool of 4 ciphertexts per column).")
            seed.insert_signatures(stack.dsn, self.ids["bench-confirm"],
                                   self.scale.confirm_tokens, status="pending",
                                   token_prefix="bench-confirm-token-")
            seed.write_tokens(stack.log_dir / "tokens.txt", "bench-confirm-token-",
                              self.scale.confirm_tokens)
            db.session.remove()
        done = subprocess.run([str(Path(sys.executable).parent / "flask"), "users", "token",
                               seeded.admin_email], env=stack.env, cwd=ROOT, check=True,
                              capture_output=True, text=True)
        self.token = done.stdout.strip().splitlines()[-1]
        stack.start_ceiling()
        stack.start_web()
        stack.start_beat()
        self.session = self.csrf_session("bench-sign")
        self.warm_up()

    def warm_up(self) -> None:
        """A short unmeasured run on every endpoint: workers open their connections,
        fill their caches and import lazily loaded modules before anything is timed."""
        csrf, cookie = self.session
        conns = self.scale.page_connections
        self.wrk(self.stack.ceiling_port, "/page", "get.lua", conns, duration=self.scale.warmup)
        self.wrk(self.stack.ceiling_port, "/insert", "sign.lua", conns, duration=self.scale.warmup,
                 BENCH_PREFIX="warm", BENCH_PATH="/insert", BENCH_CSRF="x", BENCH_COOKIE="x=y")
        for path in ("/actions/bench-empty", "/api/v1/actions/bench-empty/count"):
            self.wrk(self.stack.web_port, path, "get.lua", conns, duration=self.scale.warmup)
        self.wrk(self.stack.web_port, "/actions/bench-sign", "sign.lua", conns,
                 duration=self.scale.warmup,
                 BENCH_PREFIX="warm", BENCH_PATH="/actions/bench-sign", BENCH_CSRF=csrf,
                 BENCH_COOKIE=cookie)
        self.settled_count("SELECT count(*) FROM signatures WHERE action_id = %s",
                           self.ids["bench-sign"])

    # --- scenarios -------------------------------------------------------------------------

    def ceiling(self, name: str, connections: int) -> Wrk:
        key = f"{name}@{connections}"
        if key not in self.ceilings:
            if name == "page":
                result = self.wrk(self.stack.ceiling_port, "/page", "get.lua", connections)
            else:
                result = self.wrk(self.stack.ceiling_port, "/insert", "sign.lua", connections,
                                  BENCH_PREFIX=f"ceiling{connections}", BENCH_PATH="/insert",
                                  BENCH_CSRF="x", BENCH_COOKIE="x=y")
            self.ceilings[key] = result
            what = "10 KB template" if name == "page" else "insert + Redis push"
            self.rows.append(Row(f"ceiling: bare {what} ({connections} conn.)",
                                 result.rate, "req/s", p99_ms=result.p99_ms,
                                 checks=self.all_answered(result, 200 if name == "page" else 303)))
        return self.ceilings[key]

    def pages(self) -> None:
        conns = self.scale.page_connections
        ceiling = self.ceiling("page", conns)
        rates = {}
        for slug, label in (("bench-empty", "0"), ("bench-million", f"{self.scale.million:,}")):
            result = self.wrk(self.stack.web_port, f"/actions/{slug}", "get.lua", conns)
            rates[slug] = result.rate
            self.rows.append(Row(
                f"(b) action page, {label} confirmed ({conns} conn.)", result.rate, "req/s",
                "bare template", ceiling.rate, "≥ 60%",
                verdict(result.rate >= 0.6 * ceiling.rate), result.p99_ms,
                self.all_answered(result, 200)))
        similar = rates["bench-million"] >= 0.9 * rates["bench-empty"]
        self.rows.append(Row("(b) page with 1M vs with 0", rates["bench-million"], "req/s",
                             "page with 0", rates["bench-empty"], "same (≥ 90%)",
                             verdict(similar)))

    def count(self) -> None:
        conns = self.scale.page_connections
        ceiling = self.ceiling("page", conns)
        result = self.wrk(self.stack.web_port, "/api/v1/actions/bench-million/count",
                          "get.lua", conns)
        self.rows.append(Row(f"(c) public count, GET /api/v1/actions/<slug>/count "
                             f"({conns} conn.)",
                             result.rate, "req/s", "bare template", ceiling.rate, "≥ 90%",
                             verdict(result.rate >= 0.9 * ceiling.rate), result.p99_ms,
                             self.all_answered(result, 200)))

    def signing(self) -> None:
        csrf, cookie = self.session
        for conns in self.scale.sign_connections:
            ceiling = self.ceiling("insert", conns)
            # The web tier stores each form sealed (one INSERT); the vault worker, started
            # for the drain, opens them into signatures.
            before = self.sql("SELECT count(*) FROM sealed_submissions")
            result = self.wrk(self.stack.web_port, "/actions/bench-sign", "sign.lua", conns,
                              BENCH_PREFIX=f"signer{conns}", BENCH_PATH="/actions/bench-sign",
                              BENCH_CSRF=csrf, BENCH_COOKIE=cookie)
            stored = self.settled_count("SELECT count(*) FROM sealed_submissions") - before
            accepted = result.count(303)
            # wrk stops at its deadline with up to `conns` requests in flight: the server
            # completes and stores them, but wrk never counts their answers.
            checks = [
                self.check(accepted <= stored <= accepted + conns,
                           f"stored {stored} for {accepted} accepted (+ ≤ {conns} in flight)"),
                self.all_answered(result, 303),
            ]
            target_met = result.rate >= 0.5 * ceiling.rate and result.p99_ms < 150
            self.rows.append(Row(f"(a) signing, POST form, unique emails ({conns} conn.)",
                                 accepted / result.seconds, "sign/s", "bare insert",
                                 ceiling.rate, "≥ 50%, p99 < 150 ms" if conns >= 64 else
                                 "≥ 50%", verdict(target_met if conns >= 64 else
                                                  result.rate >= 0.5 * ceiling.rate),
                                 result.p99_ms, "; ".join(checks)))

    def check_signing_counters(self) -> None:
        """Once the vault worker has opened the sealed forms (in the drain)."""
        action_id = self.ids["bench-sign"]
        with psycopg.connect(self.stack.dsn) as connection:
            counted, stored_all = connection.execute(
                "SELECT (SELECT sum(pending) FROM action_counters WHERE action_id = %s),"
                " (SELECT count(*) FROM signatures WHERE action_id = %s)",
                (action_id, action_id)).fetchone() or (None, None)
        self.notes.append(self.check(counted == stored_all,
                                     f"signing counters: {counted} pending counted, "
                                     f"{stored_all} stored"))

    def confirm(self) -> None:
        conns = self.scale.confirm_connections
        ceiling = self.ceiling("insert", conns)
        action_id = self.ids["bench-confirm"]
        csrf, cookie = self.session
        result = self.wrk(self.stack.web_port, "/", "confirm.lua", conns,
                          BENCH_TOKENS_FILE=str(self.stack.log_dir / "tokens.txt"),
                          BENCH_CSRF=csrf, BENCH_COOKIE=cookie)
        finished = time.monotonic()
        accepted = result.count(303)

        def exact() -> bool:
            stored = self.sql("SELECT count(*) FROM signatures WHERE action_id = %s AND "
                              "status = 'confirmed'", action_id)
            status, _, body = self.fetch("/api/v1/actions/bench-confirm/count")
            # The public count is confirmed + paper; the bench action has no paper ones.
            return status == 200 and json.loads(body)["signature_count"] == stored

        wait_until(exact, 30, "the public count to match the database", interval=0.2)
        lag = time.monotonic() - finished
        stored = self.sql("SELECT count(*) FROM signatures WHERE action_id = %s AND "
                          "status = 'confirmed'", action_id)
        checks = [
            self.check(accepted <= stored <= accepted + conns,
                       f"confirmed {stored} for {accepted} accepted (+ ≤ {conns} in flight)"),
            self.all_answered(result, 303),
            self.check(stored < self.scale.confirm_tokens, "token pool not exhausted"),
        ]
        self.rows.append(Row(f"(d) confirmations, POST confirm ({conns} conn.)",
                             accepted / result.seconds, "conf/s", "bare insert", ceiling.rate,
                             "≥ 50%", verdict(result.rate >= 0.5 * ceiling.rate),
                             result.p99_ms, "; ".join(checks)))
        self.rows.append(Row("public count exact after the last confirmation", lag, "s (lag)",
                             target="< 10 s", verdict=verdict(lag < 10),
                             checks="count endpoint == COUNT(*) of confirmed rows"))

    def drain(self) -> None:
        """Confirmation emails queued while the worker was stopped, drained by one worker."""
        stack = self.stack
        with self.app.app_context():
            seed.insert_signatures(stack.dsn, self.ids["bench-backlog"], self.scale.backlog,
                                   status="pending")
            ids = seed.queue_backlog(stack.dsn, self.ids["bench-backlog"])
            celery = self.app.extensions["celery"]
            with celery.producer_or_acquire() as producer:
                for outbox_id in ids:
                    celery.send_task("petitions.send_email", args=[outbox_id], producer=producer)
        # Every signature stored so far (the signing runs, still sealed, and the backlog)
        # gets one email: the worker opens the sealed ones first (queue "vault").
        expected = self.settled_count(
            "SELECT (SELECT count(*) FROM signatures WHERE action_id IN (%s, %s))"
            " + (SELECT count(*) FROM sealed_submissions)",
            self.ids["bench-sign"], self.ids["bench-backlog"])
        client = stack.redis()
        start_memory = int(client.info("memory")["used_memory"])
        queued = int(client.llen("celery")) + int(client.llen("vault"))
        peak = start_memory
        received_before = stack.emails_received()
        stack.start_worker()
        profiler = self._profiler(stack.web_port, 20, service="worker")
        first = last = None
        deadline = time.monotonic() + self.scale.drain_timeout
        while time.monotonic() < deadline:
            received = stack.emails_received() - received_before
            now = time.monotonic()
            if received and first is None:
                first = (now, received)
            peak = max(peak, int(client.info("memory")["used_memory"]))
            if received >= expected:
                last = (now, received)
                break
            stack.services["worker"].check_alive()
            time.sleep(0.05)
        if profiler is not None:
            profiler.wait(60)
        received = stack.emails_received() - received_before
        end_memory = int(client.info("memory")["used_memory"])
        if first is None or last is None:
            self.failures.append(f"drain: {received} of {expected} emails within "
                                 f"{self.scale.drain_timeout} s")
            rate = received / self.scale.drain_timeout
        else:
            rate = (last[1] - first[1]) / max(last[0] - first[0], 1e-3)
        self.check_signing_counters()
        noop = self.noop_rate()
        sent = self.sql("SELECT count(*) FROM outbound_emails WHERE status = 'sent'")
        checks = [
            self.check(received == expected, f"{received} emails received for {expected} "
                                              "signatures"),
            self.check(sent == expected, f"{sent} outbox rows sent"),
            self.check(peak <= start_memory + 8 * 2**20,
                       f"broker memory {start_memory / 2**20:.1f} MB at start ({queued} queued),"
                       f" peak {peak / 2**20:.1f} MB, end {end_memory / 2**20:.1f} MB"),
        ]
        self.rows.append(Row(f"(e) confirmation emails, backlog of {expected:,}, 1 worker, "
                             f"{stack.worker_concurrency} processes", rate, "emails/s",
                             "bare Celery no-op", noop, "≥ 200/s", verdict(rate >= 200),
                             checks="; ".join(checks)))
        self.rows.append(Row(f"ceiling: bare Celery no-op task, {self.scale.noop_tasks:,} "
                             "queued", noop, "tasks/s"))

    def noop_rate(self) -> float:
        from bench import noop_tasks

        client = self.stack.redis()
        client.delete(noop_tasks.COUNTER_KEY)
        with noop_tasks.app.producer_or_acquire() as producer:
            for _ in range(self.scale.noop_tasks):
                noop_tasks.noop.apply_async(producer=producer)
        self.stack.start_worker("noop-worker", "bench.noop_tasks", noop_tasks.QUEUE)
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + self.scale.drain_timeout
        while time.monotonic() < deadline:
            done = int(client.get(noop_tasks.COUNTER_KEY) or 0)
            now = time.monotonic()
            if done and first is None:
                first = (now, done)
            if done >= self.scale.noop_tasks and first is not None:
                self.stack.services["noop-worker"].stop()
                return (done - first[1]) / max(now - first[0], 1e-3)
            time.sleep(0.02)
        self.stack.services["noop-worker"].stop()
        raise BenchError("the no-op tasks did not drain in time")

    def export(self) -> None:
        rows = self.scale.million
        pids = self.stack.web_worker_pids()
        baseline = {pid: rss_kib(pid) for pid in pids}
        peak = dict(baseline)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for pid in pids:
                    peak[pid] = max(peak[pid], rss_kib(pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.web_port, timeout=120)
        try:
            connection.request("GET", "/api/v1/actions/bench-million/signatures.csv",
                               headers={"Authorization": f"Bearer {self.token}"})
            response = connection.getresponse()
            status = response.status
            lines = 0
            size = 0
            truncated = ""
            try:
                while chunk := response.read(1 << 16):
                    lines += chunk.count(b"\n")
                    size += len(chunk)
            except http.client.IncompleteRead as exc:
                lines += exc.partial.count(b"\n")
                size += len(exc.partial)
                timeouts = self.stack.services["web"].log_tail(400).count("WORKER TIMEOUT")
                truncated = (f"cut off after {time.monotonic() - started:.0f} s"
                             + (" (gunicorn WORKER TIMEOUT: the sync worker's --timeout, "
                                "30 s by default, covers the whole streamed response)"
                                if timeouts else ""))
        finally:
            connection.close()
            stop.set()
            sampler.join()
        seconds = time.monotonic() - started
        growth_mb = max(peak[pid] - baseline[pid] for pid in pids) / 1024
        app_rate = max(lines - 1, 0) / seconds
        loop_rate = rows / self._cursor_loop()
        copy_rate = rows / self._copy_out()
        checks = [self.check(status == 200, f"HTTP {status}"),
                  self.check(lines == rows + 1 and not truncated,
                             f"{lines - 1:,} of {rows:,} rows in {size / 2**20:.0f} MB"
                             + (f", {truncated}" if truncated else ""))]
        self.rows.append(Row(f"(f) CSV export via API, {rows:,} rows, decrypting", app_rate,
                             "rows/s", "bare cursor loop", loop_rate, "≥ 50%, memory < 50 MB",
                             verdict(app_rate >= 0.5 * loop_rate and growth_mb < 50
                                     and lines == rows + 1 and not truncated),
                             checks="; ".join(checks),
                             extra={"seconds": round(seconds, 1),
                                    "worker_rss_growth_mb": round(growth_mb, 1)}))
        self.rows.append(Row(f"(f) export: web worker peak memory growth {growth_mb:.1f} MB, "
                             f"{seconds:.1f} s", growth_mb, "MB", target="< 50 MB",
                             verdict=verdict(growth_mb < 50)))
        self.rows.append(Row("ceiling: psycopg server-side cursor + csv.writer (no decryption)",
                             loop_rate, "rows/s"))
        self.rows.append(Row("reference: COPY (SELECT …) TO STDOUT", copy_rate, "rows/s",
                             "bare cursor loop", loop_rate))

    _EXPORT_SQL = ("SELECT first_name, last_name, email, country, postcode, comment,"
                   " updates_opt_in, confirmed_at FROM signatures WHERE action_id = {id}"
                   " AND status = 'confirmed' ORDER BY confirmed_at, id")

    def _cursor_loop(self) -> float:
        query = self._EXPORT_SQL.format(id=int(self.ids["bench-million"]))
        started = time.monotonic()
        with psycopg.connect(self.stack.dsn) as connection, \
                connection.cursor(name="bench_export") as cursor, \
                open(os.devnull, "w", newline="") as sink:
            cursor.itersize = 1000
            cursor.execute(query)
            writer = csv.writer(sink)
            for row in cursor:
                writer.writerow(row)
        return time.monotonic() - started

    def _copy_out(self) -> float:
        query = self._EXPORT_SQL.format(id=int(self.ids["bench-million"]))
        started = time.monotonic()
        with psycopg.connect(self.stack.dsn) as connection, \
                connection.cursor() as cursor, \
                cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for _ in copy:
                pass
        return time.monotonic() - started

    def tally(self) -> None:
        from petitions.extensions import db
        from petitions.services.tallies import compile_tally

        with self.app.app_context():
            timings = []
            for _ in range(2):
                started = time.monotonic()
                tally = compile_tally(self.ids["bench-million"])
                timings.append(time.monotonic() - started)
            confirmed = tally.confirmed
            db.session.remove()
        best = min(timings)
        self.rows.append(Row(f"(g) compile_tally, {self.scale.million:,} confirmed", best,
                             "s", target="< 5 s", verdict=verdict(best < 5),
                             checks=self.check(confirmed == self.scale.million,
                                               f"tally {confirmed:,}"),
                             extra={"runs_s": [round(t, 2) for t in timings]}))

    def run(self) -> None:
        self.prepare()
        for name in self.scale.scenarios:
            self.current = name
            started = time.monotonic()
            load_before = os.getloadavg()[0]
            getattr(self, name)()
            # Other work on the machine takes cores from the bench: the load average
            # (1 min) before and after each scenario shows whether it was alone.
            self.load[name] = (round(load_before, 1), round(os.getloadavg()[0], 1))
            print(f"[bench] {name}: {time.monotonic() - started:.0f} s, load average "
                  f"{self.load[name]}", flush=True)
        for service in self.stack.services.values():
            if service.name != "noop-worker":
                service.check_alive()
        web_log = self.stack.services["web"].log_tail(200)
        self.check("Traceback" not in web_log, "no traceback in the web log")


# --- results ---------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return {"cores": os.cpu_count(), "memory_gb": round(total_kib / 2**20, 1),
            "cpu": cpu.group(1) if cpu else platform.processor(),
            "python": platform.python_version(), "kernel": platform.release()}


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"# Benchmark {result['date']}", "",
             f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB; Python "
             f"{m['python']}. Load generator on the same cores. Scale: "
             f"{result['scale']['duration']} s per wrk run, {result['scale']['threads']} wrk "
             f"threads. Web (the app and the ceilings alike): {result['web']}.", "",
             "| Scenario | Rate | Ceiling | Ratio | p99 ms | Target | Verdict | Checks |",
             "|---|---:|---|---:|---:|---|---|---|"]
    for row in result["rows"]:
        ceiling = (f"{row['ceiling']} {row['ceiling_rate']:,.0f}/s"
                   if row["ceiling_rate"] else "")
        ratio = f"{row['ratio']:.0%}" if row["ratio"] is not None else ""
        p99 = f"{row['p99_ms']:.0f}" if row["p99_ms"] is not None else ""
        rate = f"{row['rate']:,.2f}" if row["rate"] < 100 else f"{row['rate']:,.0f}"
        lines.append(f"| {row['scenario']} | {rate} {row['unit']} | {ceiling} | {ratio} | "
                     f"{p99} | {row['target']} | {row['verdict']} | {row['checks']} |")
    lines += ["", "Checks: " + ("all passed" if not result["failures"] else
                                "FAILED: " + "; ".join(result["failures"]))]
    lines += [f"- {note}" for note in result["notes"]]
    if result.get("load_average"):
        lines.append("- Load average (1 min) before → after each scenario, "
                     f"{m['cores']} cores: " + ", ".join(
                         f"{name} {before} → {after}"
                         for name, (before, after) in result["load_average"].items()))
    return "\n".join(lines) + "\n"


def write_results(bench: Bench, scale: Scale, results_dir: Path, elapsed: float) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    result = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        "scale": asdict(scale), "elapsed_s": round(elapsed),
        "rows": [{**asdict(row), "ratio": row.ratio} for row in bench.rows],
        "failures": bench.failures, "notes": bench.notes, "load_average": bench.load,
        # What was started, so that a caller can see that none of it is still running.
        "processes": {name: service.process.pid
                      for name, service in bench.stack.services.items() if service.process},
        "database": bench.stack.database,
        "web": bench.stack.web_settings(),
    }
    stamp = now.strftime("%Y%m%d-%H%M%S")
    (results_dir / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    path = results_dir / f"bench-{stamp}.md"
    path.write_text(markdown(result))
    shutil.copyfile(path, results_dir / "latest.md")
    return path


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the cleanup runs."""
    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny numbers: proves the harness works (the test suite's run)")
    parser.add_argument("--million", type=int, help="rows behind the page/export/tally")
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    parser.add_argument("--backlog", type=int, help="extra confirmation emails to drain")
    parser.add_argument("--scenario", action="append", default=[], dest="scenarios",
                        choices=Scale.scenarios, help="run only these scenarios")
    parser.add_argument("--profile", action="append", default=[], metavar="SCENARIO",
                        help="record the web workers with py-spy during SCENARIO's wrk runs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--database", default="petitions_bench")
    parser.add_argument("--web-processes", type=int,
                        help="gunicorn processes (default: config/gunicorn.py's)")
    parser.add_argument("--web-threads", type=int,
                        help="threads per gunicorn process (default: config/gunicorn.py's)")
    args = parser.parse_args(argv)
    scale = SMOKE if args.smoke else Scale()
    overrides = {k: v for k, v in (("million", args.million), ("duration", args.duration),
                                         ("backlog", args.backlog),
                                         ("scenarios", tuple(args.scenarios) or None))
                 if v is not None}
    if args.backlog:
        # Time enough for a big backlog at a few tens of emails a second.
        overrides["drain_timeout"] = max(scale.drain_timeout, args.backlog // 20)
    scale = Scale(**{**asdict(scale), **overrides})
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = args.results_dir / f"logs-{stamp}"
    log_dir.mkdir(parents=True)
    started = time.monotonic()
    with interrupts_as_exceptions(), contextlib.ExitStack() as exits:
        # The smoke run of the test suite needs one web process, not a production's worth.
        stack = Stack(exits, log_dir.resolve(), args.database, worker_concurrency=2,
                      web_processes=args.web_processes or (1 if args.smoke else None),
                      web_threads=args.web_threads)
        bench = Bench(stack, scale)
        bench.profile = set(args.profile)
        try:
            bench.run()
        except (Exception, KeyboardInterrupt) as exc:
            # The figures measured so far are still written, with the reason it stopped.
            bench.failures.append(f"aborted: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        path = write_results(bench, scale, args.results_dir, time.monotonic() - started)
    print(path.read_text())
    print(f"[bench] results in {path} and {path.with_suffix('.json')}; logs in {log_dir}")
    return 1 if bench.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
