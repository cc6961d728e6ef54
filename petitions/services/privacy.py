"""Keeping personal data no longer than needed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from petitions.extensions import db
from petitions.models import Signature, SignatureStatus, utcnow
from petitions.services import counting


def purge_ip_digests() -> int:
    """Erase the IP digests of signatures older than ``IP_DIGEST_RETENTION_DAYS``."""
    cutoff = utcnow() - timedelta(days=current_app.config["IP_DIGEST_RETENTION_DAYS"])
    result = db.session.execute(
        update(Signature)
        .where(Signature.ip_digest.is_not(None), Signature.created_at < cutoff)
        .values(ip_digest=None))
    db.session.commit()
    return result.rowcount


def purge_unconfirmed(batch: int = 10_000) -> int:
    """Delete signatures left unconfirmed for ``UNCONFIRMED_RETENTION_DAYS``."""
    cutoff = utcnow() - timedelta(days=current_app.config["UNCONFIRMED_RETENTION_DAYS"])
    stale_ids = select(Signature.id).where(
        Signature.status == SignatureStatus.PENDING, Signature.created_at < cutoff,
    ).limit(batch).scalar_subquery()
    removed = db.session.scalars(
        delete(Signature)
        .where(Signature.id.in_(stale_ids), Signature.status == SignatureStatus.PENDING)
        .returning(Signature.action_id)
        .execution_options(synchronize_session=False)).all()
    for action_id, count in Counter(removed).items():
        counting.add(action_id, pending=-count)
    db.session.commit()
    return len(removed)
