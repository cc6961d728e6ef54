"""Signature counts, kept in sharded counter rows.

A new signature adds one to ``pending`` and a confirmation moves one from
``pending`` to ``confirmed``, in the same transaction as the change they count,
on one of ``COUNTER_SHARDS`` rows picked at random. Reading a count sums at most
that many rows, however many millions of signatures there are.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update

from petitions.extensions import db
from petitions.models import COUNTER_SHARDS, ActionCounter


@dataclass(frozen=True)
class Counts:
    confirmed: int = 0
    pending: int = 0
    paper: int = 0

    @property
    def total(self) -> int:
        """What the public sees: confirmed online signatures plus paper ones."""
        return self.confirmed + self.paper


def create_shards(action_id: int) -> None:
    """Add the counter rows of a new action to the current transaction."""
    db.session.add_all(ActionCounter(action_id=action_id, shard=shard, confirmed=0, pending=0,
                                     paper=0)
                       for shard in range(COUNTER_SHARDS))


_table = ActionCounter.__table__
# Built once: signing and confirming adjust a counter on every request.
_ADD = (update(_table)
        .where(_table.c.action_id == bindparam("counter_action_id"),
               _table.c.shard == bindparam("counter_shard"))
        .values(confirmed=_table.c.confirmed + bindparam("add_confirmed"),
                pending=_table.c.pending + bindparam("add_pending"),
                paper=_table.c.paper + bindparam("add_paper")))


def add(action_id: int, *, confirmed: int = 0, pending: int = 0, paper: int = 0) -> None:
    """Adjust the counts within the current transaction (the caller commits)."""
    shard = random.randrange(COUNTER_SHARDS)
    result = db.session.execute(_ADD, {
        "counter_action_id": action_id, "counter_shard": shard, "add_confirmed": confirmed,
        "add_pending": pending, "add_paper": paper})
    if result.rowcount == 0:
        db.session.add(ActionCounter(action_id=action_id, shard=shard, confirmed=confirmed,
                                     pending=pending, paper=paper))


def counts_for(action_ids: Iterable[int]) -> dict[int, Counts]:
    ids = list(action_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(ActionCounter.action_id,
               func.coalesce(func.sum(ActionCounter.confirmed), 0),
               func.coalesce(func.sum(ActionCounter.pending), 0),
               func.coalesce(func.sum(ActionCounter.paper), 0))
        .where(ActionCounter.action_id.in_(ids))
        .group_by(ActionCounter.action_id))
    found = {action_id: Counts(int(c), int(p), int(paper)) for action_id, c, p, paper in rows}
    return {action_id: found.get(action_id, Counts()) for action_id in ids}


def counts(action_id: int) -> Counts:
    return counts_for([action_id])[action_id]
