"""What the worker and the scheduler write to the log.

Celery logs every run of every task at INFO: the scheduler's "Sending due task", the
worker's "received" and "succeeded". The scheduled tasks run every few seconds
(handing mail to the broker, compiling tallies), so at INFO these lines filled the
log of ``make run`` and buried the one a newcomer looks for, the confirmation link.
Runs of the scheduled tasks are logged at DEBUG instead; everything else, including
the tasks that send mail and every warning or error, keeps its level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from celery import Celery

# Celery's loggers of the scheduler's "Sending due task" and the worker's "received"
# and "succeeded" lines.
ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


class ScheduledRunsAtDebug(logging.Filter):
    """Logs an INFO line about a run of one of ``tasks`` at DEBUG (or drops it, when
    the logger is not enabled for DEBUG)."""

    def __init__(self, tasks: Iterable[str]) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def _names(self, record: logging.LogRecord) -> tuple[object, ...]:
        args = record.args
        if isinstance(args, Mapping):  # the worker: {"name": task name, "id": …}
            return (args.get("name"),)
        return tuple(args or ())  # the scheduler: (entry name, task name)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self.tasks.intersection(
                name for name in self._names(record) if isinstance(name, str)):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_scheduled_runs(celery_app: Celery) -> None:
    """Install the filter on Celery's loggers, for the tasks of the beat schedule."""
    tasks = [entry["task"] for entry in (celery_app.conf.beat_schedule or {}).values()]
    for name in ROUTINE_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, ScheduledRunsAtDebug)]:
            logger.removeFilter(old)
        logger.addFilter(ScheduledRunsAtDebug(tasks))
