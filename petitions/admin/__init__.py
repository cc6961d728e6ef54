"""The admin console: launching actions, users and tokens, the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from petitions.admin import views  # noqa: E402,F401  - routes register on import
