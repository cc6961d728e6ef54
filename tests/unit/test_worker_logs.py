"""The log of ``make run`` stays readable: Celery's lines about each run of a scheduled
task (every few seconds) are DEBUG, so the confirmation link stands out; other tasks'
lines and everything else keep their level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from celery import Celery
from celery.app.trace import LOG_SUCCESS
from celery.app.trace import logger as trace_logger
from celery.beat import logger as beat_logger

from workers.logs import ROUTINE_LOGGERS, ScheduledRunsAtDebug, quiet_scheduled_runs

SCHEDULED = "petitions.dispatch_outbox"
ON_DEMAND = "petitions.send_email"


@pytest.fixture
def quiet() -> Iterator[None]:
    app = Celery("test", set_as_current=False)
    app.conf.beat_schedule = {"dispatch-outbox": {"task": SCHEDULED, "schedule": 10.0}}
    quiet_scheduled_runs(app)
    yield
    for name in ROUTINE_LOGGERS:
        logger = logging.getLogger(name)
        for installed in [f for f in logger.filters if isinstance(f, ScheduledRunsAtDebug)]:
            logger.removeFilter(installed)


def _run_lines(task: str) -> None:
    beat_logger.info("Scheduler: Sending due task %s (%s)", "an entry", task)
    trace_logger.info(LOG_SUCCESS, {"id": "1", "name": task, "return_value": 0,
                                    "runtime": 0.01, "args": "()", "kwargs": "{}"})


@pytest.mark.usefixtures("quiet")
def test_runs_of_scheduled_tasks_are_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _run_lines(SCHEDULED)
    assert caplog.records == []

    caplog.set_level(logging.DEBUG)
    _run_lines(SCHEDULED)
    assert [r.levelname for r in caplog.records] == ["DEBUG", "DEBUG"]


@pytest.mark.usefixtures("quiet")
def test_other_tasks_and_warnings_keep_their_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _run_lines(ON_DEMAND)
    beat_logger.warning("Scheduler: %s (%s) failed", "an entry", SCHEDULED)
    assert [r.levelname for r in caplog.records] == ["INFO", "INFO", "WARNING"]
