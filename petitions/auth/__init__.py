"""Logging in and out, and changing one's password (organizers and admins)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from petitions.auth import views  # noqa: E402,F401  - routes register on import
