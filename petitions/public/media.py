"""Uploaded pictures and the branding stylesheet, served from this origin."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from petitions.public import bp
from petitions.services import branding, images

# A URL names the digest of what it serves, so what it serves never changes.
IMMUTABLE = "public, max-age=31536000, immutable"


@bp.app_context_processor
def _branding() -> dict[str, Any]:
    """``branding`` in every template: pages, emails, the console."""
    try:
        return {"branding": branding.current()}
    except SQLAlchemyError:  # an error page while the database is away: the defaults
        return {"branding": branding.default_look()}


@bp.app_template_global("action_image")
def _action_image(action: Any) -> images.ImageView | None:
    """The hero picture of an action, for templates (the hero, og:image)."""
    return images.view(getattr(action, "image", None))


@bp.get("/images/<int:rendition_id>/<digest>.<extension>")
def image(rendition_id: int, digest: str, extension: str) -> Response:
    rendition = images.get_rendition(rendition_id, digest)
    if rendition is None or images.MEDIA_TYPES[rendition.media_type] != extension:
        abort(404)
    response = Response(rendition.content, mimetype=rendition.media_type)
    response.headers["Cache-Control"] = IMMUTABLE
    response.set_etag(rendition.digest)
    return response.make_conditional(request)


@bp.get("/branding.css")
def branding_css() -> Response:
    """The theme colours; pages link it as ``/branding.css?v=<version>``, so a change
    of colour is a new address and the old one may be cached for long."""
    look = branding.current()
    response = Response(look.stylesheet, mimetype="text/css")
    versioned = request.args.get("v") == look.version
    response.headers["Cache-Control"] = IMMUTABLE if versioned else "public, max-age=60"
    return response
