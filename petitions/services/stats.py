"""What the organizer console shows about an action: signatures per day, country and
source, and the latest signatures a page at a time.

Every figure is an aggregate computed by the database (GROUP BY on the action's
rows), so a page costs the same few queries whether an action has a hundred
signatures or a million; only the one page of latest signatures is loaded as rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, literal_column, select
from sqlalchemy.orm import load_only

from petitions import countries
from petitions.extensions import db
from petitions.models import PaperSignature, Signature, SignatureStatus

# The chart shows at most this many days, ending today for an open action and on
# the last day with a confirmation otherwise.
CHART_DAYS = 60
LATEST_PER_PAGE = 50


@dataclass(frozen=True)
class DayCount:
    day: date
    confirmed: int


@dataclass(frozen=True)
class CountryCount:
    code: str
    name: str
    online: int
    paper: int

    @property
    def total(self) -> int:
        return self.online + self.paper


@dataclass(frozen=True)
class SourceCount:
    source: str | None  # None: signed through a link without ?source=
    confirmed: int
    pending: int


@dataclass(frozen=True)
class LatestPage:
    signatures: list[Signature]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def utc_day(column: Any) -> Any:
    """The UTC calendar day of a timestamp column, on either database.

    SQLite stores naive UTC text, which ``date()`` truncates; PostgreSQL stores
    ``timestamptz``, turned into UTC wall time before the cast so the session's
    time zone can't move a signature to another day. The zone is a literal, not a
    bound parameter: PostgreSQL would not see ``GROUP BY timezone($2, …)`` as the
    selected ``timezone($1, …)``.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    return func.date(column, type_=Date)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def confirmed_span(action_id: int) -> tuple[date, date] | None:
    """The first and last UTC day with a confirmed signature, or None if there is none."""
    first, last = db.session.execute(
        select(func.min(Signature.confirmed_at), func.max(Signature.confirmed_at))
        .where(Signature.action_id == action_id,
               Signature.status == SignatureStatus.CONFIRMED)).one()
    if first is None or last is None:
        return None
    return _as_utc(first).date(), _as_utc(last).date()


def _as_utc(value: datetime) -> datetime:
    # Aggregates bypass the column type, so SQLite hands back a naive (UTC) value.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def chart_window(action_id: int, *, is_open: bool, today: date,
                 days: int = CHART_DAYS) -> tuple[date, date] | None:
    """The days the chart covers: at most ``days`` of them, up to today while the action
    is open, else up to its last confirmation. None when nothing is confirmed yet."""
    span = confirmed_span(action_id)
    if span is None:
        return None
    first, last = span
    end = max(today, last) if is_open else last
    return max(first, end - timedelta(days=days - 1)), end


def daily_confirmed(action_id: int, start: date, end: date) -> list[DayCount]:
    """Confirmed signatures per UTC day from ``start`` to ``end`` inclusive, with the
    days without any given as zero."""
    day = utc_day(Signature.confirmed_at).label("day")
    rows = db.session.execute(
        select(day, func.count())
        .where(Signature.action_id == action_id,
               Signature.status == SignatureStatus.CONFIRMED,
               Signature.confirmed_at >= _start_of(start),
               Signature.confirmed_at < _start_of(end + timedelta(days=1)))
        .group_by(day))
    found = {value: int(n) for value, n in rows}
    return [DayCount(start + timedelta(days=i), found.get(start + timedelta(days=i), 0))
            for i in range((end - start).days + 1)]


def by_country(action_id: int, locale: str = "en") -> list[CountryCount]:
    """Confirmed online and paper signatures per country, the largest first."""
    online = {code: n for code, n in db.session.execute(
        select(Signature.country, func.count())
        .where(Signature.action_id == action_id,
               Signature.status == SignatureStatus.CONFIRMED)
        .group_by(Signature.country))}
    paper = {code: n for code, n in db.session.execute(
        select(PaperSignature.country, func.count())
        .where(PaperSignature.action_id == action_id)
        .group_by(PaperSignature.country))}
    rows = [CountryCount(code, countries.name(code, locale), int(online.get(code, 0)),
                         int(paper.get(code, 0)))
            for code in online.keys() | paper.keys()]
    return sorted(rows, key=lambda row: (-row.total, row.name.casefold()))


def by_source(action_id: int) -> list[SourceCount]:
    """Online signatures per campaign source (``?source=`` on the action link)."""
    confirmed = func.sum(case((Signature.status == SignatureStatus.CONFIRMED, 1), else_=0))
    pending = func.sum(case((Signature.status == SignatureStatus.PENDING, 1), else_=0))
    rows = db.session.execute(
        select(Signature.source, confirmed, pending)
        .where(Signature.action_id == action_id)
        .group_by(Signature.source))
    counts = [SourceCount(source, int(c or 0), int(p or 0)) for source, c, p in rows]
    return sorted(counts, key=lambda row: (-row.confirmed, -row.pending, row.source or ""))


def latest(action_id: int, page: int = 1, per_page: int = LATEST_PER_PAGE) -> LatestPage:
    """One page of the newest signatures, pending or confirmed.

    Only the columns the console shows are loaded (and decrypted): never the email
    address, postcode or comment.
    """
    page = max(page, 1)
    rows = list(db.session.scalars(
        select(Signature)
        .options(load_only(Signature.first_name, Signature.last_name, Signature.country,
                           Signature.status, Signature.source, Signature.created_at,
                           Signature.confirmed_at))
        .where(Signature.action_id == action_id)
        .order_by(Signature.created_at.desc(), Signature.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)))
    return LatestPage(rows[:per_page], page, has_next=len(rows) > per_page)
