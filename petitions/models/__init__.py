"""The data model, one module per domain."""

from petitions.models.actions import COUNTER_SHARDS, Action, ActionCounter, ActionStatus, Target
from petitions.models.outbox import OutboundEmail, OutboxKind, OutboxStatus
from petitions.models.signatures import Signature, SignatureStatus
from petitions.models.types import utcnow

__all__ = [
    "COUNTER_SHARDS",
    "Action",
    "ActionCounter",
    "ActionStatus",
    "OutboundEmail",
    "OutboxKind",
    "OutboxStatus",
    "Signature",
    "SignatureStatus",
    "Target",
    "utcnow",
]
