"""The ceiling for the mail worker: a Celery task that only counts itself.

``celery -A bench.noop_tasks worker -Q bench-noop`` runs it with the same broker
and pool as the real worker; each task increments one Redis counter, which is
how the harness sees the rate.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

BROKER_URL = os.environ["CELERY_BROKER_URL"]
QUEUE = "bench-noop"
COUNTER_KEY = "bench:noop-done"

app = Celery("bench_noop", broker=BROKER_URL)
app.conf.update(task_ignore_result=True, task_acks_late=True, worker_prefetch_multiplier=1,
                task_default_queue=QUEUE, worker_hijack_root_logger=False)
_client = redis.Redis.from_url(BROKER_URL)


@app.task(name="bench.noop")
def noop() -> None:
    _client.incr(COUNTER_KEY)
