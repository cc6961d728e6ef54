"""The Celery side: ``celery -A workers worker`` and ``celery -A workers beat``.

Celery looks up ``workers.celery`` for the app; that module is the only place
that builds a Flask app for the worker. Tasks live in ``workers.tasks``.
"""
