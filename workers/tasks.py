"""Celery tasks: thin, idempotent wrappers around services. They take ids, never
addresses or names, so nothing personal sits in the broker or its logs."""

from __future__ import annotations

import random

from celery import Task, shared_task
from flask import current_app

from petitions.services import (
    abuse,
    deliveries,
    intake,
    mail,
    outbox,
    privacy,
    reminders,
    retention,
    tallies,
    updates,
)


def _backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped at MAIL_RETRY_BACKOFF_MAX."""
    ceiling = min(current_app.config["MAIL_RETRY_BACKOFF_MAX"], 2 ** (retries + 1))
    return random.uniform(ceiling / 2, ceiling)


@shared_task(name=outbox.SEND_EMAIL_TASK, bind=True, acks_late=True,
             reject_on_worker_lost=True)
def send_email(self: Task, outbox_id: int) -> str | None:
    try:
        status = mail.deliver(outbox_id)
    except mail.TemporaryMailError as exc:
        if self.request.retries >= current_app.config["MAIL_RETRY_MAX"]:
            mail.give_up(outbox_id, f"gave up after {self.request.retries + 1} attempts: {exc}")
            return "failed"
        raise self.retry(countdown=_backoff(self.request.retries), max_retries=None) from exc
    return str(status) if status else None


@shared_task(name=intake.PROCESS_TASK, acks_late=True, reject_on_worker_lost=True)
def process_intake(submission_id: int) -> str | None:
    """Open a sealed signature and apply the signing rules: on a vault worker."""
    return intake.process(submission_id)


@shared_task(name=intake.DISPATCH_TASK)
def dispatch_intake() -> int:
    return intake.dispatch_pending()


@shared_task(name=outbox.DISPATCH_TASK)
def dispatch_outbox() -> int:
    return outbox.dispatch_pending()


@shared_task(name="petitions.purge_ip_digests")
def purge_ip_digests() -> int:
    return privacy.purge_ip_digests()


@shared_task(name="petitions.purge_unconfirmed")
def purge_unconfirmed() -> int:
    return privacy.purge_unconfirmed()


@shared_task(name="petitions.anonymize_closed_actions")
def anonymize_closed_actions() -> int:
    return retention.anonymize_due()


@shared_task(name="petitions.purge_delivery_files")
def purge_delivery_files() -> int:
    return retention.purge_delivery_files()


@shared_task(name="petitions.abuse_report")
def abuse_report() -> int:
    return abuse.compile_report().id


@shared_task(name=deliveries.COMPILE_TASK, acks_late=True, reject_on_worker_lost=True)
def compile_delivery(delivery_id: int) -> str | None:
    status = deliveries.compile_delivery(delivery_id)
    return str(status) if status else None


@shared_task(name="petitions.scheduled_deliveries")
def scheduled_deliveries() -> int:
    """Start automatic deliveries that are due, and hand off any that stalled."""
    return deliveries.auto_deliver_due() + deliveries.dispatch_stalled()


@shared_task(name="petitions.compile_tallies")
def compile_tallies() -> int:
    return tallies.compile_stale()


@shared_task(name=updates.BATCH_TASK, acks_late=True, reject_on_worker_lost=True)
def send_update_batch(update_id: int, cursor: int) -> int:
    """Queue the next batch of an update or alert; it schedules the one after."""
    return updates.send_batch(update_id, cursor)


@shared_task(name=updates.RESUME_TASK)
def resume_updates() -> int:
    return updates.resume_stalled()


@shared_task(name=reminders.REMINDER_TASK)
def send_reminders() -> int:
    return reminders.queue_reminders()
