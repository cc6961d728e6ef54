"""The console's figures: per day (UTC days on both databases), per country, per source,
the latest signatures a page at a time, and the chart laid out from them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from petitions.extensions import db
from petitions.models import SignatureStatus
from petitions.organizer.chart import bar_chart, nice_ceiling
from petitions.services import paper, stats
from petitions.services.stats import CountryCount, DayCount, SourceCount
from tests.factories import make_action
from tests.organizer_factories import bulk_signatures, csv_bytes


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


D1, D2, D3 = date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)


def test_per_day_counts_utc_days_and_fills_the_gaps(app):
    action = make_action()
    bulk_signatures(action, 2, confirmed_at=at(D1, 0, 0, 0))
    bulk_signatures(action, 3, confirmed_at=at(D1, 23, 59, 59))
    bulk_signatures(action, 4, confirmed_at=at(D3, 0, 0, 1))
    bulk_signatures(action, 7, status=SignatureStatus.PENDING)
    bulk_signatures(make_action(), 6, confirmed_at=at(D2))

    assert stats.daily_confirmed(action.id, D1, D3) == [
        DayCount(D1, 5), DayCount(D2, 0), DayCount(D3, 4)]
    assert stats.daily_confirmed(action.id, D2, D3) == [DayCount(D2, 0), DayCount(D3, 4)]
    assert stats.confirmed_span(action.id) == (D1, D3)


def test_per_day_is_one_grouped_query(app):
    action = make_action()
    bulk_signatures(action, 50, confirmed_at=at(D1))
    action_id = action.id
    statements = []

    def listener(connection, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        stats.daily_confirmed(action_id, D1, D3)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    [sql] = statements
    assert "GROUP BY" in sql.upper() and "count(" in sql.lower()


def test_chart_window(app):
    action = make_action()
    assert stats.chart_window(action.id, is_open=True, today=D3) is None
    bulk_signatures(action, 1, confirmed_at=at(D1))
    assert stats.chart_window(action.id, is_open=True, today=D3) == (D1, D3)
    assert stats.chart_window(action.id, is_open=False, today=D3) == (D1, D1)
    later = D3 + timedelta(days=100)
    assert stats.chart_window(action.id, is_open=True, today=later, days=60) == (
        later - timedelta(days=59), later)


def test_by_country_joins_online_and_paper(app):
    action = make_action()
    bulk_signatures(action, 3, country="FR")
    bulk_signatures(action, 1, country="IR")
    bulk_signatures(action, 5, country="IT", status=SignatureStatus.PENDING)
    paper.upload(action, csv_bytes([["A", "B", "IR"], ["C", "D", "Iran"], ["E", "F", "DE"]]),
                 label="Vigil", uploaded_by=None)

    assert stats.by_country(action.id) == [
        CountryCount("FR", "France", 3, 0),
        CountryCount("IR", "Iran", 1, 2),
        CountryCount("DE", "Germany", 0, 1),
    ]
    assert [row.total for row in stats.by_country(action.id)] == [3, 3, 1]


def test_by_source(app):
    action = make_action()
    bulk_signatures(action, 2, source="newsletter")
    bulk_signatures(action, 1, source="newsletter", status=SignatureStatus.PENDING)
    bulk_signatures(action, 3)
    bulk_signatures(action, 1, source="telegram", status=SignatureStatus.PENDING)

    assert stats.by_source(action.id) == [
        SourceCount(None, 3, 0),
        SourceCount("newsletter", 2, 1),
        SourceCount("telegram", 0, 1),
    ]


def test_latest_pages_newest_first_without_email(app):
    action = make_action()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    bulk_signatures(action, 5, each=lambda i: {"last_name": f"Number{i}",
                                               "created_at": start + timedelta(hours=i)})

    first = stats.latest(action.id, page=1, per_page=2)
    assert [s.last_name for s in first.signatures] == ["Number4", "Number3"]
    assert first.has_next and not first.has_previous
    last = stats.latest(action.id, page=3, per_page=2)
    assert [s.last_name for s in last.signatures] == ["Number0"]
    assert last.has_previous and not last.has_next
    assert stats.latest(action.id, page=9, per_page=2).signatures == []
    assert stats.latest(action.id, page=-3, per_page=2).page == 1
    # Only what the page shows is loaded: the address is not even decrypted.
    assert "email" not in first.signatures[0].__dict__


# --- the chart -----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10),
                                                 (10, 10), (11, 20), (480, 500), (501, 1000)])
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == expected


def test_bars_scale_to_the_tallest():
    days = [DayCount(D1, 10), DayCount(D2, 0), DayCount(D3, 5)]
    chart = bar_chart(days)
    tall, empty, half = chart.bars
    assert tall.y == chart.gridlines[-1].y and tall.height > 0
    assert empty.height == 0 and empty.y == chart.baseline
    assert half.height == pytest.approx(tall.height / 2)
    assert tall.x < empty.x < half.x <= chart.right - half.width
    assert [g.value for g in chart.gridlines] == [0, 5, 10]
    assert chart.total == 15 and chart.busiest == DayCount(D1, 10)


def test_a_chart_needs_a_day():
    with pytest.raises(ValueError):
        bar_chart([])
