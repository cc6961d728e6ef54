"""The Celery app for the worker and the scheduler, built by the Flask factory."""

from petitions import create_app

flask_app = create_app()
app = flask_app.extensions["celery"]
