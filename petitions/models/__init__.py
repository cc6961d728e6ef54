"""The data model, one module per domain."""

from petitions.models.abuse import AbuseReport, BlockKind, BlockRule
from petitions.models.actions import COUNTER_SHARDS, Action, ActionCounter, ActionStatus, Target
from petitions.models.audit import AuditEntry
from petitions.models.branding import Branding
from petitions.models.deliveries import (
    ActionTally,
    Delivery,
    DeliveryFile,
    DeliveryRecipient,
    DeliveryStatus,
    DeliveryTrigger,
)
from petitions.models.images import ImageRendition, StoredImage
from petitions.models.intake import SealedSubmission
from petitions.models.messaging import (
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    Update,
    UpdateKind,
    UpdateStatus,
)
from petitions.models.outbox import OutboundEmail, OutboxKind, OutboxStatus
from petitions.models.paper import PaperBatch, PaperSignature
from petitions.models.signatures import Signature, SignatureStatus
from petitions.models.throttles import LoginThrottle
from petitions.models.topics import Term, TermKind
from petitions.models.types import utcnow
from petitions.models.users import (
    ApiToken,
    RecoveryCode,
    Role,
    Scope,
    StaffSession,
    User,
    action_organizers,
)

__all__ = [
    "COUNTER_SHARDS",
    "AbuseReport",
    "Action",
    "ActionCounter",
    "ActionStatus",
    "ActionTally",
    "ApiToken",
    "AuditEntry",
    "BlockKind",
    "BlockRule",
    "Branding",
    "Delivery",
    "DeliveryFile",
    "DeliveryRecipient",
    "DeliveryStatus",
    "DeliveryTrigger",
    "ImageRendition",
    "LoginThrottle",
    "OutboundEmail",
    "OutboxKind",
    "OutboxStatus",
    "PaperBatch",
    "PaperSignature",
    "RecoveryCode",
    "Role",
    "Scope",
    "SealedSubmission",
    "Signature",
    "SignatureStatus",
    "StaffSession",
    "StoredImage",
    "Subscriber",
    "SubscriberStatus",
    "Suppression",
    "SuppressionReason",
    "Target",
    "Term",
    "TermKind",
    "Update",
    "UpdateKind",
    "UpdateStatus",
    "User",
    "action_organizers",
    "utcnow",
]
