"""The data model, one module per domain."""

from petitions.models.actions import COUNTER_SHARDS, Action, ActionCounter, ActionStatus, Target
from petitions.models.audit import AuditEntry
from petitions.models.deliveries import (
    ActionTally,
    Delivery,
    DeliveryFile,
    DeliveryRecipient,
    DeliveryStatus,
    DeliveryTrigger,
)
from petitions.models.outbox import OutboundEmail, OutboxKind, OutboxStatus
from petitions.models.paper import PaperBatch, PaperSignature
from petitions.models.signatures import Signature, SignatureStatus
from petitions.models.types import utcnow
from petitions.models.users import ApiToken, Role, User, action_organizers

__all__ = [
    "COUNTER_SHARDS",
    "Action",
    "ActionCounter",
    "ActionStatus",
    "ActionTally",
    "ApiToken",
    "AuditEntry",
    "Delivery",
    "DeliveryFile",
    "DeliveryRecipient",
    "DeliveryStatus",
    "DeliveryTrigger",
    "OutboundEmail",
    "OutboxKind",
    "OutboxStatus",
    "PaperBatch",
    "PaperSignature",
    "Role",
    "Signature",
    "SignatureStatus",
    "Target",
    "User",
    "action_organizers",
    "utcnow",
]
