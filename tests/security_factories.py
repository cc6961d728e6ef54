"""Switching on the defences the rest of the suite runs without: rate limits and bot checks."""

from __future__ import annotations

import pytest
from flask import Flask

from petitions.security import limiter_of


def limits_on(app: Flask, monkeypatch: pytest.MonkeyPatch, **limits: str) -> None:
    """Rate limits on, counters at zero, and ``limits`` (e.g. SIGN_RATE_LIMIT="2 per hour")."""
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    for name, value in limits.items():
        monkeypatch.setitem(app.config, name, value)
    limiter_of(app).reset()


def bot_checks_on(app: Flask, monkeypatch: pytest.MonkeyPatch, min_fill: float = 3.0) -> None:
    monkeypatch.setitem(app.config, "BOT_CHECKS_ENABLED", True)
    monkeypatch.setitem(app.config, "BOT_MIN_FILL_SECONDS", min_fill)
