"""Actions: rendering their appeal text safely, creating, listing, publishing, closing."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Action, ActionCounter, ActionStatus
from petitions.services import actions
from petitions.services.actions import ActionError, TargetInput, render_markdown
from tests.factories import make_action, parse_html

# --- Markdown ----------------------------------------------------------------------------


def test_markdown_is_rendered():
    html = render_markdown("# Title\n\nSome **bold** and *quiet* words.\n\n- one\n- two\n")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>quiet</em>" in html
    assert "<li>one</li>" in html


def test_markdown_tables_are_rendered():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<table>" in html and "<td>1</td>" in html


def test_links_are_kept_with_a_safe_rel():
    html = render_markdown("[the report](https://example.org/report)")
    assert 'href="https://example.org/report"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


SAFE_TAGS = {"p", "a", "strong", "em", "code", "pre", "ul", "ol", "li", "h1", "h2", "h3",
             "h4", "h5", "h6", "blockquote", "hr", "br", "table", "thead", "tbody", "tr",
             "th", "td", "img"}


@pytest.mark.parametrize("body", [
    "Hello <script>alert(1)</script>",
    "<script src=https://evil.example/x.js></script>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"javascript:alert(1)\">",
    "<iframe src=https://evil.example></iframe>",
    '<a href="javascript:alert(1)">click</a>',
    "<div onclick=alert(1)>hi</div>",
    "<style>body{display:none}</style>",
    "<form action=https://evil.example><input name=password></form>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\nscript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[a]: javascript:alert(1)\n\n[click][a]",
])
def test_raw_html_and_script_links_never_come_through(body):
    page = parse_html(render_markdown(body))
    for element in page.find_all():
        assert element.tag in SAFE_TAGS, element.tag
        for name, value in element.attrs.items():
            assert not name.startswith("on"), name
            assert not value.strip().lower().startswith(("javascript:", "vbscript:", "data:"))
    assert "<script" not in render_markdown(body).lower()


# --- creating ----------------------------------------------------------------------------


def test_create_action_keeps_a_draft_with_its_counters(app):
    action = actions.create_action(
        slug="free-the-journalists", title="  Free the journalists  ", summary=" Now. ",
        body="Body", demands=[" Release them. ", "", "  ", "Drop the charges."], goal=50,
        targets=[TargetInput(name="Minister of Justice", title="Minister",
                             organization="Ministry", email="minister@gov.example"),
                 TargetInput(name="Prime Minister")],
        deadline=date(2030, 1, 31))
    assert action.status == ActionStatus.DRAFT
    assert action.published_at is None
    assert action.title == "Free the journalists"
    assert action.summary == "Now."
    assert action.demand_list == ["Release them.", "Drop the charges."]
    assert [t.name for t in action.targets] == ["Minister of Justice", "Prime Minister"]
    assert action.primary_target.email == "minister@gov.example"
    assert action.deadline == date(2030, 1, 31)
    assert not action.is_open
    shards = db.session.scalar(select(func.count()).select_from(ActionCounter)
                               .where(ActionCounter.action_id == action.id))
    assert shards == 16


def test_create_action_can_publish_at_once(app):
    action = make_action(publish=True)
    assert action.status == ActionStatus.PUBLISHED
    assert action.published_at is not None
    assert action.is_open


BAD_ACTIONS = [
    ({"slug": "Not A Slug"}, "slug"),
    ({"slug": "UPPER"}, "slug"),
    ({"slug": "double--hyphen"}, "slug"),
    ({"slug": "-leading"}, "slug"),
    ({"slug": "trailing-"}, "slug"),
    ({"slug": "under_score"}, "slug"),
    ({"slug": ""}, "slug"),  # the admin form suggests one; the service takes none
    ({"slug": "a" * 81}, "slug"),
    ({"title": "   "}, "title"),
    ({"goal": 0}, "goal"),
    ({"goal": -5}, "goal"),
    ({"targets": []}, "target"),
    # Every field is checked as an update checks it: PostgreSQL refuses NUL in text.
    ({"demands": ["Release them.", "Drop\x00 the charges."]}, "demands"),
]


def test_create_action_refuses_bad_input(app):
    for overrides, message in BAD_ACTIONS:
        with pytest.raises(ActionError, match=message):
            make_action(**overrides)
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Action)) == 0


def test_create_action_refuses_a_taken_slug(app):
    make_action(slug="taken")
    with pytest.raises(ActionError, match="taken"):
        make_action(slug="taken", title="Another")
    assert db.session.scalar(select(func.count()).select_from(Action)) == 1


# --- publishing, closing, finding ------------------------------------------------------


def test_publish_then_close(app):
    action = make_action(publish=False)
    actions.publish_action(action)
    assert action.status == ActionStatus.PUBLISHED and action.published_at is not None
    actions.close_action(action)
    assert action.status == ActionStatus.CLOSED and action.closed_at is not None
    assert not action.is_open


def test_the_public_sees_everything_but_drafts(app):
    draft = make_action(publish=False)
    published = make_action()
    closed = make_action()
    actions.close_action(closed)
    assert actions.get_public_action(draft.slug) is None
    assert actions.get_public_action(published.slug) is published
    assert actions.get_public_action(closed.slug) is closed
    assert actions.get_public_action("no-such-action") is None
    assert actions.get_action(draft.slug) is draft


def test_a_slug_no_action_could_have_finds_nothing(app):
    make_action()
    for slug in ("\x00", "a\x00b", "UPPER", "a" * 5000, "../etc", "é", " ", ""):
        assert actions.get_action(slug) is None, slug
        assert actions.get_public_action(slug) is None, slug


def test_published_actions_are_listed_nearest_deadline_first_open_ended_last(app):
    today = date.today()
    later = make_action(deadline=today + timedelta(days=30))
    open_ended = make_action(deadline=None)
    soon = make_action(deadline=today + timedelta(days=2))
    middle = make_action(deadline=today + timedelta(days=10))
    make_action(publish=False, deadline=today + timedelta(days=1))
    closed = make_action(deadline=today + timedelta(days=1))
    actions.close_action(closed)
    assert [a.slug for a in actions.list_published()] == [
        soon.slug, middle.slug, later.slug, open_ended.slug]


def test_slugify_keeps_latin_letters_and_digits_and_drops_accents():
    assert actions.slugify("Free the journalists!") == "free-the-journalists"
    assert actions.slugify("  Libérez Ahmed — maintenant (2026) ") == (
        "liberez-ahmed-maintenant-2026")
    assert actions.slugify("Straße & Çağla") == "strae-cagla"  # what NFKD can't spell goes
    assert actions.slugify("آزادی برای روزنامه‌نگاران") == ""
    assert actions.slugify("a" * 100) == "a" * 80
    assert actions.slugify("word " * 30, 12) == "word-word-wo"


def test_suggest_slug_falls_back_for_other_scripts_and_avoids_taken_slugs(app):
    assert actions.suggest_slug("Free the journalists") == "free-the-journalists"
    make_action(slug="free-the-journalists")
    make_action(slug="free-the-journalists-2")
    assert actions.suggest_slug("Free the journalists") == "free-the-journalists-3"
    persian = actions.suggest_slug("آزادی برای روزنامه‌نگاران")
    assert re.fullmatch(r"action-\d{8}", persian)
    assert actions.SLUG_PATTERN.match(persian)
