"""gunicorn's settings for the web app, in production and in ``make bench``:

    gunicorn --config config/gunicorn.py "petitions:create_app()"

The numbers come from the environment (``WEB_CONCURRENCY``, ``WEB_THREADS``,
``WEB_TIMEOUT``; see config/__init__.py); ``--bind`` on the command line overrides
the address. The threaded worker
(``gthread``) is chosen for two reasons measured in ``make bench``: a request spends
much of its time waiting on PostgreSQL and Redis, which other threads fill; and a
sync worker's ``timeout`` covers a whole streamed answer, so it cut a one-million-row
export off after 30 seconds, while a threaded worker's main loop keeps answering the
master's heartbeat however long a response streams.
"""

from __future__ import annotations

from config import setting, web_processes

bind = "0.0.0.0:8000"
worker_class = "gthread"
workers = web_processes()
threads = setting("WEB_THREADS")
timeout = setting("WEB_TIMEOUT")
# Behind a reverse proxy that keeps connections to us open.
keepalive = 5
accesslog = None
