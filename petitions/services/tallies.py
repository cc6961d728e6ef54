"""Tallies: an action's confirmed signatures by country and by day.

The totals people see come from the sharded counters (``counting``), exact the
moment a signature is confirmed. The public sees those totals only (confirmed
online, paper, and their sum): a pending count, or anything that moves when someone
signs without confirming, would tell a stranger whether an address had just signed
(docs/security.md). Pending counts and the breakdowns are for staff.

The breakdowns come from a compiled tally: one GROUP BY over the action's confirmed
signatures, kept in ``action_tallies``. The scheduler recompiles only the actions
whose counters moved since their last tally, so an idle action costs nothing and a
busy one is at most a few seconds behind; ``compile_tally`` also runs on demand.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, or_, select

from petitions.extensions import db
from petitions.models import (
    Action,
    ActionCounter,
    ActionStatus,
    ActionTally,
    Signature,
    SignatureStatus,
    utcnow,
)
from petitions.services import counting
from petitions.services.stats import utc_day

# Actions whose tallies the scheduler keeps fresh.
LIVE_STATUSES = (ActionStatus.PUBLISHED, ActionStatus.CLOSED, ActionStatus.DELIVERED)


def compile_tally(action_id: int) -> ActionTally:
    """Count the action's confirmed signatures by country and day, and store the result.

    Both breakdowns come from one grouped query, so they always add up to the same
    confirmed total.
    """
    day = utc_day(Signature.confirmed_at)
    rows = db.session.execute(
        select(Signature.country, day, func.count())
        .where(Signature.action_id == action_id,
               Signature.status == SignatureStatus.CONFIRMED)
        .group_by(Signature.country, day)).all()
    by_country: dict[str, int] = defaultdict(int)
    by_day: dict[str, int] = defaultdict(int)
    for country, when, count in rows:
        by_country[country] += count
        by_day[str(when)] += count
    counts = counting.counts(action_id)
    tally = db.session.get(ActionTally, action_id) or ActionTally(action_id=action_id)
    tally.confirmed = sum(by_country.values())
    tally.pending = counts.pending
    tally.paper = counts.paper
    tally.by_country = dict(sorted(by_country.items()))
    tally.by_day = dict(sorted(by_day.items()))
    tally.compiled_at = utcnow()
    db.session.add(tally)
    db.session.commit()
    return tally


def stale_action_ids() -> list[int]:
    """Live actions with no tally yet, or whose counters differ from their tally."""
    sums = (select(ActionCounter.action_id,
                   func.sum(ActionCounter.confirmed).label("confirmed"),
                   func.sum(ActionCounter.pending).label("pending"),
                   func.sum(ActionCounter.paper).label("paper"))
            .group_by(ActionCounter.action_id).subquery())
    query = (select(Action.id)
             .join(sums, sums.c.action_id == Action.id)
             .outerjoin(ActionTally, ActionTally.action_id == Action.id)
             .where(Action.status.in_(LIVE_STATUSES),
                    or_(ActionTally.action_id.is_(None),
                        ActionTally.confirmed != sums.c.confirmed,
                        ActionTally.pending != sums.c.pending,
                        ActionTally.paper != sums.c.paper)))
    return list(db.session.scalars(query))


def compile_stale() -> int:
    """The scheduler's job: recompile the tallies that are behind. Returns how many."""
    ids = stale_action_ids()
    for action_id in ids:
        compile_tally(action_id)
    return len(ids)


def current_tally(action: Action) -> ActionTally:
    """The stored tally, compiled now if the action has none yet."""
    return db.session.get(ActionTally, action.id) or compile_tally(action.id)


def public_tally_json(action: Action) -> dict[str, object]:
    """What everyone may see: the live confirmed, paper and total counts, which only a
    confirmation (or an organizer's paper entry) moves, never a new signature."""
    counts = counting.counts(action.id)
    return {"confirmed": counts.confirmed, "paper": counts.paper, "total": counts.total}


def tally_json(action: Action) -> dict[str, object]:
    """The staff tally: live totals with the pending count, compiled breakdowns by
    country and day, and when they were compiled."""
    tally = current_tally(action)
    counts = counting.counts(action.id)
    compiled_at: datetime = tally.compiled_at
    return {
        "confirmed": counts.confirmed,
        "pending": counts.pending,
        "paper": counts.paper,
        "total": counts.total,
        "by_country": tally.by_country,
        "by_day": tally.by_day,
        "compiled_at": compiled_at.isoformat().replace("+00:00", "Z"),
    }
