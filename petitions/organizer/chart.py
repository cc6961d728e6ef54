"""A bar chart of signatures per day, laid out here and drawn as inline SVG by the template.

No chart library and no script: the page works without JavaScript, and the same
numbers are given as a table for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from petitions.services.stats import DayCount

WIDTH = 640
HEIGHT = 240
LEFT = 56      # room for the value labels
RIGHT = 8
TOP = 16
BOTTOM = 32    # room for the date labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: DayCount


@dataclass(frozen=True)
class Gridline:
    y: float
    value: int


@dataclass(frozen=True)
class BarChart:
    days: list[DayCount]
    bars: list[Bar]
    gridlines: list[Gridline]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def total(self) -> int:
        return sum(day.confirmed for day in self.days)

    @property
    def busiest(self) -> DayCount:
        return max(self.days, key=lambda day: day.confirmed)


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that is at least ``value``."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def bar_chart(days: Sequence[DayCount]) -> BarChart:
    """Bars for ``days`` (at least one), scaled so the tallest reaches a round number."""
    if not days:
        raise ValueError("a chart needs at least one day")
    top = nice_ceiling(max(day.confirmed for day in days))
    plot_height = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / len(days)
    gap = step * 0.2 if step > 4 else 0
    bars = []
    for i, day in enumerate(days):
        height = plot_height * day.confirmed / top
        bars.append(Bar(x=round(LEFT + i * step + gap / 2, 2),
                        y=round(HEIGHT - BOTTOM - height, 2),
                        width=round(step - gap, 2), height=round(height, 2), day=day))
    values = sorted({0, top // 2, top}) if top % 2 == 0 else [0, top]
    gridlines = [Gridline(y=round(HEIGHT - BOTTOM - plot_height * v / top, 2), value=v)
                 for v in values]
    return BarChart(days=list(days), bars=bars, gridlines=gridlines)
