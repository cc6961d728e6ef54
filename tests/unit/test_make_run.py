"""``make run`` on another port: ``PORT=8000 make run`` serves there, and the links in
emails (``BASE_URL``) follow the port unless BASE_URL is set too. Checked on what make
would run (``make -n``), without starting anything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_command(**env: str) -> str:
    """The command ``make run`` would start (its set-up steps left out)."""
    if shutil.which("make") is None:
        pytest.fail("make is missing")
    environment = {k: v for k, v in os.environ.items() if k not in ("PORT", "BASE_URL")}
    done = subprocess.run(["make", "--no-print-directory", "-n", "-o", "seed", "run"],
                          cwd=ROOT, env={**environment, **env}, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout


def test_base_url_follows_the_port() -> None:
    assert 'PORT=8123 BASE_URL="http://127.0.0.1:8123"' in run_command(PORT="8123")


def test_the_default_port_and_a_base_url_of_ones_own() -> None:
    assert 'PORT=5000 BASE_URL="http://127.0.0.1:5000"' in run_command()
    command = run_command(PORT="8123", BASE_URL="http://192.168.1.20:8123")
    assert 'PORT=8123 BASE_URL="http://192.168.1.20:8123"' in command


def test_the_web_process_listens_on_the_port() -> None:
    web = next(line for line in (ROOT / "Procfile.dev").read_text().splitlines()
               if line.startswith("web:"))
    assert "--port ${PORT" in web
