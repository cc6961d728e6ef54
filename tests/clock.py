"""A clock the test moves, standing in for the ``time`` module of the code under test."""

from __future__ import annotations

from types import ModuleType

import pytest


class FakeClock:
    """``monotonic()`` answers ``now``, which the test moves forward."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


def fake_clock(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> FakeClock:
    """Give ``modules`` (which use only ``time.monotonic``) one clock the test moves."""
    clock = FakeClock()
    for module in modules:
        monkeypatch.setattr(module, "time", clock)
    return clock
