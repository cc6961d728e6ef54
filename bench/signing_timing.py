"""How long signing takes for a new address and for one that has signed already.

A repeat signature does different work from a new one (no insert, no counter, often
no email), so its answer may come back sooner or later, and a stranger timing the
form could tell whether an address had signed. This measures that difference on the
production configuration, so that docs/security.md can state it. Since the sealed
intake (issue 14) the web tier seals every form the same way and looks nothing up, so
the groups take the same path; this shows it in time. It equalizes nothing.

``python -m bench.signing_timing`` starts its own PostgreSQL database, redis-server
(the broker) and gunicorn with the production settings on loopback (bench/stack.py;
bot checks and rate limits off), signs ``--known`` addresses in advance through the
services (pending ones; confirmed ones; confirmed ones whose owner was told today
already), then POSTs the real form one request at a time, the groups shuffled
together, and prints the median and p90 latency of each group. About a minute for
the default N. Everything it started is stopped and its database dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.stack import BenchError, Stack

SLUG = "timing"
GROUPS = {
    "new": "a new address",
    "pending": "signed, not confirmed (within the resend interval: no email)",
    "confirmed": "signed and confirmed (its owner is sent the notice)",
    "confirmed-told": "signed and confirmed, owner already told today (nothing sent)",
}


@dataclass(frozen=True)
class Summary:
    group: str
    count: int
    median_ms: float
    p90_ms: float
    mean_ms: float


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: no interpolation between measured values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(group: str, seconds: list[float]) -> Summary:
    ms = [s * 1000 for s in seconds]
    return Summary(group, len(ms), statistics.median(ms), percentile(ms, 0.9),
                   statistics.fmean(ms))


def address(group: str, number: int) -> str:
    return f"timing-{group}-{number}@example.org"


def seed(stack: Stack, known: int) -> None:
    """The action and the addresses that have signed it, through the services."""
    from sqlalchemy import select, update

    from bench import seed as bench_seed
    from petitions import create_app
    from petitions.extensions import db
    from petitions.models import Action, OutboundEmail, Signature
    from petitions.services import confirming
    from petitions.services.signing import SignatureInput, address_digest, sign

    os.environ.update(stack.env)
    app = create_app()
    with app.app_context():
        action_id = bench_seed.create_actions([SLUG]).action_ids[SLUG]
        action = db.session.get_one(Action, action_id)
        for group in ("pending", "confirmed", "confirmed-told"):
            for number in range(known):
                outcome = sign(action, SignatureInput("Known", "Signer", address(group, number),
                                                      "FR"))
                if group == "pending":
                    continue
                payload = db.session.scalar(
                    select(OutboundEmail.payload)
                    .where(OutboundEmail.signature_id == outcome.signature_id))
                confirming.confirm(json.loads(payload or "{}")["token"])
        told = [address("confirmed-told", n) for n in range(known)]
        db.session.execute(update(Signature)
                           .where(Signature.email_digest.in_([address_digest(a) for a in told]))
                           .values(signed_again_notice_at=datetime.now(UTC)))
        db.session.commit()
        db.session.remove()


class Signer:
    """One keep-alive connection posting the real form with one session's CSRF token."""

    def __init__(self, port: int) -> None:
        self.port = port
        # Generous: gunicorn listens before its workers have imported the app, and on a
        # busy machine the first answer can take a while.
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
        self.connection.request("GET", f"/actions/{SLUG}")
        response = self.connection.getresponse()
        body = response.read()
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
        cookies = [v.split(";", 1)[0] for v in response.headers.get_all("Set-Cookie") or []]
        if response.status != 200 or token is None or not cookies:
            raise BenchError("no CSRF token or session cookie on the action page")
        self.csrf = token.group(1).decode()
        self.cookie = "; ".join(cookies)

    def sign(self, email: str) -> float:
        body = urllib.parse.urlencode({
            "csrf_token": self.csrf, "first_name": "Probe", "last_name": "Probe",
            "email": email, "country": "FR", "postcode": "", "comment": ""})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie}
        started = time.perf_counter()
        self.connection.request("POST", f"/actions/{SLUG}", body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 303:
            raise BenchError(f"signing answered {response.status}, not 303")
        return elapsed


def measure(port: int, known: int, warmup: int, rng: random.Random) -> dict[str, list[float]]:
    signer = Signer(port)
    for number in range(warmup):
        signer.sign(f"timing-warmup-{number}@example.org")
    plan = [(group, number) for group in GROUPS for number in range(known)]
    rng.shuffle(plan)
    timings: dict[str, list[float]] = {group: [] for group in GROUPS}
    for group, number in plan:
        timings[group].append(signer.sign(address(group, number)))
    return timings


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def table(summaries: list[Summary]) -> str:
    new = summaries[0]
    lines = ["| Address | N | median ms | p90 ms | mean ms | median vs new |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in summaries:
        lines.append(f"| {s.group}: {GROUPS[s.group]} | {s.count} | {s.median_ms:.1f} | "
                     f"{s.p90_ms:.1f} | {s.mean_ms:.1f} | {s.median_ms - new.median_ms:+.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--known", type=int, default=300,
                        help="POSTs per group (and addresses signed in advance per group)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured POSTs first")
    parser.add_argument("--seed", type=int, default=13, help="the shuffle's seed")
    parser.add_argument("--database", default=f"petitions_timing_{uuid.uuid4().hex[:8]}")
    parser.add_argument("--web-processes", type=int, default=None)
    parser.add_argument("--web-threads", type=int, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="signing-timing-") as tmp, \
            contextlib.ExitStack() as exits:
        stack = Stack(exits, Path(tmp), args.database, worker_concurrency=1,
                      web_processes=args.web_processes, web_threads=args.web_threads)
        stack.create_database()
        stack.start_redis()
        seed(stack, args.known)
        stack.start_web()
        timings = measure(stack.web_port, args.known, args.warmup, random.Random(args.seed))
        summaries = [summarize(group, timings[group]) for group in GROUPS]
        print(f"Signing latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
        print(f"{stack.web_settings()}; PostgreSQL, Redis broker, no mail worker; "
              "one request at a time, groups shuffled together.")
        print()
        print(table(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
