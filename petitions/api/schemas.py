"""Reading what API clients send: the JSON body, and the fields of an action in it.

Each field is described once, by a :class:`Field` holding its JSON Schema (for the
OpenAPI description in ``petitions.api.openapi``) and the function that turns the
JSON value into what the service takes. Types are checked here; the rules of an
action (slug pattern, lengths, lifecycle) stay in ``petitions.services.actions``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import request
from flask_babel import gettext

from petitions import countries
from petitions.models import ActionStatus, Role, User
from petitions.services import accounts
from petitions.services.actions import LANGUAGES, SLUG_PATTERN, TargetInput

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TARGET_KEYS = ("name", "title", "organization", "email")


class RequestRejected(Exception):
    """The request can't be served as sent; becomes a JSON error with ``status``.

    ``fields`` maps the name of each bad field to the reason (422 responses)."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields


class FieldError(ValueError):
    """One field's value is unusable; the message says why."""


@dataclass(frozen=True)
class Field:
    schema: dict[str, Any]
    parse: Callable[[Any], Any]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 for another content type, 400 for
    malformed JSON or a body that is not an object."""
    if request.mimetype != "application/json":
        raise RequestRejected(415, gettext("Send the body as JSON, with the header "
                                           "Content-Type: application/json."))
    try:
        data = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, too deep
        raise RequestRejected(400, gettext("The body is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise RequestRejected(400, gettext("The body must be a JSON object."))
    return data


def parse_fields(data: Mapping[str, Any], fields: Mapping[str, Field], *,
                 required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The parsed value of every field present in ``data``; 422 naming each missing,
    unknown or unusable field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in sorted(required - data.keys()):
        errors[name] = gettext("This field is required.")
    for name, raw in data.items():
        field = fields.get(name)
        if field is None:
            errors[name] = gettext("Unknown field.")
            continue
        try:
            values[name] = field.parse(raw)
        except FieldError as exc:
            errors[name] = str(exc)
    if errors:
        raise RequestRejected(422, gettext("Some fields are missing or not valid."), errors)
    return values


# --- one parser a kind of value ----------------------------------------------------------

def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(gettext("Must be a string."))
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(gettext("Must be a list of strings."))
    return value


def _integer(value: Any) -> int:
    # JSON Schema counts 5000.0 as an integer, and so does the description.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(gettext("Must be a whole number."))
    return value


def _deadline(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise FieldError(gettext("Must be a date as YYYY-MM-DD, or null."))


def _targets(value: Any) -> list[TargetInput]:
    message = gettext("Must be a list of objects with a name and, optionally, a title, "
                      "an organization and an email, all strings.")
    if not isinstance(value, list):
        raise FieldError(message)
    targets = []
    for item in value:
        if (not isinstance(item, dict) or not isinstance(item.get("name"), str)
                or not item.keys() <= set(TARGET_KEYS)
                or not all(isinstance(v, str) for v in item.values())):
            raise FieldError(message)
        if "email" in item and not item["email"]:
            # The service takes "" for "no address"; the description promises an address.
            raise FieldError(gettext("A target's email, when given, must be an address; "
                                     "leave it out for none."))
        targets.append(TargetInput(**item))
    return targets


def _organizers(value: Any) -> list[User]:
    """Active organizer accounts, one per address; a bad address is named by position,
    so the answer does not repeat anyone's address."""
    users: dict[int, User] = {}
    for position, address in enumerate(_string_list(value), start=1):
        user = accounts.find_user(address)
        if user is None or user.role != Role.ORGANIZER or not user.active:
            raise FieldError(gettext("Address %(number)d is not that of an active organizer.",
                                     number=position))
        users[user.id] = user
    return list(users.values())


def _status(allowed: tuple[ActionStatus, ...]) -> Callable[[Any], ActionStatus]:
    def parse(value: Any) -> ActionStatus:
        if value not in allowed:
            raise FieldError(gettext("Must be one of: %(values)s.",
                                     values=", ".join(allowed)))
        return ActionStatus(value)

    return parse


def _choice(values: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in values:
            raise FieldError(gettext("Must be one of: %(values)s.", values=", ".join(values)))
        return value

    return parse


# --- the fields of an action -------------------------------------------------------------

# No text may hold NUL: PostgreSQL can't store it, and the service refuses it.
NO_NUL = "^[^\\u0000]*$"

TARGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL},
        "title": {"type": "string", "maxLength": 200, "pattern": NO_NUL},
        "organization": {"type": "string", "maxLength": 200, "pattern": NO_NUL},
        # 254: the longest address SMTP carries (RFC 5321), and the service's limit.
        "email": {"type": "string", "format": "email", "maxLength": 254},
    },
    "required": ["name"],
    "additionalProperties": False,
}

_COMMON_FIELDS: dict[str, Field] = {
    "slug": Field({"type": "string", "pattern": SLUG_PATTERN.pattern, "maxLength": 80,
                   "description": "The action's address: /actions/<slug>."}, _string),
    "title": Field({"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL},
                   _string),
    "summary": Field({"type": "string", "maxLength": 500, "pattern": NO_NUL}, _string),
    "body": Field({"type": "string", "maxLength": 100_000, "pattern": NO_NUL,
                   "description": "The appeal text, in Markdown."}, _string),
    "demands": Field({"type": "array", "items": {"type": "string", "pattern": NO_NUL},
                      "description": "The demands, shown as a list beside the appeal."},
                     _string_list),
    "targets": Field({"type": "array", "items": TARGET_SCHEMA, "minItems": 1,
                      "description": "The officials the action is addressed to."}, _targets),
    "goal": Field({"type": "integer", "minimum": 1, "maximum": 1_000_000_000}, _integer),
    "deadline": Field({"type": ["string", "null"], "format": "date"}, _deadline),
    "language": Field({"type": "string", "enum": list(LANGUAGES)}, _choice(LANGUAGES)),
    "topics": Field({"type": "array", "items": {"type": "string", "maxLength": 64},
                     "description": "Keys of topics on the managed list (admin console, "
                                    "Topics and regions); network members who follow one "
                                    "are alerted. They replace the action's topics."},
                    _string_list),
    "region": Field({"type": "string", "maxLength": 64,
                     "description": "The key of a region on the managed list, or an "
                                    "empty string for none."}, _string),
    "organizers": Field({"type": "array",
                         "items": {"type": "string", "format": "email"},
                         "description": "Addresses of active organizer accounts; they "
                                        "replace the assigned organizers. Admins only."},
                        _organizers),
}

_CREATE_STATUSES = (ActionStatus.DRAFT, ActionStatus.PUBLISHED)

CREATE_FIELDS: dict[str, Field] = {
    **_COMMON_FIELDS,
    "status": Field({"type": "string", "enum": [s.value for s in _CREATE_STATUSES],
                     "default": "draft"}, _status(_CREATE_STATUSES)),
}
CREATE_REQUIRED = frozenset({"slug", "title", "targets", "goal"})

UPDATE_FIELDS: dict[str, Field] = {
    **_COMMON_FIELDS,
    "status": Field({"type": "string", "enum": [s.value for s in ActionStatus],
                     "description": "Moves the action along its lifecycle; not every "
                                    "status may follow every other."},
                    _status(tuple(ActionStatus))),
}
# Fields only an admin may change.
ADMIN_ONLY_FIELDS = frozenset({"organizers"})


def request_schema(fields: Mapping[str, Field], required: frozenset[str] = frozenset()
                   ) -> dict[str, Any]:
    """The JSON Schema of a body made of ``fields``, for the OpenAPI description."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: field.schema for name, field in fields.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = sorted(required)
    return schema


# --- the export's query parameters -------------------------------------------------------

FLAG_VALUES = ("1", "0", "true", "false", "yes", "no", "on", "off")


@dataclass(frozen=True)
class QueryParameter:
    """A query parameter: its JSON Schema (for the description), whether a value
    conforms to it, and what to tell a client whose value does not."""

    schema: dict[str, Any]
    conforms: Callable[[str], bool]
    message: Callable[[], str]


def _is_date(value: str) -> bool:
    try:
        return _DATE.fullmatch(value) is not None and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _one_of(values: tuple[str, ...]) -> Callable[[str], bool]:
    return frozenset(values).__contains__


# The codes as the export service reads them (it upper-cases), in both cases.
_COUNTRY_VALUES = tuple(sorted(countries.CODES)) + tuple(sorted(c.lower() for c in countries.CODES))

EXPORT_PARAMETERS: dict[str, QueryParameter] = {
    "since": QueryParameter(
        {"type": "string", "format": "date"}, _is_date,
        lambda: gettext("Give a real date as YYYY-MM-DD, e.g. 2026-11-26.")),
    "country": QueryParameter(
        {"type": "string", "enum": list(_COUNTRY_VALUES)}, _one_of(_COUNTRY_VALUES),
        lambda: gettext("Give a country as its two-letter ISO code, e.g. FR.")),
    "opted_in": QueryParameter(
        {"type": "string", "enum": list(FLAG_VALUES)}, _one_of(FLAG_VALUES),
        lambda: gettext("Use 1 for yes or 0 for no.")),
    "bom": QueryParameter(
        {"type": "string", "enum": list(FLAG_VALUES)}, _one_of(FLAG_VALUES),
        lambda: gettext("Use 1 for yes or 0 for no.")),
}


def check_query(args: Mapping[str, str], parameters: Mapping[str, QueryParameter]) -> None:
    """422 naming each parameter present with a value its schema does not allow.

    The console's export form sends empty fields for "no filter", and the service
    reading both is lenient about case and spaces; an API client gets exactly what
    the description says, so a parameter is either left out or a documented value.
    """
    errors = {name: parameter.message() for name, parameter in parameters.items()
              if name in args and not parameter.conforms(args[name])}
    if errors:
        raise RequestRejected(422, gettext("Some filters are not valid."), errors)
