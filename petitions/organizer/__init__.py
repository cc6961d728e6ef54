"""The organizer console: their actions, signatures, exports and paper uploads."""

from flask import Blueprint

bp = Blueprint("organizer", __name__, url_prefix="/console")

from petitions.organizer import updates, views  # noqa: E402,F401  - routes register on import
