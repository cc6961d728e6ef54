"""A tiny run of ``python -m bench.signing_timing``, so that the measurement behind
docs/security.md does not rot. The figures are not asserted: only that it signed every
group through the real stack, printed its table and dropped its database."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from bench.signing_timing import GROUPS, percentile
from tests.conftest import POSTGRES_ADMIN_URL, service_missing

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_nearest_rank_percentile_picks_a_measured_value() -> None:
    values = [float(n) for n in range(1, 11)]
    assert (percentile(values, 0.5), percentile(values, 0.9), percentile(values, 1.0)) == (
        5.0, 9.0, 10.0)
    assert percentile([3.0], 0.9) == 3.0


def test_a_tiny_run_measures_every_group_and_drops_its_database() -> None:
    if shutil.which("redis-server") is None:
        service_missing("redis-server", "not on PATH")
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", str(exc).strip())
    database = f"petitions_timing_smoke_{uuid.uuid4().hex[:8]}"

    done = subprocess.run(
        [sys.executable, "-m", "bench.signing_timing", "-n", "3", "--warmup", "1",
         "--database", database, "--web-processes", "1", "--web-threads", "1"],
        cwd=ROOT, env={**os.environ, "BENCH_PG_ADMIN_DSN": POSTGRES_ADMIN_URL},
        capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for group in GROUPS:
        assert re.search(rf"^\| {re.escape(group)}: .* \| 3 \| [\d.]+ \| [\d.]+ \|",
                         done.stdout, re.MULTILINE), done.stdout
    with psycopg.connect(POSTGRES_ADMIN_URL) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (database,)).fetchone() is None
