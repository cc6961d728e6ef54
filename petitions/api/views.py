"""The JSON API: published actions for everyone; launching, editing and exporting
actions for staff with an API token (``Authorization: Bearer <token>``).

Every change goes through the services with ``via="api"``, so it lands in the audit
log like a change made in the console. The routes are described in
``petitions.api.openapi``; a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request, stream_with_context, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from petitions import page_cache
from petitions.api import bp, openapi, schemas
from petitions.api.schemas import RequestRejected
from petitions.auth.access import bearer_token, token_required
from petitions.errors import api_error
from petitions.extensions import db
from petitions.models import Action, ActionStatus, Scope, User
from petitions.services import accounts, counting, deliveries, exports, images, tallies
from petitions.services import actions as actions_service
from petitions.services.actions import ActionError, AdminOnlyError, SlugTakenError
from petitions.services.counting import Counts
from petitions.urls import external_url


def action_json(action: Action, counts: Counts) -> dict[str, Any]:
    """What everyone may see of an action: no target's email, no organizer."""
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
        "topics": list(action.topics or []),
        "region": action.region,
        "signature_count": counts.total,
        "url": external_url("public.action", slug=action.slug),
    }


def action_detail_json(action: Action, viewer: User) -> dict[str, Any]:
    """An action as staff see it: the texts, the targets' emails, and for admins
    the addresses of the assigned organizers."""
    detail = action_json(action, counting.counts(action.id))
    detail.update({
        "body": action.body,
        "demands": action.demand_list,
        "targets": [{"name": t.name, "title": t.title, "organization": t.organization,
                     "email": t.email} for t in action.targets],
    })
    detail["image"] = images.action_image_json(action)
    if viewer.is_admin:
        detail["organizers"] = sorted(u.email for u in action.organizers)
    return detail


@bp.errorhandler(RequestRejected)
def _rejected(error: RequestRejected) -> tuple[Response, int]:
    extra = {"fields": error.fields} if error.fields is not None else {}
    return api_error(error.status, error.message, **extra)


@bp.errorhandler(ActionError)
def _action_refused(error: ActionError) -> tuple[Response, int]:
    # The service may have changed the action before it refused: drop those changes.
    db.session.rollback()
    if isinstance(error, SlugTakenError):
        return api_error(409, gettext("This slug is taken."), fields=error.errors)
    if isinstance(error, AdminOnlyError):
        return api_error(403, gettext("Only an admin may change where the signatures are "
                                      "delivered (the targets' email addresses)."))
    return api_error(422, gettext("The action can't be saved like this."), fields=error.errors)


def _managed_action(slug: str) -> Action:
    """The action at ``slug`` if the caller may manage it: 404 if none, 403 if not theirs."""
    action = actions_service.get_action(slug)
    if action is None:
        raise RequestRejected(404, gettext("There is no action at %(slug)r.", slug=slug))
    if not accounts.can_manage(g.api_user, action):
        raise RequestRejected(403, gettext("You are not an organizer of this action."))
    return action


@bp.get("/openapi.json")
def openapi_description() -> Response:
    return jsonify(openapi.SPEC)


@bp.get("/actions")
def list_actions() -> Response:
    published = actions_service.list_published()
    counts = counting.counts_for(a.id for a in published)
    return jsonify({"actions": [action_json(a, counts[a.id]) for a in published]})


@bp.post("/actions")
@token_required(Scope.WRITE, admin=True)
def create_action() -> tuple[Response, int, dict[str, str]]:
    values = schemas.parse_fields(schemas.json_object(), schemas.CREATE_FIELDS,
                                  required=schemas.CREATE_REQUIRED)
    status = values.pop("status", ActionStatus.DRAFT)
    action = actions_service.create_action(**values, publish=status == ActionStatus.PUBLISHED,
                                           actor=g.api_user, via="api")
    location = url_for("api.get_action", slug=action.slug, _external=True)
    return jsonify(action_detail_json(action, g.api_user)), 201, {"Location": location}


@bp.get("/actions/<slug>")
def get_action(slug: str) -> Response:
    def produce() -> Response | tuple[Response, int]:
        action = actions_service.get_public_action(slug)
        if action is None:
            return api_error(404, f"No action is published at {slug!r}.")
        return jsonify(action_json(action, counting.counts(action.id)))

    return page_cache.serve(produce, by_language=False)


@bp.patch("/actions/<slug>")
@token_required(Scope.WRITE)
def update_action(slug: str) -> Response:
    action = _managed_action(slug)
    data = schemas.json_object()
    if not g.api_user.is_admin and data.keys() & schemas.ADMIN_ONLY_FIELDS:
        raise RequestRejected(403, gettext("Only admins may change the organizers."))
    changes = schemas.parse_fields(data, schemas.UPDATE_FIELDS)
    if not changes:
        raise RequestRejected(422, gettext("The body names no field to change."))
    actions_service.update_action(action, changes, actor=g.api_user, via="api")
    return jsonify(action_detail_json(action, g.api_user))


@bp.put("/actions/<slug>/image")
@token_required(Scope.WRITE)
def put_action_image(slug: str) -> Response:
    """The action's hero picture, sent as multipart/form-data: ``image`` (the file;
    may be left out to change only the alt text) and ``alt`` (required)."""
    action = _managed_action(slug)
    if request.mimetype != "multipart/form-data":
        raise RequestRejected(415, gettext("Send the picture as multipart/form-data, with "
                                           "the fields image and alt."))
    unknown = sorted((request.form.keys() | request.files.keys()) - {"image", "alt"})
    if unknown:
        raise RequestRejected(422, gettext("Unknown fields."),
                              {name: gettext("Unknown field.") for name in unknown})
    upload = request.files.get("image")
    data = upload.read(images.MAX_UPLOAD_BYTES + 1) if upload else b""
    errors: dict[str, str] = {}
    if not data and action.image is None:
        errors["image"] = gettext("Please choose a picture.")
    try:
        images.check_alt(request.form.get("alt"))
    except images.ImageError as exc:
        errors["alt"] = str(exc)
    if not errors:
        try:
            images.set_action_image(action, data, request.form.get("alt"), actor=g.api_user,
                                    via="api")
        except images.ImageError as exc:
            db.session.rollback()
            errors["image"] = str(exc)
    if errors:
        raise RequestRejected(422, gettext("The picture can't be used."), errors)
    return jsonify(action_detail_json(action, g.api_user))


@bp.get("/actions/<slug>/signatures.csv")
@token_required(Scope.EXPORT)
def export_signatures(slug: str) -> Response:
    """The console's export of confirmed signatures, with the same filters, audited."""
    action = _managed_action(slug)
    schemas.check_query(request.args, schemas.EXPORT_PARAMETERS)
    # The values conform to the description, so the service reads them without fail.
    filters = exports.parse_export_filters(request.args)
    bom = exports.parse_bom(request.args)
    exports.record_export(action, filters, actor=g.api_user, via="api", bom=bom)
    filename = exports.export_filename(action)
    return Response(stream_with_context(exports.stream_signatures_csv(action, filters, bom)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/actions/<slug>/tally")
def get_tally(slug: str) -> Response | tuple[Response, int]:
    """Everyone: the live public totals. The token of someone who manages the action:
    also the pending count and the breakdowns by country and day, compiled every few
    seconds. A missing or unknown token gets the public answer, not a 401."""
    action = actions_service.get_public_action(slug)
    if action is None:
        return api_error(404, f"No action is published at {slug!r}.")
    token = bearer_token()
    user = accounts.user_for_token(token) if token else None
    if user is not None and accounts.can_manage(user, action):
        return jsonify(tallies.tally_json(action))
    return jsonify(tallies.public_tally_json(action))


@bp.post("/actions/<slug>/deliveries")
@token_required(Scope.WRITE)
def request_delivery(slug: str) -> tuple[Response, int, dict[str, str]]:
    action = _managed_action(slug)
    data = schemas.json_object() if request.get_data() else {}
    unknown = sorted(data.keys() - {"mark_delivered"})
    if unknown:
        raise RequestRejected(422, gettext("Unknown fields."),
                              {name: gettext("Unknown field.") for name in unknown})
    mark = data.get("mark_delivered", False)
    if not isinstance(mark, bool):
        raise RequestRejected(422, gettext("Some fields are not valid."),
                              {"mark_delivered": gettext("Must be true or false.")})
    try:
        delivery = deliveries.request_delivery(action, actor=g.api_user, via="api",
                                               mark_delivered=mark)
    except deliveries.DeliveryError as exc:
        raise RequestRejected(422, str(exc)) from exc
    location = url_for("api.get_delivery", slug=action.slug, delivery_id=delivery.id,
                       _external=True)
    return jsonify(deliveries.delivery_json(delivery)), 202, {"Location": location}


@bp.get("/actions/<slug>/deliveries")
@token_required(Scope.READ)
def list_deliveries(slug: str) -> Response:
    action = _managed_action(slug)
    return jsonify({"deliveries": [deliveries.delivery_json(d)
                                   for d in deliveries.list_deliveries(action)]})


@bp.get("/actions/<slug>/deliveries/<int:delivery_id>")
@token_required(Scope.READ)
def get_delivery(slug: str, delivery_id: int) -> Response:
    action = _managed_action(slug)
    delivery = deliveries.get_delivery(action, delivery_id)
    if delivery is None:
        raise RequestRejected(404, gettext("There is no such delivery of this action."))
    return jsonify(deliveries.delivery_json(delivery))


@bp.after_request
def _no_caching_of_private_answers(response: Response) -> Response:
    """Answers to a token may hold personal data: no shared cache may keep them."""
    if "Authorization" in request.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


# Seconds a browser or a shared cache may show a count before asking again: with the
# page cache (PUBLIC_CACHE_SECONDS), a count is at most about 10 s old.
COUNT_MAX_AGE = 5


@bp.get("/actions/<slug>/count")
def get_count(slug: str) -> Response:
    """The signature count alone, for widgets on other sites: two small queries (or
    none, from the page cache), cacheable for a few seconds, revalidated with its
    ETag, readable cross-origin."""
    def produce() -> Response | tuple[Response, int]:
        action = actions_service.get_public_action(slug)
        if action is None:
            response, status = api_error(404, f"No action is published at {slug!r}.")
            response.headers["Access-Control-Allow-Origin"] = "*"
            return response, status
        counts = counting.counts(action.id)
        response = jsonify({"slug": action.slug, "signature_count": counts.total,
                            "goal": action.goal, "status": str(action.status)})
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cache-Control"] = f"public, max-age={COUNT_MAX_AGE}"
        response.add_etag()
        return response

    response = page_cache.serve(produce, by_language=False)
    return response.make_conditional(request) if response.status_code == 200 else response
