"""Control characters and line breaks in an action's texts: one rule in the service
(``services/actions.py``), refused with the field named on every edge that saves an
action: the admin form, the API and ``flask actions create``."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Action
from petitions.services import actions
from petitions.services.actions import ActionError, TargetInput
from tests.account_factories import (  # noqa: F401 - a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.api_factories import action_body, bearer, make_staff, make_token
from tests.factories import field_error, make_action, parse_html, post_form
from tests.functional.test_admin_console import action_form

# Line breaks besides CR and LF, and control characters: never in any text of an action.
NEVER = ["\x00", "\x07", "\x1b", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x7f", "\x85",
         "\u2028", "\u2029"]
# Refused in one-line texts (titles, demands, a target's fields), kept in multi-line ones.
ONLY_MULTI_LINE = ["\n", "\r", "\t"]


def _ids(characters: list[str]) -> list[str]:
    return [hex(ord(c)) for c in characters]


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Action)) or 0


def create(**overrides: Any) -> Action:
    fields: dict[str, Any] = {
        "slug": "free-them", "title": "Free them", "goal": 100, "summary": "Held.",
        "body": "They are held.", "demands": ["Release them."],
        "targets": [TargetInput("The Minister", "Minister", "Ministry", "m@gov.example")]}
    return actions.create_action(**{**fields, **overrides})


@pytest.mark.parametrize("character", NEVER + ONLY_MULTI_LINE,
                         ids=_ids(NEVER + ONLY_MULTI_LINE))
def test_one_line_texts_refuse_control_characters_and_line_breaks(app, character: str) -> None:
    for field, value in [("title", f"Free{character}them"),
                         ("demands", ["Release them.", f"Drop{character}the charges."]),
                         ("targets", [TargetInput(f"The{character}Minister")]),
                         ("targets", [TargetInput("The Minister", f"Min{character}ister")])]:
        with pytest.raises(ActionError) as refused:
            create(**{field: value})
        assert "control characters or line breaks" in refused.value.errors[field]
    assert count() == 0


@pytest.mark.parametrize("character", NEVER, ids=_ids(NEVER))
def test_multi_line_texts_refuse_control_characters(app, character: str) -> None:
    action = make_action()
    for field in ("summary", "body"):
        with pytest.raises(ActionError) as refused:
            actions.update_action(action, {field: f"Held{character}without charge."},
                                  actor=None)
        assert "control characters" in refused.value.errors[field]


def test_multi_line_texts_keep_tabs_and_line_breaks(app) -> None:
    action = create(summary="Held\r\nwithout\tcharge.", body="One.\n\nTwo.\r\n")
    assert action.body == "One.\n\nTwo.\r\n"


@pytest.mark.usefixtures("cheap_password_hashing")
@pytest.mark.parametrize("character", ["\v", "\u2028", "\x1b"], ids=_ids(["\v", "\u2028",
                                                                          "\x1b"]))
def test_the_admin_form_shows_the_error_next_to_the_field(client: FlaskClient,
                                                          character: str) -> None:
    log_in(client, make_user("admin"))
    for field, value in [("title", f"Free{character}them"),
                         ("summary", f"Held{character}."),
                         ("demands", f"Release them.\nDrop{character}the charges.")]:
        response = post_form(client, "/admin/actions/new", action_form(**{field: value}))
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert "control characters" in (field_error(html, field) or "")
        kept = parse_html(html).find("input", name="title")
        assert kept is not None and kept.get("value") == (
            f"Free{character}them" if field == "title" else "Free the journalists")
    response = post_form(client, "/admin/actions/new",
                         action_form(**{"targets-1-name": f"Kaja{character}Kallas"}))
    assert response.status_code == 422
    targets_error = parse_html(response.get_data(as_text=True)).find(id="targets-error")
    assert targets_error is not None and "control characters" in targets_error.text
    assert count() == 0


@pytest.mark.parametrize("field", ["title", "summary", "demands", "targets"])
def test_the_api_answers_422_with_the_field(client: FlaskClient, field: str) -> None:
    headers = bearer(make_token(make_staff("admin")))
    bad: dict[str, Any] = {
        "title": "Free\u2028them", "summary": "Held\x1bwithout charge.",
        "demands": ["Release them.", "Drop\vthe charges."],
        "targets": [{"name": "The\x85Minister"}]}
    response = client.post("/api/v1/actions", headers=headers,
                           json=action_body(**{field: bad[field]}))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert "control characters" in error["fields"][field]
    assert count() == 0
    action = make_action()
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=headers,
                            json={field: bad[field]})
    assert response.status_code == 422
    assert "control characters" in response.get_json()["error"]["fields"][field]


@pytest.mark.parametrize("option", ["--title", "--summary", "--demand", "--target"])
def test_the_cli_refuses_them(app, runner, tmp_path, option: str) -> None:
    body = tmp_path / "appeal.md"
    body.write_text("The camp is not safe.\n", encoding="utf-8")
    values = {"--title": "Free the residents", "--target": "UN Secretary-General"}
    values[option] = "Bad\x1c" + values.get(option, "text")
    args = ["actions", "create", "free-the-residents", "--goal", "5000",
            "--body-file", str(body)]
    for name, value in values.items():
        args += [name, value]
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert "control characters" in result.output
    assert count() == 0


@pytest.mark.usefixtures("cheap_password_hashing")
def test_texts_in_other_languages_follow_the_same_rule(client: FlaskClient) -> None:
    action = make_action(language="en")
    log_in(client, make_user("admin"))
    url = f"/admin/actions/{action.slug}/translations"
    response = post_form(client, url, {"fr-title": "Libérez\u2028les", "fr-summary": "Ok.",
                                       "de-title": "Befreit sie", "de-demands": "Eins\vZwei"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "line breaks" in (field_error(html, "fr-title") or "")
    assert "control characters" in (field_error(html, "de-demands") or "")
    assert 'value="Befreit sie"' in html
    db.session.refresh(action)
    assert not action.translations
