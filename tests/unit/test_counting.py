"""Sharded signature counters: every change lands on one shard, a count sums them all."""

from __future__ import annotations

import itertools

from sqlalchemy import delete, select

from petitions.extensions import db
from petitions.models import COUNTER_SHARDS, ActionCounter
from petitions.services import counting
from petitions.services.counting import Counts
from tests.factories import make_action, make_confirmed_signature, make_signature


def _shards(action_id: int) -> dict[int, tuple[int, int]]:
    rows = db.session.execute(select(ActionCounter.shard, ActionCounter.confirmed,
                                     ActionCounter.pending)
                              .where(ActionCounter.action_id == action_id))
    return {shard: (confirmed, pending) for shard, confirmed, pending in rows}


def test_a_new_action_has_all_its_shards_at_zero(app):
    action = make_action()
    assert _shards(action.id) == {shard: (0, 0) for shard in range(COUNTER_SHARDS)}
    assert counting.counts(action.id) == Counts(confirmed=0, pending=0)


def test_a_count_is_the_sum_over_every_shard(app, monkeypatch):
    action = make_action()
    # One change on each shard in turn, twice round: each shard holds 2, the sum is 32.
    shards = itertools.cycle(range(COUNTER_SHARDS))
    monkeypatch.setattr(counting.random, "randrange", lambda n: next(shards))
    for _ in range(2 * COUNTER_SHARDS):
        counting.add(action.id, confirmed=1)
    db.session.commit()
    assert all(confirmed == 2 for confirmed, _ in _shards(action.id).values())
    assert counting.counts(action.id) == Counts(confirmed=2 * COUNTER_SHARDS, pending=0)


def test_many_confirmations_add_up_whatever_shards_they_land_on(app):
    action = make_action()
    for _ in range(300):
        counting.add(action.id, pending=1)
    db.session.commit()
    for _ in range(250):
        counting.add(action.id, confirmed=1, pending=-1)
    db.session.commit()
    assert counting.counts(action.id) == Counts(confirmed=250, pending=50)
    # A shard may hold a negative pending count (the confirmation landed elsewhere
    # than the signature); only the sum has a meaning.
    shards = _shards(action.id)
    assert sum(c for c, _ in shards.values()) == 250
    assert sum(p for _, p in shards.values()) == 50


def test_counts_stay_with_their_action(app):
    first, second, untouched = make_action(), make_action(), make_action()
    for _ in range(3):
        counting.add(first.id, confirmed=1)
    counting.add(second.id, pending=2)
    db.session.commit()
    assert counting.counts_for([first.id, second.id, untouched.id]) == {
        first.id: Counts(confirmed=3, pending=0),
        second.id: Counts(confirmed=0, pending=2),
        untouched.id: Counts(),
    }


def test_counts_for_nothing_or_an_unknown_action(app):
    assert counting.counts_for([]) == {}
    assert counting.counts_for(iter([])) == {}
    assert counting.counts(987654) == Counts()


def test_a_missing_shard_row_is_created_on_first_use(app):
    action = make_action()
    db.session.execute(delete(ActionCounter).where(ActionCounter.action_id == action.id))
    db.session.commit()
    counting.add(action.id, confirmed=1, pending=2)
    db.session.commit()
    assert counting.counts(action.id) == Counts(confirmed=1, pending=2)
    assert len(_shards(action.id)) == 1


def test_an_uncommitted_change_is_rolled_back_with_its_transaction(app):
    action = make_action()
    counting.add(action.id, confirmed=5)
    db.session.rollback()
    assert counting.counts(action.id) == Counts()


def test_signing_and_confirming_move_the_counts(app):
    action = make_action()
    for _ in range(20):
        make_confirmed_signature(action)
    for _ in range(7):
        make_signature(action)
    assert counting.counts(action.id) == Counts(confirmed=20, pending=7)
