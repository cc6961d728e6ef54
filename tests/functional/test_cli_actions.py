"""``flask actions create|close`` and ``flask demo seed``."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Action, ActionStatus
from petitions.services import actions
from petitions.services.demo import DEMO_SLUG
from tests.factories import make_action, parse_html


@pytest.fixture
def body_file(tmp_path):
    path = tmp_path / "appeal.md"
    path.write_text("The camp is **not safe**.\n\nAct *now*. É\u0301 ü\n", encoding="utf-8")
    return path


def _create(runner, slug, body_file, *extra):
    return runner.invoke(args=[
        "actions", "create", slug, "--title", "Free the residents",
        "--target", "UN Secretary-General", "--target-email", "sg@un.example",
        "--goal", "5000", "--body-file", str(body_file), *extra])


def _actions() -> int:
    return db.session.scalar(select(func.count()).select_from(Action))


def test_create_and_publish_an_action(client, runner, body_file):
    result = _create(runner, "free-the-residents", body_file,
                     "--summary", "They need protection.", "--deadline", "2030-01-31",
                     "--demand", "Remove the armed units.", "--demand", "Restore water.",
                     "--publish")
    assert result.exit_code == 0, result.output
    assert "Created free-the-residents (published)." in result.output

    db.session.expire_all()
    action = actions.get_action("free-the-residents")
    assert action.status == ActionStatus.PUBLISHED
    assert action.title == "Free the residents"
    assert action.summary == "They need protection."
    assert action.goal == 5000
    assert action.deadline == date(2030, 1, 31)
    assert action.body == body_file.read_text(encoding="utf-8")
    assert action.demand_list == ["Remove the armed units.", "Restore water."]
    assert [(t.name, t.email) for t in action.targets] == [
        ("UN Secretary-General", "sg@un.example")]

    page = client.get("/actions/free-the-residents")
    assert page.status_code == 200
    appeal = parse_html(page.get_data(as_text=True)).find("section", class_="appeal")
    assert appeal.find("strong").text == "not safe"
    assert client.get("/api/v1/actions/free-the-residents").json["goal"] == 5000


def test_without_publish_the_action_stays_a_draft(client, runner, body_file):
    result = _create(runner, "quiet-draft", body_file)
    assert result.exit_code == 0, result.output
    assert "(draft)" in result.output
    assert client.get("/actions/quiet-draft").status_code == 404
    assert client.get("/api/v1/actions/quiet-draft").status_code == 404

    published = runner.invoke(args=["actions", "publish", "quiet-draft"])
    assert published.exit_code == 0, published.output
    assert client.get("/actions/quiet-draft").status_code == 200


def test_a_taken_slug_is_refused(runner, body_file):
    make_action(slug="taken", title="The first one")
    result = _create(runner, "taken", body_file, "--publish")
    assert result.exit_code != 0
    assert "taken" in result.output
    assert "Traceback" not in result.output
    assert _actions() == 1
    db.session.expire_all()
    assert actions.get_action("taken").title == "The first one"


def test_a_bad_deadline_is_refused(runner, body_file):
    for deadline in ("31/01/2030", "2030-13-01", "2030-02-30", "tomorrow", "2030-1-31x", ""):
        result = _create(runner, "with-deadline", body_file, "--deadline", deadline)
        assert result.exit_code != 0, deadline
        assert "YYYY-MM-DD" in result.output
        assert "Traceback" not in result.output
    assert _actions() == 0


def test_other_bad_input_is_refused(runner, body_file):
    for slug, extra, message in [("Not A Slug", [], "slug"), ("under_score", [], "slug"),
                                 ("fine-slug", ["--goal", "0"], "goal"),
                                 ("fine-slug", ["--goal", "many"], "goal")]:
        result = _create(runner, slug, body_file, *extra)
        assert result.exit_code != 0, (slug, extra)
        assert message in result.output.lower()
        assert "Traceback" not in result.output
    assert _actions() == 0


def test_a_missing_body_file_is_refused(runner, tmp_path):
    result = _create(runner, "no-body", tmp_path / "missing.md")
    assert result.exit_code != 0
    assert "missing.md" in result.output
    assert _actions() == 0


def test_close_an_action(client, runner):
    action = make_action()
    result = runner.invoke(args=["actions", "close", action.slug])
    assert result.exit_code == 0, result.output
    assert f"Closed {action.slug}." in result.output
    db.session.expire_all()
    assert actions.get_action(action.slug).status == ActionStatus.CLOSED
    assert actions.get_action(action.slug).closed_at is not None
    assert client.get("/api/v1/actions").json["actions"] == []
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    assert "This action is closed" in page.text
    assert not page.find_all("form")


def test_closing_an_unknown_action_is_refused(runner):
    result = runner.invoke(args=["actions", "close", "no-such-action"])
    assert result.exit_code != 0
    assert "no-such-action" in result.output
    assert "Traceback" not in result.output


def test_demo_seed_creates_the_demo_action_once(client, runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert f"Created the demo action /actions/{DEMO_SLUG}" in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert second.exit_code == 0, second.output
    assert f"Kept the demo action /actions/{DEMO_SLUG}" in second.output
    assert _actions() == 1

    db.session.expire_all()
    demo = actions.get_action(DEMO_SLUG)
    assert demo.status == ActionStatus.PUBLISHED
    assert demo.deadline is not None and demo.deadline > date.today()
    assert demo.demand_list and demo.primary_target is not None
    assert client.get(f"/actions/{DEMO_SLUG}").status_code == 200
    assert [a["slug"] for a in client.get("/api/v1/actions").json["actions"]] == [DEMO_SLUG]
