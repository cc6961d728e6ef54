"""Languages: how a page's language is chosen, right-to-left layout, complete
catalogues, and actions that carry their own texts in several languages."""

from __future__ import annotations

import pytest

from petitions.extensions import db
from petitions.i18n import LANGUAGES
from petitions.services import accounts, audit
from tests.account_factories import log_in
from tests.conftest import body_text
from tests.factories import deliver_pending_mail, form_data, make_action, parse_html, post_form
from tests.i18n_support import (
    SHIPPED,
    TRANSLATIONS,
    compile_catalogs,
    placeholders,
    po_path,
    problems,
    read_catalog,
)


@pytest.fixture(scope="module", autouse=True)
def _catalogs() -> None:
    compile_catalogs()


def _html(response) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    page = parse_html(response.get_data(as_text=True))
    html = page.find("html")
    button = page.find("button", type="submit")
    return html.get("lang"), html.get("dir"), button.text.strip() if button else ""


@pytest.mark.parametrize(("lang", "direction", "sign"), [
    ("en", "ltr", "Sign"), ("fr", "ltr", "Signer"), ("de", "ltr", "Unterschreiben"),
    ("it", "ltr", "Firma"), ("es", "ltr", "Firmar"), ("fa", "rtl", "امضا"),
    ("ar", "rtl", "وقّع"),
])
def test_lang_parameter_chooses_the_language_and_direction(client, lang, direction, sign):
    action = make_action()
    response = client.get(f"/actions/{action.slug}?lang={lang}")
    assert response.status_code == 200
    assert _html(response) == (lang, direction, sign)


def test_the_choice_is_kept_in_a_cookie_and_beats_accept_language(client):
    action = make_action()
    response = client.get(f"/actions/{action.slug}?lang=fa")
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "fa"
    assert "httponly" in response.headers["Set-Cookie"].lower()
    later = client.get(f"/actions/{action.slug}", headers={"Accept-Language": "de"})
    assert _html(later)[:2] == ("fa", "rtl")
    # A new ?lang= wins over the cookie, and replaces it.
    client.get(f"/actions/{action.slug}?lang=it")
    assert client.get_cookie("lang").value == "it"


def test_accept_language_is_used_without_a_choice(client):
    action = make_action()
    response = client.get(f"/actions/{action.slug}",
                          headers={"Accept-Language": "nl;q=0.9, es;q=0.8, en;q=0.5"})
    assert _html(response)[:2] == ("es", "ltr")
    response = client.get(f"/actions/{action.slug}", headers={"Accept-Language": "nl"})
    assert _html(response)[:2] == ("en", "ltr")


def test_an_unknown_language_is_ignored(client):
    action = make_action()
    response = client.get(f"/actions/{action.slug}?lang=xx",
                          headers={"Accept-Language": "fr"})
    assert _html(response)[:2] == ("fr", "ltr")
    assert client.get_cookie("lang") is None


def test_every_page_offers_every_language_keeping_its_parameters(client):
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}?source=news&lang=de")
                      .get_data(as_text=True))
    picker = page.find("nav", class_="language-picker")
    links = {a.get("lang"): a for a in picker.find_all("a")}
    assert set(links) == set(LANGUAGES)
    assert links["fa"].get("href") == f"/actions/{action.slug}?source=news&lang=fa"
    assert links["de"].get("aria-current") == "true"
    assert links["fa"].text.strip() == "فارسی"


def test_error_pages_and_form_errors_are_translated(client):
    response = client.get("/no/such/page?lang=de")
    assert response.status_code == 404
    assert parse_html(response.get_data(as_text=True)).find("h1").text == "Seite nicht gefunden"
    action = make_action()
    response = post_form(client, f"/actions/{action.slug}?lang=fr",
                         form_data(first_name=""))
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    assert page.find("p", id="first_name-error").text.strip() == "Veuillez indiquer votre prénom."


def test_the_confirmation_email_is_in_the_signers_language(client, mailbox):
    action = make_action()
    response = post_form(client, f"/actions/{action.slug}?lang=fa",
                         form_data(email="leila@example.org"))
    assert response.status_code == 303
    deliver_pending_mail()
    [message] = mailbox.wait_for(1)
    text = body_text(message)
    assert "امضای" in str(message["Subject"]) or "امضای" in text
    assert "Please confirm" not in str(message["Subject"])


def test_an_action_shows_its_own_text_in_the_chosen_language(client):
    action = make_action(title="Free the journalists", demands=["Release them."])
    action.translations = {"fa": {"title": "روزنامه‌نگاران را آزاد کنید",
                                  "summary": "خلاصه", "body": "متن **درخواست**",
                                  "demands": "آزادشان کنید.\nمحاکمه را متوقف کنید."}}  # noqa: RUF001
    db.session.commit()
    page = parse_html(client.get(f"/actions/{action.slug}?lang=fa").get_data(as_text=True))
    title = page.find("h1")
    assert title.text.strip() == "روزنامه‌نگاران را آزاد کنید"
    assert (title.get("lang"), title.get("dir")) == ("fa", "rtl")
    appeal = page.find("section", class_="appeal")
    assert appeal.find("strong").text == "درخواست"
    assert [li.text for li in appeal.find("ol", class_="demands").find_all("li")] == [
        "آزادشان کنید.", "محاکمه را متوقف کنید."]
    assert page.find("meta", property="og:title").get("content") == title.text.strip()

    # Without a translation for the language, the action's own text, marked as English
    # (and left to right) inside the French page.
    page = parse_html(client.get(f"/actions/{action.slug}?lang=fr").get_data(as_text=True))
    title = page.find("h1")
    assert title.text.strip() == "Free the journalists"
    assert (title.get("lang"), title.get("dir")) == ("en", "ltr")
    assert page.find("html").get("lang") == "fr"


@pytest.mark.parametrize("language", SHIPPED)
def test_every_catalogue_is_complete(language):
    template = read_catalog(TRANSLATIONS / "messages.pot")
    catalog = read_catalog(po_path(language))
    expected = {m.id for m in template if m.id}
    present = {m.id for m in catalog if m.id}
    assert expected - present == set(), "msgids missing: run `make messages`"
    wrong = {str(m.id): problems(m, catalog.num_plurals) for m in catalog if m.id}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_completeness_check_catches_bad_translations():
    from babel.messages.catalog import Message

    assert problems(Message("Hello %(name)s", "Salut"), 2) == [
        "placeholders [] instead of ['%(name)s']"]
    assert problems(Message("Hello", ""), 2) == ["untranslated"]
    assert problems(Message("Hello", "Salut", flags=["fuzzy"]), 2) == ["fuzzy"]
    assert problems(Message(("%(num)d day", "%(num)d days"), ("%(num)d jour",)), 2) == [
        "1 plural forms instead of 2"]
    assert placeholders("100%% of %(goal)s") == ["%%", "%(goal)s"]


def _log_in_as_admin(client) -> None:  # type: ignore[no-untyped-def]
    admin = accounts.create_user("admin@example.org", "admin", password="long enough password")
    log_in(client, admin, "long enough password")


def test_an_admin_writes_an_actions_texts_in_other_languages(client):
    action = make_action(title="Free the journalists")
    _log_in_as_admin(client)
    url = f"/admin/actions/{action.slug}/translations"
    page = parse_html(client.get(url).get_data(as_text=True))
    # One set of fields for each shipped language but the action's own, typed in
    # that language's direction.
    titles = {i.get("id"): i for i in page.find_all("input") if i.get("id", "").endswith("title")}
    assert set(titles) == {f"{code}-title" for code in LANGUAGES if code != "en"}
    assert (titles["fa-title"].get("lang"), titles["fa-title"].get("dir")) == ("fa", "rtl")
    assert page.find("label", **{"for": "fa-body"})

    response = post_form(client, url, {
        "fa-title": "  روزنامه‌نگاران را آزاد کنید ", "fa-summary": "خلاصه",
        "fa-body": "متن", "fa-demands": "آزادشان کنید.",
        "de-title": "", "de-summary": "ignored without a title"})
    assert response.status_code == 303
    db.session.refresh(action)
    assert action.translations == {"fa": {"title": "روزنامه‌نگاران را آزاد کنید",
                                          "summary": "خلاصه", "body": "متن",
                                          "demands": "آزادشان کنید."}}
    [entry] = audit.entries(audit.AuditFilter(verb="action.translations"))
    assert entry.object_id == str(action.id)
    assert entry.actor.email == "admin@example.org"
    page = parse_html(client.get(f"/actions/{action.slug}?lang=fa").get_data(as_text=True))
    assert page.find("h1").text.strip() == "روزنامه‌نگاران را آزاد کنید"


def test_translations_are_checked_and_only_for_admins(client):
    action = make_action()
    url = f"/admin/actions/{action.slug}/translations"
    assert client.get(url).status_code == 302  # to the login page
    _log_in_as_admin(client)
    response = post_form(client, url, {"fa-title": "x" * 201})
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    assert page.find("p", id="fa-title-error").get("role") == "alert"
    assert client.get("/admin/actions/no-such-action/translations").status_code == 404


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"email": "not-an-email"}, "email", "Ce n’est pas une adresse e-mail valide."),  # noqa: RUF001
    ({"first_name": "!!!"}, "first_name",
     "Veuillez indiquer un nom, pas seulement de la ponctuation ou des symboles."),
    # WTForms' own checks speak French too (its catalogues, through Flask-WTF).
    ({"postcode": "1" * 21}, "postcode", "Le champ ne peut pas contenir plus de 20 caractères."),
])
def test_the_signing_rules_speak_the_readers_language(client, overrides, field, message):
    action = make_action()
    response = post_form(client, f"/actions/{action.slug}?lang=fr", form_data(**overrides))
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    assert page.find("p", id=f"{field}-error").text.strip() == message
