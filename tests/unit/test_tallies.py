"""Compiled tallies: exact totals by country and by day, pending signatures moving to
confirmed, many confirmations at once counted once each, and the scheduler compiling
only the actions whose counts moved."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from flask import Flask

from petitions.extensions import db
from petitions.models import ActionStatus, ActionTally, SignatureStatus
from petitions.services import confirming, counting, paper, tallies
from petitions.services.actions import update_action
from tests.factories import (
    confirmation_token,
    make_action,
    make_confirmed_signature,
    make_signature,
)
from tests.organizer_factories import bulk_signatures, csv_bytes

D1, D2, D3 = date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)
COUNTRIES = ("FR", "IR", "DE", "SY", "CN")


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def assert_adds_up(tally: ActionTally) -> None:
    assert sum(tally.by_country.values()) == tally.confirmed
    assert sum(tally.by_day.values()) == tally.confirmed


def test_a_tally_counts_confirmed_signatures_by_country_and_utc_day(app):
    action = make_action()
    bulk_signatures(action, 3, confirmed_at=at(D1, 0, 0, 0), country="FR")
    bulk_signatures(action, 2, confirmed_at=at(D1, 23, 59, 59), country="IR")
    bulk_signatures(action, 4, confirmed_at=at(D3, 0, 0, 1),
                    each=lambda i: {"country": "DE" if i % 2 else "IR"})
    bulk_signatures(action, 6, status=SignatureStatus.PENDING, country="CN")
    bulk_signatures(make_action(), 5, confirmed_at=at(D2), country="US")
    paper.upload(action, csv_bytes([["A", "B", "IR"], ["C", "D", "SE"]]), label="Vigil",
                 uploaded_by=None)

    tally = tallies.compile_tally(action.id)

    assert (tally.confirmed, tally.pending, tally.paper) == (9, 6, 2)
    assert tally.by_country == {"DE": 2, "FR": 3, "IR": 4}
    assert tally.by_day == {"2026-11-24": 5, "2026-11-26": 4}
    assert list(tally.by_country) == sorted(tally.by_country)
    assert tally.compiled_at is not None
    assert_adds_up(tally)
    assert db.session.get(ActionTally, action.id) is tally


def test_an_action_without_signatures_has_an_empty_tally(app):
    tally = tallies.compile_tally(make_action().id)

    assert (tally.confirmed, tally.pending, tally.paper) == (0, 0, 0)
    assert tally.by_country == {} and tally.by_day == {}


def test_pending_signatures_move_to_confirmed(app):
    action = make_action()
    first = make_signature(action, country="FR")
    second = make_signature(action, country="IR")
    assert counting.counts(action.id) == counting.Counts(confirmed=0, pending=2)
    tally = tallies.compile_tally(action.id)
    assert (tally.confirmed, tally.pending, tally.by_country) == (0, 2, {})

    confirming.confirm(confirmation_token(first))

    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=1)
    tally = tallies.compile_tally(action.id)
    assert (tally.confirmed, tally.pending, tally.by_country) == (1, 1, {"FR": 1})
    assert tally.by_day == {first.confirmed_at.date().isoformat(): 1}

    confirming.confirm(confirmation_token(second))

    tally = tallies.compile_tally(action.id)
    assert (tally.confirmed, tally.pending) == (2, 0)
    assert tally.by_country == {"FR": 1, "IR": 1}
    assert_adds_up(tally)


def test_confirming_the_same_token_again_counts_nothing(app):
    action = make_action()
    signature = make_signature(action)
    token = confirmation_token(signature)

    first = confirming.confirm(token)
    again = confirming.confirm(token)

    assert first.state == again.state == confirming.TokenState.CONFIRMED
    assert counting.counts(action.id) == counting.Counts(confirmed=1, pending=0)
    assert tallies.compile_tally(action.id).confirmed == 1


def test_many_confirmations_at_once_are_each_counted_exactly_once(app: Flask):
    """Threads with their own app context, session and connection confirm 50
    signatures at the same instant; ten tokens are confirmed by two threads at once."""
    action = make_action()
    tokens = [confirmation_token(make_signature(action, country=COUNTRIES[i % 5]))
              for i in range(50)]
    db.session.commit()
    threads_count = 5
    chunks = [tokens[i::threads_count] for i in range(threads_count)]
    # Each thread also confirms two tokens that another thread confirms at the same time.
    chunks = [chunk + chunks[(i + 1) % threads_count][:2] for i, chunk in enumerate(chunks)]
    start = threading.Barrier(threads_count)
    states: list[confirming.TokenState] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def confirm_all(chunk: list[str]) -> None:
        try:
            with app.app_context():
                start.wait()
                results = [confirming.confirm(token).state for token in chunk]
            with lock:
                states.extend(results)
        except BaseException as exc:  # reported below, with the thread's traceback
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=confirm_all, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(states) == 60 and set(states) == {confirming.TokenState.CONFIRMED}
    db.session.expire_all()
    assert counting.counts(action.id) == counting.Counts(confirmed=50, pending=0)
    tally = tallies.compile_tally(action.id)
    assert (tally.confirmed, tally.pending) == (50, 0)
    assert tally.by_country == {code: 10 for code in sorted(COUNTRIES)}
    assert_adds_up(tally)
    assert tallies.compile_stale() == 0


def test_the_scheduler_compiles_only_live_actions_whose_counts_moved(app):
    published, closed, quiet = make_action(), make_action(), make_action()
    update_action(closed, {"status": ActionStatus.CLOSED}, actor=None)
    draft = make_action(publish=False)
    make_confirmed_signature(published, country="FR")
    bulk_signatures(draft, 2)

    assert set(tallies.stale_action_ids()) == {published.id, closed.id, quiet.id}
    assert tallies.compile_stale() == 3
    assert tallies.compile_stale() == 0
    assert db.session.get(ActionTally, draft.id) is None
    before = {a.id: db.session.get(ActionTally, a.id).compiled_at
              for a in (published, closed, quiet)}

    make_confirmed_signature(published, country="IR")
    assert tallies.stale_action_ids() == [published.id]
    assert tallies.compile_stale() == 1
    assert tallies.compile_stale() == 0

    db.session.expire_all()
    tally = db.session.get(ActionTally, published.id)
    assert (tally.confirmed, tally.by_country) == (2, {"FR": 1, "IR": 1})
    assert tally.compiled_at > before[published.id]
    for other in (closed, quiet):
        assert db.session.get(ActionTally, other.id).compiled_at == before[other.id]


def test_a_new_pending_signature_or_paper_batch_makes_a_tally_stale(app):
    action = make_action()
    tallies.compile_tally(action.id)
    assert tallies.compile_stale() == 0

    make_signature(action)
    assert tallies.compile_stale() == 1
    assert db.session.get(ActionTally, action.id).pending == 1

    paper.upload(action, csv_bytes([["A", "B", "IR"]]), label="Vigil", uploaded_by=None)
    assert tallies.compile_stale() == 1
    assert db.session.get(ActionTally, action.id).paper == 1
    assert tallies.compile_stale() == 0


def test_the_public_tally_has_live_totals_and_compiled_breakdowns(app):
    action = make_action()
    make_confirmed_signature(action, country="FR")
    make_signature(action)

    data = tallies.tally_json(action)

    assert data["confirmed"] == 1 and data["pending"] == 1
    assert data["paper"] == 0 and data["total"] == 1
    assert data["by_country"] == {"FR": 1}
    assert sum(data["by_day"].values()) == 1
    assert data["compiled_at"].endswith("Z")
