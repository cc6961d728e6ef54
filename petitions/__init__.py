"""Petitions and urgent actions: the Flask application."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask
from kombu import Queue

from config import check_production, load_settings, production_notices
from petitions.proxies import TrustedProxyFix

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` overrides settings read from the environment."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH")
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                instance_path=str(Path(instance_path or ROOT / "instance").resolve()),
                instance_relative_config=False)
    from petitions.uploads import PetitionsRequest

    app.request_class = PetitionsRequest
    settings = load_settings(os.environ, app.instance_path, overrides=config)
    app.config.update(settings)
    app.config.update(_flask_settings(app, settings))
    if app.config["APP_ENV"] == "production":
        check_production(app.config)
    _configure_logging(app)
    if app.config["APP_ENV"] == "production":
        for notice in production_notices(app.config):
            app.logger.warning(notice)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, proxies=app.config["TRUSTED_PROXIES"],
                                       trusted=app.config["TRUSTED_PROXY_ADDRESSES"])

    from petitions import cli, errors, i18n, page_cache, security
    from petitions.crypto import init_vault
    from petitions.extensions import (
        babel,
        celery_init_app,
        csrf,
        db,
        login_manager,
        migrate,
        ping_idle_connections,
    )
    from petitions.services.staff_sessions import load_session_user

    init_vault(app)
    db.init_app(app)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            ping_idle_connections(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    page_cache.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(load_session_user)
    celery_init_app(app)

    from petitions.admin import bp as admin_bp
    from petitions.api import bp as api_bp
    from petitions.auth import bp as auth_bp
    from petitions.organizer import bp as organizer_bp
    from petitions.public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(organizer_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)
    errors.register(app)
    cli.register(app)
    security.init_app(app)
    return app


def _flask_settings(app: Flask, settings: dict[str, Any]) -> dict[str, Any]:
    """Settings in the names Flask, its extensions and Celery expect."""
    instance = Path(app.instance_path)
    broker = settings["CELERY_BROKER_URL"]
    production = settings["APP_ENV"] == "production"
    return {
        "TESTING": settings["APP_ENV"] == "testing",
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(settings["DATABASE_URL"]),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "CELERY": {
            "broker_url": broker,
            "broker_transport_options": _transport_options(broker, instance),
            "broker_connection_retry_on_startup": True,
            "task_ignore_result": True,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "worker_hijack_root_logger": False,
            "timezone": "UTC",
            "include": ["workers.tasks"],
            # Opening sealed signatures goes to its own queue, for the vault workers
            # (which hold INTAKE_PRIVATE_KEY). Both queues are declared, so a worker
            # started without -Q serves both: `celery -A workers worker` still does
            # everything on one machine; `-Q vault` / `-Q celery` split it.
            "task_default_queue": "celery",
            "task_queues": [Queue("celery"), Queue("vault")],
            "task_routes": {"petitions.intake_process": {"queue": "vault"}},
            "beat_schedule": {
                "dispatch-intake": {
                    "task": "petitions.dispatch_intake",
                    "schedule": settings["OUTBOX_DISPATCH_INTERVAL_SECONDS"],
                },
                "dispatch-outbox": {
                    "task": "petitions.dispatch_outbox",
                    "schedule": settings["OUTBOX_DISPATCH_INTERVAL_SECONDS"],
                },
                "compile-tallies": {
                    "task": "petitions.compile_tallies",
                    "schedule": settings["TALLY_INTERVAL_SECONDS"],
                },
                "scheduled-deliveries": {
                    "task": "petitions.scheduled_deliveries",
                    "schedule": 60.0,
                },
                "purge-unconfirmed": {
                    "task": "petitions.purge_unconfirmed",
                    "schedule": 3600.0,
                },
                "purge-ip-digests": {
                    "task": "petitions.purge_ip_digests",
                    "schedule": 3600.0,
                },
                "anonymize-closed-actions": {
                    "task": "petitions.anonymize_closed_actions",
                    "schedule": 3600.0,
                },
                "purge-delivery-files": {
                    "task": "petitions.purge_delivery_files",
                    "schedule": 3600.0,
                },
                "abuse-report": {
                    "task": "petitions.abuse_report",
                    "schedule": 3600.0,
                },
                "send-reminders": {
                    "task": "petitions.send_reminders",
                    "schedule": 900.0,
                },
                "resume-updates": {
                    "task": "petitions.resume_updates",
                    "schedule": 60.0,
                },
            },
        },
    }


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # No pre-ping on every checkout: see extensions.ping_idle_connections.
    return {}


def _transport_options(broker: str, instance: Path) -> dict[str, Any]:
    if broker.startswith("filesystem"):
        queue = instance / "broker" / "queue"
        control = instance / "broker" / "control"
        for folder in (queue, control):
            folder.mkdir(parents=True, exist_ok=True)
        return {"data_folder_in": str(queue), "data_folder_out": str(queue),
                "control_folder": str(control)}
    # A task not acknowledged within the hour is handed to another worker; tasks
    # are idempotent, so that costs at most time.
    # max_retries 0: a hand-off (send_task with retry=False) to a broker that is down
    # fails at once, instead of kombu retrying the connection for seconds while the
    # supporter waits; the outbox dispatcher hands the email off later. Publishing
    # with a retry policy (beat, task retries) and the worker's own reconnection pass
    # their own limits and are not affected.
    return {"visibility_timeout": 3600, "socket_connect_timeout": 3, "socket_timeout": 10,
            "max_retries": 0}


def _configure_logging(app: Flask) -> None:
    level = app.config["LOG_LEVEL"].upper()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("petitions").setLevel(level)
