"""Read-only API for now: the published actions and their confirmed counts."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from werkzeug.wrappers import Response

from petitions.api import bp
from petitions.errors import api_error
from petitions.models import Action
from petitions.services import actions as actions_service
from petitions.services import counting
from petitions.services.counting import Counts
from petitions.urls import external_url


def action_json(action: Action, counts: Counts) -> dict[str, Any]:
    target = action.primary_target
    return {
        "slug": action.slug,
        "title": action.title,
        "summary": action.summary,
        "target": target.name if target else None,
        "targets": [{"name": t.name, "title": t.title, "organization": t.organization}
                    for t in action.targets],
        "status": str(action.status),
        "goal": action.goal,
        "deadline": action.deadline.isoformat() if action.deadline else None,
        "language": action.language,
        "signature_count": counts.confirmed,
        "url": external_url("public.action", slug=action.slug),
    }


@bp.get("/actions")
def list_actions() -> Response:
    published = actions_service.list_published()
    counts = counting.counts_for(a.id for a in published)
    return jsonify({"actions": [action_json(a, counts[a.id]) for a in published]})


@bp.get("/actions/<slug>")
def get_action(slug: str) -> Response | tuple[Response, int]:
    action = actions_service.get_public_action(slug)
    if action is None:
        return api_error(404, f"No action is published at {slug!r}.")
    return jsonify(action_json(action, counting.counts(action.id)))
