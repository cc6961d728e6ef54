"""A tiny run of the benchmark harness (``make bench``), so that it does not rot.

``python -m bench.run --smoke`` starts the whole production stack on loopback
(its own database and redis-server, the SMTP sink, gunicorn for the app and for
the ceilings, beat, a worker), signs through the real form with wrk for a
second, drains the confirmation emails, checks what was stored and sent, writes
its results, and stops everything. The figures themselves are not asserted:
only that the harness measured, checked and cleaned up after itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from bench.run import Row, markdown
from tests.conftest import POSTGRES_ADMIN_URL, service_missing

ROOT = Path(__file__).resolve().parent.parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def harness_prerequisites() -> None:
    if shutil.which("wrk") is None:
        service_missing("wrk", "not on PATH (apt-get install -y wrk)")
    if shutil.which("redis-server") is None:
        service_missing("redis-server", "not on PATH")
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", str(exc).strip())


@pytest.mark.usefixtures("harness_prerequisites")
def test_smoke_run_measures_checks_and_stops_everything(tmp_path: Path) -> None:
    database = f"petitions_bench_smoke_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--results-dir", str(tmp_path),
         "--database", database],
        cwd=ROOT, env={**os.environ, "BENCH_PG_ADMIN_DSN": POSTGRES_ADMIN_URL},
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    [json_path] = tmp_path.glob("bench-*.json")
    result = json.loads(json_path.read_text())
    assert result["failures"] == []
    assert result["machine"]["cores"] == os.cpu_count()
    rows = {row["scenario"].split(" (")[0]: row for row in result["rows"]}
    signing = rows["(a) signing, POST form, unique emails"]
    assert signing["rate"] > 0
    assert signing["ceiling_rate"] > 0
    assert signing["ratio"] == pytest.approx(signing["rate"] / signing["ceiling_rate"])
    assert signing["verdict"] in ("MET", "MISSED")
    assert "ok: stored" in signing["checks"]
    [emails] = [row for row in result["rows"] if row["scenario"].startswith("(e)")]
    assert emails["rate"] > 0
    assert "emails received for" in emails["checks"]
    assert json_path.with_suffix(".md").read_text().startswith("# Benchmark")

    # Everything it started is stopped, and its database is gone.
    assert {"web", "ceiling", "worker", "beat", "redis", "smtp-sink"} <= result["processes"].keys()
    assert not [name for name, pid in result["processes"].items() if _alive(pid)]
    with psycopg.connect(POSTGRES_ADMIN_URL) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (database,)).fetchone() is None


def test_results_table_says_missed_with_the_ratio() -> None:
    row = Row("(a) signing", 40.0, "sign/s", "bare insert", 400.0, "≥ 50%", "MISSED", 120.0,
              "ok: stored 400 for 400 accepted")
    table = markdown({
        "date": "2026-11-26 22:00 UTC", "failures": [], "notes": ["a note"],
        "machine": {"cores": 2, "cpu": "test CPU", "memory_gb": 24.0, "python": "3.11"},
        "scale": {"duration": 10, "threads": 2}, "web": "gunicorn: 4 processes",
        "rows": [{**row.__dict__, "ratio": row.ratio}],
    })
    assert ("| (a) signing | 40.00 sign/s | bare insert 400/s | 10% | 120 | ≥ 50% | MISSED |"
            in table)
    assert "2 cores (test CPU), 24.0 GB" in table
    assert "the app and the ceilings alike): gunicorn: 4 processes." in table
    assert "Checks: all passed" in table
