"""The Celery app for the worker and the scheduler, built by the Flask factory."""

from celery.signals import worker_process_shutdown, worker_shutdown

from petitions import create_app
from petitions.services import mail
from workers.logs import quiet_scheduled_runs

flask_app = create_app()
app = flask_app.extensions["celery"]
quiet_scheduled_runs(app)


@worker_process_shutdown.connect
@worker_shutdown.connect
def close_mail_connections(**_: object) -> None:
    """Say QUIT on the SMTP connection a process kept open between emails: in each
    prefork child as it exits, and in the worker itself (threads or solo pool)."""
    mail.close_connections()
