"""Two-factor login: TOTP for admins (required) and organizers (optional), recovery codes,
reset by another admin, and the audit log."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from petitions.extensions import db
from petitions.models import AuditEntry, StaffSession, User, utcnow
from tests.accessibility import accessibility_problems
from tests.account_factories import (  # noqa: F401 - a fixture
    PASSWORD,
    cheap_password_hashing,
    current_code,
    enable_two_factor,
    log_in,
    make_user,
    raw_rows,
)
from tests.factories import csrf_token, field_error, fresh, parse_html, post_form

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

WRONG_CODE = "This code is not right. Please try again."


def _password(client: FlaskClient, user: User, url: str = "/login"):  # type: ignore[no-untyped-def]
    response = post_form(client, url, {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return response


def _code(client: FlaskClient, code: str, url: str = "/login/code"):  # type: ignore[no-untyped-def]
    return post_form(client, url, {"code": code})


def _verbs(user: User) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.object_type == "user", AuditEntry.object_id == str(user.id))
        .order_by(AuditEntry.id)))


def _csrf(client: FlaskClient) -> str:
    return csrf_token(client, "/console/")


def _wrong_code(secret: str) -> str:
    """A six-digit code that is none of those the server accepts now."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(utcnow())
    accepted = {totp.generate_otp(s) for s in range(step - 2, step + 3)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555")
                if c not in accepted)


def _secret_on_page(html: str) -> str:
    return parse_html(html).find(id="totp-secret").text.replace(" ", "")


# --- admins must enrol -------------------------------------------------------------------

def test_an_admin_without_two_factor_can_only_enrol_after_the_password(client):
    admin = make_user("admin")
    response = _password(client, admin, "/login?next=/admin/")
    assert urlsplit(response.headers["Location"]).path == "/login/two-factor"
    for page in ("/console/", "/admin/", "/account/password", "/account/two-factor"):
        assert urlsplit(client.get(page).headers["Location"]).path == "/login", page
    assert [r["stage"] for r in raw_rows("staff_sessions")] == ["enrol"]


def test_enrolment_shows_the_key_and_a_qr_code_without_scripts_or_caching(client):
    admin = make_user("admin", email="ada@example.org")
    enrol_url = _password(client, admin).headers["Location"]
    response = client.get(enrol_url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert accessibility_problems(html, 200) == []
    page = parse_html(html)
    secret = _secret_on_page(html)
    uri = page.find("input", id="totp-uri").get("value")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert "issuer=petitions.test" in uri
    [qr] = [i for i in page.find_all("img") if i.get("src", "").startswith("data:image/svg+xml")]
    assert qr.get("alt")
    assert page.find("script") is None or all(s.get("src") for s in page.find_all("script"))
    # The same key on a reload: an app that scanned the first page still works.
    assert _secret_on_page(client.get(enrol_url).get_data(as_text=True)) == secret
    # Stored encrypted, never in clear.
    [row] = raw_rows("users")
    assert secret.encode() not in bytes(row["totp_secret"])


def test_a_wrong_first_code_is_shown_next_to_the_field_with_the_input_kept(client):
    admin = make_user("admin")
    enrol_url = _password(client, admin).headers["Location"]
    wrong = _wrong_code(_secret_on_page(client.get(enrol_url).get_data(as_text=True)))
    response = _code(client, wrong, enrol_url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "code") == WRONG_CODE
    assert parse_html(html).find("input", name="code").get("value") == wrong
    assert accessibility_problems(html, 422) == []
    assert client.get("/admin/").status_code == 302


def test_enrolling_logs_the_admin_in_and_shows_ten_recovery_codes_once(client):
    admin = make_user("admin")
    enrol_url = _password(client, admin, "/login?next=/admin/").headers["Location"]
    secret = _secret_on_page(client.get(enrol_url).get_data(as_text=True))
    response = _code(client, pyotp.TOTP(secret).now(), enrol_url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = parse_html(response.get_data(as_text=True))
    codes = [c.text for c in page.find("ul", class_="recovery-codes").find_all("code")]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert page.find("a", href="/admin/") is not None
    assert client.get("/admin/").status_code == 200
    assert fresh(User, admin.id).has_two_factor
    assert _verbs(admin)[-1] == "user.two_factor.enrol"
    rows = raw_rows("staff_recovery_codes")
    assert len(rows) == 10
    assert not any(code.replace("-", "") in str(rows) or code in str(rows) for code in codes)
    assert [r["stage"] for r in raw_rows("staff_sessions")] == ["active"]


# --- logging in with a code --------------------------------------------------------------

@pytest.fixture
def enrolled_admin(app) -> tuple[User, list[str]]:  # type: ignore[no-untyped-def]
    admin = make_user("admin", email="ada@example.org")
    return admin, enable_two_factor(admin)


def test_after_the_password_an_enrolled_user_is_asked_for_a_code(client, enrolled_admin):
    admin, _ = enrolled_admin
    response = _password(client, admin, "/login?next=/admin/audit")
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login/code"
    assert client.get("/admin/").status_code == 302  # not logged in yet
    page = client.get(response.headers["Location"])
    assert accessibility_problems(page.get_data(as_text=True), 200) == []
    done = _code(client, current_code(admin), response.headers["Location"])
    assert done.status_code == 302 and done.headers["Location"] == "/admin/audit"
    assert client.get("/admin/").status_code == 200


def test_a_code_is_accepted_only_once(app, enrolled_admin):
    admin, _ = enrolled_admin
    first, second = app.test_client(), app.test_client()
    code = current_code(admin)
    _password(first, admin)
    assert _code(first, code).status_code == 302
    _password(second, admin)
    replayed = _code(second, code)
    assert replayed.status_code == 422
    assert field_error(replayed.get_data(as_text=True), "code") == WRONG_CODE
    assert second.get("/admin/").status_code == 302


def test_every_wrong_code_gets_the_same_answer_next_to_the_field(client, enrolled_admin):
    admin, codes = enrolled_admin
    _password(client, admin)
    assert _code(client, codes[0]).status_code == 302
    client.post("/logout", data={"csrf_token": _csrf(client)})
    _password(client, admin)
    wrong_totp = _wrong_code(fresh(User, admin.id).totp_secret)
    for attempt in (wrong_totp, codes[0], "abcd-efgh-jkmn", "not a code at all"):
        response = _code(client, attempt)
        assert response.status_code == 422, attempt
        html = response.get_data(as_text=True)
        assert field_error(html, "code") == WRONG_CODE
        assert parse_html(html).find("input", name="code").get("value") == attempt


def test_an_empty_code_is_shown_next_to_the_field(client, enrolled_admin):
    _password(client, enrolled_admin[0])
    response = _code(client, "")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "code") == "Please enter the code."


def test_a_recovery_code_works_once_and_is_audited(app, enrolled_admin):
    admin, codes = enrolled_admin
    first, second = app.test_client(), app.test_client()
    _password(first, admin)
    assert _code(first, codes[3].upper().replace("-", " ")).status_code == 302
    assert first.get("/admin/").status_code == 200
    _password(second, admin)
    assert _code(second, codes[3]).status_code == 422
    assert _verbs(admin)[-1] == "user.two_factor.recovery_code"
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "user.two_factor.recovery_code"))
    assert entry.after == {"codes_left": 9}
    assert sum(r["used_at"] is not None for r in raw_rows("staff_recovery_codes")) == 1


def test_too_many_wrong_codes_end_the_login(client, enrolled_admin):
    admin, _ = enrolled_admin
    _password(client, admin)
    token = csrf_token(client, "/login/code")
    for _ in range(4):
        assert _code(client, "not the code").status_code == 422
    response = _code(client, "not the code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert raw_rows("staff_sessions") == []
    # Even the right code does nothing now: the password comes first again.
    again = client.post("/login/code", data={"code": current_code(admin), "csrf_token": token})
    assert again.status_code == 302 and again.headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302


def test_a_login_waiting_for_its_code_runs_out(client, enrolled_admin):
    admin, _ = enrolled_admin
    _password(client, admin)
    token = csrf_token(client, "/login/code")
    db.session.execute(update(StaffSession).values(created_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    response = client.post("/login/code", data={"code": current_code(admin), "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302


def test_the_code_page_without_a_password_first_sends_to_the_login(client):
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/login/two-factor").headers["Location"] == "/login"


# --- organizers may enrol ----------------------------------------------------------------

def test_an_organizer_logs_in_with_the_password_alone_until_they_enrol(app, client):
    organizer = make_user()
    log_in(client, organizer)
    assert not fresh(User, organizer.id).has_two_factor
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    secret = _secret_on_page(page.get_data(as_text=True))
    response = _code(client, pyotp.TOTP(secret).now(), "/account/two-factor")
    assert response.status_code == 200
    assert len(parse_html(response.get_data(as_text=True)).find(
        "ul", class_="recovery-codes").find_all("code")) == 10
    assert "10 unused recovery codes" in client.get("/account/two-factor").get_data(as_text=True)
    assert _verbs(organizer)[-1] == "user.two_factor.enrol"

    other = app.test_client()
    response = _password(other, organizer)
    assert urlsplit(response.headers["Location"]).path == "/login/code"
    assert _code(other, current_code(organizer)).status_code == 302
    assert other.get("/console/").status_code == 200


def test_the_console_links_to_the_two_factor_page(client):
    log_in(client, make_user())
    nav = parse_html(client.get("/console/").get_data(as_text=True)).find("nav")
    assert nav.find("a", href="/account/two-factor") is not None


# --- reset by another admin --------------------------------------------------------------

def test_another_admin_resets_two_factor_and_it_is_audited(app, client, enrolled_admin):
    lost_phone, _ = enrolled_admin
    their_browser = app.test_client()
    log_in(their_browser, lost_phone)
    helper = make_user("admin")
    log_in(client, helper)
    page = client.get(f"/admin/users/{lost_phone.id}")
    assert parse_html(page.get_data(as_text=True)).find(
        "a", href=f"/admin/users/{lost_phone.id}/two-factor/reset") is not None
    url = f"/admin/users/{lost_phone.id}/two-factor/reset"
    assert client.get(url).status_code == 200
    response = post_form(client, url, {})
    assert response.status_code == 303

    user = fresh(User, lost_phone.id)
    assert not user.has_two_factor and user.totp_secret is None
    assert [r for r in raw_rows("staff_recovery_codes") if r["user_id"] == user.id] == []
    assert their_browser.get("/admin/").status_code == 302  # logged out everywhere
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "user.two_factor.reset"))
    assert entry.actor_id == helper.id and entry.object_id == str(user.id)
    # Their next login asks them to enrol again.
    again = _password(app.test_client(), user)
    assert urlsplit(again.headers["Location"]).path == "/login/two-factor"


def test_nobody_resets_their_own_two_factor(client, enrolled_admin):
    admin, _ = enrolled_admin
    log_in(client, admin)
    url = f"/admin/users/{admin.id}/two-factor/reset"
    assert client.get(url).status_code == 409
    response = client.post(url, data={"csrf_token": _csrf(client)})
    assert response.status_code == 409
    assert fresh(User, admin.id).has_two_factor


def test_an_organizer_cannot_reset_anyones_two_factor(client, enrolled_admin):
    admin, _ = enrolled_admin
    log_in(client, make_user())
    response = client.post(f"/admin/users/{admin.id}/two-factor/reset",
                           data={"csrf_token": _csrf(client)})
    assert response.status_code == 403
    assert fresh(User, admin.id).has_two_factor


def test_the_command_line_resets_two_factor_for_a_lone_admin(app, runner, enrolled_admin):
    admin, _ = enrolled_admin
    browser = app.test_client()
    log_in(browser, admin)
    result = runner.invoke(args=["users", "reset-two-factor", admin.email.upper()])
    assert result.exit_code == 0, result.output
    assert admin.email not in result.output
    assert not fresh(User, admin.id).has_two_factor
    assert browser.get("/admin/").status_code == 302
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "user.two_factor.reset"))
    assert entry.via == "cli" and entry.actor_id is None
    unknown = runner.invoke(args=["users", "reset-two-factor", "nobody@example.org"])
    assert unknown.exit_code != 0 and "no user" in unknown.output
