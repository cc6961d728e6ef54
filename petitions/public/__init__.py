"""Pages for supporters: the actions, signing, confirming."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from petitions.public import media, messaging, views  # noqa: E402,F401  - routes register on import
