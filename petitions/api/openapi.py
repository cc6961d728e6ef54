"""The OpenAPI 3.1 description of the API, served at ``/api/v1/openapi.json``.

Written by hand as a dict, with small builders so that a route takes a few lines:
add its operation under its path in ``PATHS`` with :func:`operation`, naming the
statuses it answers with. Errors share one schema and the responses in
``ERROR_RESPONSES``. tests/functional/test_openapi.py keeps this true: every API route
must be here and everything here must be a route, and real answers of every
documented status are checked against these schemas.

Request bodies of actions are built from the field definitions in
``petitions.api.schemas``, which also parse them, so the two can't drift apart.
"""

from __future__ import annotations

from typing import Any

from petitions.api import schemas
from petitions.models import ActionStatus

BEARER = "bearerAuth"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# One response object per error status, shared by every operation that can answer it.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The body is not valid JSON, or not a JSON object."),
    401: ("Unauthorized", "No valid API token was sent, or it has expired. The answer "
                          "carries a WWW-Authenticate header."),
    403: ("Forbidden", "The token lacks the scope the operation needs, or its user may "
                       "not do this."),
    404: ("NotFound", "There is no such action."),
    409: ("Conflict", "The slug is taken by another action."),
    413: ("ContentTooLarge", "The body is larger than the 1 MiB the API reads."),
    415: ("UnsupportedMediaType", "The body is not sent as application/json."),
    422: ("ValidationFailed", "Some fields or query parameters are missing or not valid; "
                              "`fields` says which and why."),
    429: ("TooManyRequests", "Too many requests with this token (without one: from this "
                             "address) in a short time; try again after `Retry-After` "
                             "seconds."),
}


def error_response(code: int) -> tuple[str, dict[str, Any]]:
    """The shared response for an error status, under its name in components."""
    name, description = ERROR_RESPONSES[code]
    response: dict[str, Any] = {"description": description, "content": json_content(ref("Error"))}
    if code == 401:
        response["headers"] = {"WWW-Authenticate": {"required": True,
                                                    "schema": {"type": "string"}}}
    if code == 429:
        response["headers"] = {"Retry-After": {"required": True,
                                               "schema": {"type": "string",
                                                          "pattern": "^[0-9]+$"}}}
    return name, response


def operation(operation_id: str, summary: str, *, responses: dict[int, dict[str, Any]],
              errors: tuple[int, ...] = (), public: bool = False,
              parameters: list[dict[str, Any]] | None = None,
              request_body: dict[str, Any] | None = None,
              description: str | None = None, scope: str | None = None) -> dict[str, Any]:
    """An operation object. ``responses`` are its successes; ``errors`` the error
    statuses it may answer with, each pointing at its shared response. A ``public``
    operation needs no token (``security: []``); the others need a bearer token with
    ``scope`` (named in its security requirement) and may answer 401 and 403. Every
    operation is rate limited (``API_RATE_LIMIT``): 429."""
    all_responses: dict[str, Any] = {str(code): body for code, body in responses.items()}
    errors = (*errors, 429)
    if not public:
        if scope is None:
            raise ValueError(f"{operation_id} needs a token: name its scope")
        errors = tuple(sorted({401, 403, *errors}))
        needs = f"Needs a token with the `{scope}` scope."
        description = f"{description} {needs}" if description else needs
    for code in sorted(errors):
        all_responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[code][0]}"}
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary,
                          "responses": all_responses}
    if description:
        op["description"] = description
    if public:
        op["security"] = []
    else:
        op["security"] = [{BEARER: [scope]}]
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = {"required": True, "content": json_content(request_body)}
    return op


def json_response(description: str, schema: dict[str, Any],
                  headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": json_content(schema)}
    if headers:
        response["headers"] = headers
    return response


def query_parameter(name: str, description: str) -> dict[str, Any]:
    """An optional query parameter of the export; its schema is the one the API checks
    values against (``schemas.EXPORT_PARAMETERS``)."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schemas.EXPORT_PARAMETERS[name].schema}


SLUG_PARAMETER = {"name": "slug", "in": "path", "required": True,
                  "description": "The action's slug.", "schema": {"type": "string"}}

# --- schemas -----------------------------------------------------------------------------

_ACTION_PROPERTIES: dict[str, Any] = {
    "slug": {"type": "string"},
    "title": {"type": "string"},
    "summary": {"type": "string"},
    "target": {"type": ["string", "null"], "description": "The name of the first target."},
    "targets": {"type": "array", "items": ref("Target")},
    "status": {"type": "string", "enum": [s.value for s in ActionStatus]},
    "goal": {"type": "integer"},
    "deadline": {"type": ["string", "null"], "format": "date"},
    "language": {"type": "string"},
    "topics": {"type": "array", "items": {"type": "string"},
               "description": "Keys of the action's topics (the managed list)."},
    "region": {"type": "string", "description": "The key of its region, or empty."},
    "signature_count": {"type": "integer", "minimum": 0,
                        "description": "Confirmed online signatures plus paper ones."},
    "url": {"type": "string", "format": "uri", "description": "The action's public page."},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer", "description": "The HTTP status."},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "On 409 and 422: the reason for each "
                                          "bad field or parameter, by its name."},
                "retry_after": {"type": "integer", "minimum": 1,
                                "description": "On 429: seconds to wait before trying "
                                               "again."},
            },
            "required": ["status", "message"],
            "additionalProperties": False,
        }},
        "required": ["error"],
        "additionalProperties": False,
    },
    "Target": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "title": {"type": "string"},
                       "organization": {"type": "string"}},
        "required": ["name", "title", "organization"],
        "additionalProperties": False,
    },
    "TargetDetail": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "title": {"type": "string"},
                       "organization": {"type": "string"}, "email": {"type": "string"}},
        "required": ["name", "title", "organization", "email"],
        "additionalProperties": False,
    },
    "Action": {
        "type": "object",
        "description": "An action as everyone may see it.",
        "properties": _ACTION_PROPERTIES,
        "required": sorted(_ACTION_PROPERTIES),
        "additionalProperties": False,
    },
    "ActionList": {
        "type": "object",
        "properties": {"actions": {"type": "array", "items": ref("Action")}},
        "required": ["actions"],
        "additionalProperties": False,
    },
    "ActionDetail": {
        "type": "object",
        "description": "An action as staff see it, with its texts and the targets' "
                       "email addresses.",
        "properties": {
            **_ACTION_PROPERTIES,
            "targets": {"type": "array", "items": ref("TargetDetail")},
            "body": {"type": "string", "description": "The appeal text, in Markdown."},
            "demands": {"type": "array", "items": {"type": "string"}},
            "image": {"oneOf": [{"type": "null"}, ref("Image")],
                      "description": "The hero picture, or null."},
            "organizers": {"type": "array", "items": {"type": "string", "format": "email"},
                           "description": "The assigned organizers' addresses; "
                                          "shown to admins only."},
        },
        "required": sorted([*_ACTION_PROPERTIES, "body", "demands", "image"]),
        "additionalProperties": False,
    },
    "Image": {
        "type": "object",
        "description": "An action's picture, served by this app in several widths.",
        "properties": {
            "url": {"type": "string", "format": "uri",
                    "description": "A middle-sized copy (JPEG or PNG), as used for link "
                                   "previews (og:image)."},
            "srcset": {"type": "string", "description": "Every copy with its width, for "
                                                         "an HTML srcset attribute."},
            "alt": {"type": "string"},
            "width": {"type": "integer", "description": "Of the picture as uploaded."},
            "height": {"type": "integer"},
        },
        "required": ["url", "srcset", "alt", "width", "height"],
        "additionalProperties": False,
    },
    "ImageUpload": {
        "type": "object",
        "properties": {
            "image": {"type": "string", "contentMediaType": "application/octet-stream",
                      "description": "A JPEG, PNG, WebP or GIF picture of at most 10 MB and "
                                     "40 million pixels, at least 64 pixels on each side. "
                                     "Leave it out to change only `alt` of the picture "
                                     "the action has."},
            "alt": {"type": "string", "minLength": 1, "maxLength": 300,
                    "description": "What the picture shows, for people who can't see it."},
        },
        "required": ["alt"],
        "additionalProperties": False,
    },
    "Count": {
        "type": "object",
        "required": ["slug", "signature_count", "goal", "status"],
        "properties": {
            "slug": {"type": "string"},
            "signature_count": {"type": "integer", "minimum": 0,
                                "description": "Confirmed online signatures plus paper ones."},
            "goal": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in ActionStatus]},
        },
        "additionalProperties": False,
    },
    "Tally": {
        "type": "object",
        "description": "Everyone gets the live public totals: `confirmed`, `paper` and "
                       "`total`, which only a confirmation or a paper entry moves. With "
                       "the token of an admin or of one of the action's organizers, the "
                       "answer also carries the live `pending` count and `by_country` "
                       "and `by_day` (confirmed online signatures, UTC days), compiled "
                       "at `compiled_at`, at most a few seconds earlier.",
        "properties": {
            "confirmed": {"type": "integer", "minimum": 0},
            "paper": {"type": "integer", "minimum": 0},
            "total": {"type": "integer", "minimum": 0,
                      "description": "Confirmed online signatures plus paper ones."},
            "pending": {"type": "integer", "minimum": 0,
                        "description": "Staff only: signatures waiting for confirmation."},
            "by_country": {"type": "object", "description": "Staff only.",
                           "additionalProperties": {"type": "integer", "minimum": 0}},
            "by_day": {"type": "object", "description": "Staff only.",
                       "additionalProperties": {"type": "integer", "minimum": 0}},
            "compiled_at": {"type": "string", "format": "date-time",
                            "description": "Staff only."},
        },
        "required": ["confirmed", "paper", "total"],
        "dependentRequired": {"pending": ["by_country", "by_day", "compiled_at"]},
        "additionalProperties": False,
    },
    "DeliveryRecipient": {
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "title": {"type": "string"},
            "organization": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "sent", "failed"]},
            "message_id": {"type": ["string", "null"]},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {"type": ["string", "null"]},
        },
        "required": ["name", "title", "organization", "status", "message_id", "sent_at",
                     "error"],
        "additionalProperties": False,
    },
    "Delivery": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "action": {"type": "string", "description": "The action's slug."},
            "status": {"type": "string",
                       "enum": ["queued", "compiling", "sending", "sent", "failed"]},
            "trigger": {"type": "string", "enum": ["manual", "goal", "deadline"]},
            "confirmed": {"type": ["integer", "null"],
                          "description": "Confirmed online signatures it carried."},
            "paper": {"type": ["integer", "null"]},
            "total": {"type": ["integer", "null"]},
            "by_country": {"type": ["object", "null"],
                           "additionalProperties": {"type": "integer"}},
            "requested_at": {"type": "string", "format": "date-time"},
            "compiled_at": {"type": ["string", "null"], "format": "date-time"},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {"type": ["string", "null"]},
            "recipients": {"type": "array", "items": ref("DeliveryRecipient")},
        },
        "required": ["id", "action", "status", "trigger", "confirmed", "paper", "total",
                     "by_country", "requested_at", "compiled_at", "sent_at", "error",
                     "recipients"],
        "additionalProperties": False,
    },
    "DeliveryList": {
        "type": "object",
        "properties": {"deliveries": {"type": "array", "items": ref("Delivery")}},
        "required": ["deliveries"],
        "additionalProperties": False,
    },
    "DeliveryRequest": {
        "type": "object",
        "properties": {"mark_delivered": {
            "type": "boolean",
            "description": "Move the action to `delivered` once every target has it."}},
        "additionalProperties": False,
    },
    "ActionCreate": schemas.request_schema(schemas.CREATE_FIELDS, schemas.CREATE_REQUIRED),
    "ActionUpdate": {**schemas.request_schema(schemas.UPDATE_FIELDS), "minProperties": 1},
}

# --- paths -------------------------------------------------------------------------------

PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {
        "get": operation(
            "getOpenApi", "This description of the API", public=True,
            responses={200: json_response("The OpenAPI document.", {"type": "object"})}),
    },
    "/actions": {
        "get": operation(
            "listActions", "Published actions, nearest deadline first", public=True,
            responses={200: json_response("The published actions.", ref("ActionList"))}),
        "post": operation(
            "createAction", "Launch an action (admins)",
            description="Creates an action as a draft, or published if `status` says so. "
                        "Unknown fields are refused.",
            request_body=ref("ActionCreate"), scope="write",
            responses={201: json_response(
                "The new action.", ref("ActionDetail"),
                headers={"Location": {"description": "The action's URL in the API.",
                                      "required": True,
                                      "schema": {"type": "string", "format": "uri"}}})},
            errors=(400, 403, 409, 413, 415, 422)),
    },
    "/actions/{slug}": {
        "parameters": [SLUG_PARAMETER],
        "get": operation(
            "getAction", "One action that is not a draft", public=True,
            responses={200: json_response("The action.", ref("Action"))},
            errors=(404,)),
        "patch": operation(
            "updateAction", "Change some fields of an action",
            description="Admins may change every field; the action's organizers every "
                        "field but `organizers`, and `targets` only if the targets' email "
                        "addresses stay the same: where the signatures are delivered is "
                        "an admin's to change, and it is audited (403). A `status` the "
                        "action can't move to is a 422 on that field.",
            request_body=ref("ActionUpdate"), scope="write",
            responses={200: json_response("The action as changed.", ref("ActionDetail"))},
            errors=(400, 403, 404, 409, 413, 415, 422)),
    },
    "/actions/{slug}/signatures.csv": {
        "parameters": [SLUG_PARAMETER],
        "get": operation(
            "exportSignatures", "Export the confirmed signatures as CSV", scope="export",
            description="The same export as the console's, for admins and the action's "
                        "organizers, streamed and recorded in the audit log. Columns: "
                        "first_name, last_name, email, country, postcode, comment, "
                        "updates_opt_in, confirmed_at; oldest confirmation first.",
            parameters=[
                query_parameter("since", "Only signatures confirmed on or after this UTC "
                                         "day."),
                query_parameter("country", "Only signers from this country (ISO 3166-1 "
                                           "alpha-2, upper or lower case)."),
                query_parameter("opted_in", "1: only signers who asked for updates."),
                query_parameter("bom", "1: start with a UTF-8 byte-order mark, which "
                                       "spreadsheet programs need to read UTF-8."),
            ],
            responses={200: {
                "description": "The signatures, one a row after a header row.",
                "headers": {"Content-Disposition": {
                    "description": "attachment; filename=<slug>-signatures-<date>.csv",
                    "required": True, "schema": {"type": "string"}}},
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }},
            errors=(403, 404, 422)),
    },
}

PATHS["/actions/{slug}/image"] = {
    "parameters": [SLUG_PARAMETER],
    "put": operation(
        "putActionImage", "Set the action's picture (hero and link previews)",
        description="Sent as `multipart/form-data` with the fields `image` (the file) and "
                    "`alt` (its description, required). The picture is checked, resized to "
                    "widths of 480, 960 and 1,600 pixels (never enlarged) and stripped of "
                    "its metadata (EXIF, GPS position, XMP, ICC); only the resized copies "
                    "are kept and served. A file that is not a picture, too large, too "
                    "small or with too many pixels is a 422 on `image`; the body may be "
                    "up to 20 MiB. Admins and the action's organizers.",
        scope="write",
        responses={200: json_response("The action, with its picture.", ref("ActionDetail"))},
        errors=(403, 404, 413, 415, 422)),
}
PATHS["/actions/{slug}/image"]["put"]["requestBody"] = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": ref("ImageUpload"),
        "encoding": {"image": {"contentType": "image/jpeg, image/png, image/webp, "
                                              "image/gif"}}}},
}

DELIVERY_ID_PARAMETER = {"name": "delivery_id", "in": "path", "required": True,
                         "schema": {"type": "integer"}}

PATHS.update({
    "/actions/{slug}/tally": {
        "parameters": [SLUG_PARAMETER],
        "get": operation(
            "getTally", "Signature counts; for staff, by country and by day", public=True,
            description="Public: confirmed, paper and total only, so that signing "
                        "without confirming changes nothing anyone can see. Send the "
                        "token of an admin or of one of the action's organizers for the "
                        "pending count and the breakdowns; without one (or with any "
                        "other), the answer is the public one.",
            responses={200: json_response("The tally.", ref("Tally"))},
            errors=(404,)),
    },
    "/actions/{slug}/deliveries": {
        "parameters": [SLUG_PARAMETER],
        "get": operation(
            "listDeliveries", "The deliveries of an action, newest first", scope="read",
            responses={200: json_response("The deliveries.", ref("DeliveryList"))},
            errors=(403, 404)),
        "post": operation(
            "requestDelivery", "Deliver the signatures to every target",
            description="Queues a delivery: a worker compiles a PDF letter per target "
                        "and a CSV of names and countries, and emails them to each target "
                        "(no one in copy, no organizer named); the requesting organizer "
                        "gets a separate copy. The body is optional.",
            request_body=ref("DeliveryRequest"), scope="write",
            responses={202: json_response(
                "The queued delivery.", ref("Delivery"),
                headers={"Location": {"required": True,
                                      "schema": {"type": "string", "format": "uri"}}})},
            errors=(400, 403, 404, 413, 415, 422)),
    },
    "/actions/{slug}/deliveries/{delivery_id}": {
        "parameters": [SLUG_PARAMETER, DELIVERY_ID_PARAMETER],
        "get": operation(
            "getDelivery", "One delivery and the state of each target's email",
            scope="read",
            responses={200: json_response("The delivery.", ref("Delivery"))},
            errors=(403, 404)),
    },
})
PATHS["/actions/{slug}/count"] = {
    "parameters": [SLUG_PARAMETER],
    "get": operation(
        "getCount", "The signature count alone, for widgets on other sites", public=True,
        description="Cheap and cacheable: the answer carries `Cache-Control: public, "
                    "max-age=5` and an `ETag`; a request with `If-None-Match` and that "
                    "ETag is answered 304 with no body while the count is unchanged. Any "
                    "origin may read it (`Access-Control-Allow-Origin: *`).",
        responses={200: json_response(
            "The count.", ref("Count"),
            headers={"ETag": {"required": True, "schema": {"type": "string"}},
                     "Cache-Control": {"required": True, "schema": {"type": "string"}},
                     "Access-Control-Allow-Origin": {"required": True,
                                                     "schema": {"type": "string"}}})},
        errors=(404,)),
}
# Asking for a delivery needs no body at all.
PATHS["/actions/{slug}/deliveries"]["post"]["requestBody"]["required"] = False

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Petitions and urgent actions API",
        "version": "1.0.0",
        "description": "Published actions for everyone; launching, changing and "
                       "exporting actions with a staff member's API token.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{BEARER: []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": dict(error_response(code) for code in ERROR_RESPONSES),
        "securitySchemes": {
            BEARER: {"type": "http", "scheme": "bearer",
                     "description": "An API token made in the console or with `flask users "
                                    "token`: `Authorization: Bearer pt_...`. A token has "
                                    "scopes (`read`: actions and deliveries; `export`: the "
                                    "signatures CSV; `write`: creating and changing) and an "
                                    "expiry; each operation's security requirement names "
                                    "the scope it needs (403 without it, 401 once expired)."},
        },
    },
}
