"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from __future__ import annotations

import time

from celery import Celery, Task
from flask import Flask, session
from flask_babel import Babel, gettext
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that Alembic migrations name the same thing on
# SQLite and PostgreSQL and can drop or alter it later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    """SQLite: enforce foreign keys, and let the web app, the worker and the scheduler
    read while one of them writes (write-ahead log)."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only if it sat idle ``idle_seconds`` or more.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout: one more round trip on every
    request, 13% of a signature's time in ``make bench``. Under load a connection is
    back in use within milliseconds; it is after a quiet spell that one is likely to
    have died (a PostgreSQL restart, a firewall dropping idle connections). A dead one
    found here is replaced before the request sees it; one that dies while in busy use
    fails that request, and SQLAlchemy then replaces every connection of the pool.
    """
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry,
                     proxy: object) -> None:
        checked_in = record.info.get("checked_in")
        if checked_in is None or time.monotonic() - checked_in < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out a new one.
            raise DisconnectionError("an idle pooled connection was closed") from exc


def render_migration_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write our column types (encrypted text, UTC datetimes) into migrations as the
    plain types they store, so migrations never import application code."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True,
                  render_item=render_migration_item)
csrf = CSRFProtect()
babel = Babel()
class StaffLoginManager(LoginManager):
    """Flask-Login with its "strong" session protection for logged-in sessions only.

    A session cookie used from another address or browser than the one that logged in
    is logged out, and its server-side session ended, so a copied cookie is spent by
    its first use elsewhere. Flask-Login would also "protect" an anonymous session (a
    public form's CSRF token) by clearing the remember-me cookie on every response;
    anonymous sessions are left alone instead.
    """

    def _session_protection_failed(self) -> bool:
        token = session.get("_user_id")
        if token is None:
            return False
        failed = super()._session_protection_failed()
        if failed:
            from petitions.services import staff_sessions  # services import this module

            staff_sessions.end(token)
        return failed


login_manager = StaffLoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"
# Flask-Login flashes its "Please log in" message; translate it like our own strings.
login_manager.localize_callback = gettext


def celery_init_app(app: Flask) -> Celery:
    """Build the Celery app for ``app``; every task runs inside the Flask app context.

    This is the pattern of Flask's own Celery guide: the Celery app is built by
    the application factory, never at import time.
    """

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
