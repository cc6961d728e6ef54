"""The admin console: launching actions, users and tokens, the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Routes register on import.
from petitions.admin import (  # noqa: E402,F401
    abuse_views,
    branding_views,
    privacy_views,
    term_views,
    translation_views,
    views,
)
