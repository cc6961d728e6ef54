"""The rules of the platform, as plain functions over the models.

Web views, the CLI and the Celery tasks all call these; none of them holds a rule
of its own. Services commit their own transactions.
"""
