"""Retention: the signers of an action closed long ago stop being identifiable.

``RETENTION_DAYS_AFTER_CLOSE`` days after an action closes, the personal data of its
signers (names, address, postcode, comment, consent to updates, network and domain
digests) is replaced or erased, unless an admin marked the action ``keep_data``
(e.g. for a court case). The counts, the countries and the dates stay, and so does
the keyed digest of the address: it still stops the same person signing twice and
lets a data-subject request find the anonymized row. Paper signatures lose their
names at the same moment.

Reopening an action stops its clock (``closed_at`` and ``anonymized_at`` are
cleared, see ``services.actions``): the clock starts again at the next close, and
the signatures added in between are anonymized in their turn.

The delivery packages (PDF letters and CSV files, every signer's name) are deleted
``DELIVERY_FILE_RETENTION_DAYS`` after they were compiled; the delivery record (who
it went to, when, how many signatures) stays.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, delete, select, update

from petitions.extensions import db
from petitions.models import (
    Action,
    ActionStatus,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    PaperSignature,
    Signature,
    utcnow,
)
from petitions.services import audit

ANONYMIZED = "(anonymized)"
ENDED_STATUSES = (ActionStatus.CLOSED, ActionStatus.DELIVERED, ActionStatus.ARCHIVED)
# A delivery still on its way needs its files (a target's email is retried with them).
_SETTLED = (DeliveryStatus.SENT, DeliveryStatus.FAILED)


def anonymize_action(action: Action, *, now: datetime | None = None) -> int:
    """Strip the personal data of every signer of ``action``; returns how many rows.

    Audited. Commits.
    """
    now = now or utcnow()
    result = db.session.execute(
        update(Signature).where(Signature.action_id == action.id)
        .values(first_name=ANONYMIZED, last_name=ANONYMIZED, email=ANONYMIZED,
                postcode=None, comment=None, updates_opt_in=False, show_publicly=False,
                token_digest=None, ip_digest=None, ip_network_digest=None,
                email_domain_digest=None)
        .execution_options(synchronize_session=False))
    paper = db.session.execute(
        update(PaperSignature).where(PaperSignature.action_id == action.id)
        .values(first_name=ANONYMIZED, last_name=ANONYMIZED)
        .execution_options(synchronize_session=False))
    # The packages list the same names: they go too, however long their own retention.
    files = _delete_files(select(Delivery.id).where(Delivery.action_id == action.id,
                                                    Delivery.status.in_(_SETTLED)))
    action.anonymized_at = now
    audit.record("action.anonymize", "action", action.id, actor=None, via="system",
                 after={"signatures": result.rowcount, "paper_signatures": paper.rowcount,
                        "delivery_files": files})
    db.session.commit()
    return result.rowcount + paper.rowcount


def due_actions(now: datetime | None = None) -> list[Action]:
    """Ended actions closed longer ago than the retention period, not yet anonymized,
    whose data is not kept on purpose."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["RETENTION_DAYS_AFTER_CLOSE"])
    return list(db.session.scalars(
        select(Action).where(Action.status.in_(ENDED_STATUSES),
                             Action.closed_at.is_not(None), Action.closed_at < cutoff,
                             Action.keep_data.is_(False), Action.anonymized_at.is_(None))
        .order_by(Action.id)))


def anonymize_due(now: datetime | None = None) -> int:
    """The scheduler's job: anonymize every action that is due. Returns how many actions."""
    actions = due_actions(now)
    for action in actions:
        anonymize_action(action, now=now)
    return len(actions)


def purge_delivery_files(now: datetime | None = None) -> int:
    """The scheduler's job: delete the files of deliveries compiled longer ago than
    ``DELIVERY_FILE_RETENTION_DAYS``, unless their action keeps its data. Returns how
    many files. The deliveries themselves stay."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["DELIVERY_FILE_RETENTION_DAYS"])
    expired = (select(Delivery.id).join(Action, Action.id == Delivery.action_id)
               .where(Delivery.status.in_(_SETTLED), Delivery.compiled_at < cutoff,
                      Action.keep_data.is_(False)))
    removed = _delete_files(expired)
    db.session.commit()
    return removed


def _delete_files(delivery_ids: Select[tuple[int]]) -> int:
    return db.session.execute(
        delete(DeliveryFile).where(DeliveryFile.delivery_id.in_(delivery_ids))
        .execution_options(synchronize_session=False)).rowcount
