"""The accounts service: users, passwords, the login lock, roles and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import g
from sqlalchemy import select, text
from werkzeug.exceptions import Forbidden, NotFound

from petitions.auth.access import managed_action_or_abort, token_required
from petitions.extensions import db
from petitions.models import (
    ApiToken,
    AuditEntry,
    OutboundEmail,
    OutboxKind,
    Scope,
    User,
    utcnow,
)
from petitions.services import accounts, mail, staff_sessions
from tests.account_factories import (  # noqa: F401 - a fixture
    PASSWORD,
    cheap_password_hashing,
    make_user,
    raw_rows,
)
from tests.factories import fresh, make_action

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def slow_after_three(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES", 3)
    monkeypatch.setitem(app.config, "LOGIN_MAX_DELAY_SECONDS", 30)
    monkeypatch.setitem(app.config, "LOGIN_ALERT_FAILURES", 1000)


class Clock:
    """``accounts.utcnow``, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    fake = Clock()
    monkeypatch.setattr(accounts, "utcnow", fake)
    return fake


ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


def _fail(address: str, times: int, client: str = ATTACKER) -> list[int | None]:
    """Wrong passwords from ``client``; the wait each answer imposes."""
    waits = []
    for _ in range(times):
        result = accounts.authenticate(address, "not the password at all", client=client)
        assert result.user is None
        waits.append(result.retry_after)
    return waits


# --- users and passwords -----------------------------------------------------------------

def test_password_is_stored_only_as_an_argon2id_hash(app):
    user = make_user("admin", email="Keeper@Example.org")
    [row] = raw_rows("users")
    assert row["id"] == user.id
    assert row["password_hash"].startswith("$argon2id$")
    for value in row.values():
        assert PASSWORD not in str(value)
        assert "keeper@example.org" not in str(value).lower()


def test_the_application_hashes_with_argon2id_at_recommended_costs(
        cheap_password_hashing):  # noqa: F811 - the fixture, imported above
    """At least the RFC 9106 second recommended option (64 MiB, 3 passes)."""
    real = cheap_password_hashing
    parameters = real.hash(PASSWORD).split("$")[3]
    cost = dict(part.split("=") for part in parameters.split(","))
    assert real.type.name == "ID"
    assert int(cost["m"]) >= 65536 and int(cost["t"]) >= 3


def test_create_user_keeps_role_and_finds_by_email_in_any_case(app):
    user = make_user("organizer", email="Amal@Example.org", name="Amal")
    found = accounts.find_user("  amal@EXAMPLE.org ")
    assert found is not None and found.id == user.id
    assert found.role == "organizer" and not found.is_admin and found.active
    assert make_user("admin").is_admin


def test_create_user_refuses_a_second_account_for_the_same_address(app):
    make_user(email="twice@example.org")
    with pytest.raises(accounts.AccountError, match="exists already"):
        make_user(email="TWICE@example.org")
    assert len(accounts.list_users()) == 1


def test_create_user_refuses_a_duplicate_only_the_database_sees(app, monkeypatch):
    """Two requests creating the same address at once: the unique digest decides."""
    make_user(email="race@example.org")
    monkeypatch.setattr(accounts, "find_user", lambda address: None)
    with pytest.raises(accounts.AccountError, match="exists already"):
        make_user(email="race@example.org")
    assert len(raw_rows("users")) == 1


@pytest.mark.parametrize(("address", "role", "password", "message"), [
    ("short@example.org", "organizer", "elevenchars", "at least 12 characters"),
    ("not an address", "organizer", PASSWORD, "email address"),
])
def test_create_user_refuses_bad_input(app, address, role, password, message):
    with pytest.raises(accounts.AccountError, match=message):
        accounts.create_user(address, role, password=password)
    assert accounts.list_users() == []


def test_create_user_refuses_an_unknown_role(app):
    with pytest.raises(ValueError, match="superuser"):
        accounts.create_user("role@example.org", "superuser", password=PASSWORD)
    assert accounts.list_users() == []


def test_create_user_is_audited_without_the_address(app):
    admin = make_user("admin")
    user = make_user("organizer", email="audited@example.org", actor=admin)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == str(user.id)))
    assert entry is not None and entry.verb == "user.create" and entry.actor_id == admin.id
    assert "audited" not in str(entry.after)


# --- logging in and the throttle ----------------------------------------------------------

def test_authenticate_accepts_the_right_password_only(app):
    user = make_user(email="right@example.org")
    assert accounts.authenticate("right@example.org", "wrong password, long").user is None
    result = accounts.authenticate("Right@Example.org", PASSWORD)
    assert result.user is not None and result.user.id == user.id
    assert fresh(User, user.id).last_login_at is not None


def test_unknown_address_and_invalid_input_are_just_a_failed_login(app):
    for address in ("nobody@example.org", "not an address", ""):
        result = accounts.authenticate(address, PASSWORD)
        assert result.user is None and result.retry_after is None


def test_failures_from_one_client_do_not_stop_the_owner_elsewhere(app, slow_after_three,
                                                                   clock):
    """The old lock: five wrong passwords from anywhere locked the owner out everywhere."""
    user = make_user(email="targeted@example.org")
    _fail("targeted@example.org", 10)
    result = accounts.authenticate("targeted@example.org", PASSWORD, client=OWNER)
    assert result.user is not None and result.user.id == user.id
    # ...and the attacker is still being made to wait.
    assert accounts.authenticate("targeted@example.org", PASSWORD,
                                 client=ATTACKER).retry_after


def test_a_failing_client_waits_longer_and_longer_and_is_not_checked_meanwhile(
        app, slow_after_three, clock):
    make_user(email="slowed@example.org")
    assert _fail("slowed@example.org", 3) == [None, None, 2]
    # While it waits, not even the right password is tried.
    early = accounts.authenticate("slowed@example.org", PASSWORD, client=ATTACKER)
    assert early.user is None and early.retry_after == 2
    waits = []
    for _ in range(5):
        clock.advance(waits[-1] if waits else 2)
        [wait] = _fail("slowed@example.org", 1)
        waits.append(wait)
    assert waits == [4, 8, 16, 30, 30]  # doubling, up to LOGIN_MAX_DELAY_SECONDS
    clock.advance(30)
    assert accounts.authenticate("slowed@example.org", PASSWORD,
                                 client=ATTACKER).user is not None


def test_an_unknown_address_is_slowed_like_an_account(app, slow_after_three, clock):
    make_user(email="exists@example.org")
    assert _fail("exists@example.org", 5) == _fail("nobody@example.org", 5) == [
        None, None, 2, 2, 2]
    rows = raw_rows("login_throttles")
    assert len(rows) == 2
    for row in rows:
        assert ATTACKER not in str(row) and "example.org" not in str(row)


def test_a_successful_login_forgives_its_own_client_only(app, slow_after_three, clock):
    make_user(email="reset@example.org")
    _fail("reset@example.org", 2, client=OWNER)
    _fail("reset@example.org", 2)
    assert accounts.authenticate("reset@example.org", PASSWORD, client=OWNER).user is not None
    assert _fail("reset@example.org", 2, client=OWNER) == [None, None]
    assert _fail("reset@example.org", 1) == [2]


def test_an_ipv6_client_is_its_64(app, slow_after_three, clock):
    """Hopping addresses within the /64 a machine holds gains no fresh attempts."""
    make_user(email="hopped@example.org")
    waits = [_fail("hopped@example.org", 1, client=f"2001:db8:1:2::{n}")[0] for n in range(4)]
    assert waits == [None, None, 2, 2]
    assert _fail("hopped@example.org", 1, client="2001:db8:1:3::1") == [None]


def test_failures_are_forgotten_after_a_day(app, slow_after_three, clock):
    make_user(email="patient@example.org")
    _fail("patient@example.org", 3)
    clock.advance(24 * 3600 + 1)
    assert _fail("patient@example.org", 2) == [None, None]
    # ...and the old rows are gone, here on a successful login.
    clock.advance(24 * 3600 + 1)
    assert accounts.authenticate("patient@example.org", PASSWORD, client=OWNER).user
    assert raw_rows("login_throttles") == []


def test_failures_made_at_the_same_time_all_count(app, slow_after_three, clock, monkeypatch):
    """Two wrong passwords tried in parallel both count: the counter is increased in the
    database, not from a value this request read before checking the password."""
    make_user(email="parallel@example.org")
    verify = accounts._verify
    parallel = []

    def verify_while_another_attempt_fails(password_hash: str, password: str) -> bool:
        if not parallel:
            parallel.append(True)
            with db.engine.begin() as other:
                other.execute(text("UPDATE login_throttles SET failures = failures + 1"))
        return verify(password_hash, password)

    _fail("parallel@example.org", 1)
    monkeypatch.setattr(accounts, "_verify", verify_while_another_attempt_fails)
    assert _fail("parallel@example.org", 1) == [2]
    assert raw_rows("login_throttles")[0]["failures"] == 3


def _login_alerts() -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail)
                                   .where(OutboundEmail.kind == OutboxKind.LOGIN_ALERT)))


def test_the_owner_gets_one_alert_when_their_account_is_attacked(app, slow_after_three,
                                                                  clock, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_ALERT_FAILURES", 6)
    user = make_user(email="watched@example.org")
    _fail("nobody@example.org", 10)  # no account, nobody to tell
    for client in ("203.0.113.1", "203.0.113.2"):
        _fail("watched@example.org", 2, client=client)
    assert _login_alerts() == []
    _fail("watched@example.org", 2, client="203.0.113.3")
    for client in ("203.0.113.4", "203.0.113.5", "203.0.113.6"):
        _fail("watched@example.org", 3, client=client)
    [alert] = _login_alerts()
    message = mail.build_message(alert)
    assert message["To"].addresses[0].addr_spec == user.email
    body = message.get_body(("plain",)).get_content()
    assert "6 times" in body
    assert "203.0.113" not in message.as_string()
    clock.advance(3 * 3600)  # later the same day: no second email
    _fail("watched@example.org", 3, client="203.0.113.7")
    _fail("watched@example.org", 3, client="203.0.113.8")
    assert len(_login_alerts()) == 1


def test_a_deactivated_user_cannot_log_in(app):
    admin = make_user("admin")
    user = make_user(email="gone@example.org")
    accounts.update_user(user, actor=admin, active=False)
    assert accounts.authenticate("gone@example.org", PASSWORD).user is None


def test_a_user_without_a_password_cannot_log_in(app):
    accounts.create_user("nopassword@example.org", "organizer")
    assert accounts.authenticate("nopassword@example.org", "").user is None
    assert accounts.authenticate("nopassword@example.org", PASSWORD).user is None


# --- password changes and sessions -------------------------------------------------------

def test_change_password_needs_the_current_one(app):
    user = make_user()
    with pytest.raises(accounts.AccountError, match="current password"):
        accounts.change_password(user, "not the current one", "a brand new passphrase")
    assert accounts.authenticate(user.email, PASSWORD).user is not None


def test_change_password_refuses_a_short_new_one(app):
    user = make_user()
    with pytest.raises(accounts.AccountError, match="at least 12"):
        accounts.change_password(user, PASSWORD, "short")
    assert accounts.authenticate(user.email, PASSWORD).user is not None


def test_change_password_replaces_the_hash_and_ends_older_sessions(app):
    user = make_user()
    old_session = staff_sessions.start(user)
    accounts.change_password(user, PASSWORD, "a brand new passphrase")
    assert accounts.authenticate(user.email, PASSWORD).user is None
    assert accounts.authenticate(user.email, "a brand new passphrase").user is not None
    assert staff_sessions.load_session_user(old_session) is None
    assert staff_sessions.load_session_user(staff_sessions.start(user)).id == user.id
    assert raw_rows("users")[0]["password_hash"].startswith("$argon2id$")


def test_session_loader_refuses_old_versions_deactivated_users_and_garbage(app):
    admin = make_user("admin")
    user = make_user()
    session_id = staff_sessions.start(user)
    assert staff_sessions.load_session_user(session_id).id == user.id
    for garbage in ("", "abc", str(user.id), f"{user.id}:{user.session_version}",
                    session_id[:-1], session_id + "x", "x" * 1000):
        assert staff_sessions.load_session_user(garbage) is None
    accounts.update_user(user, actor=admin, active=False)
    assert staff_sessions.load_session_user(session_id) is None
    assert raw_rows("staff_sessions") == []


def test_nobody_changes_their_own_role_or_deactivates_themselves(app):
    admin = make_user("admin")
    with pytest.raises(accounts.AccountError):
        accounts.update_user(admin, actor=admin, role="organizer")
    with pytest.raises(accounts.AccountError):
        accounts.update_user(admin, actor=admin, active=False)
    admin = fresh(User, admin.id)
    assert admin.is_admin and admin.active


# --- who manages which action ------------------------------------------------------------

def test_admins_manage_every_action_organizers_only_theirs(app):
    admin = make_user("admin")
    amal, omar = make_user(), make_user()
    theirs = make_action(organizers=[amal])
    other = make_action(organizers=[omar])
    unassigned = make_action()
    assert accounts.can_manage(admin, theirs) and accounts.can_manage(admin, unassigned)
    assert accounts.can_manage(amal, theirs)
    assert not accounts.can_manage(amal, other) and not accounts.can_manage(amal, unassigned)
    assert [a.id for a in accounts.managed_actions(amal)] == [theirs.id]
    assert {a.id for a in accounts.managed_actions(admin)} == {theirs.id, other.id,
                                                               unassigned.id}


# --- API tokens --------------------------------------------------------------------------

def test_a_token_finds_its_user_and_is_stored_only_as_a_digest(app):
    user = make_user()
    record, token = accounts.create_token(user, name="newsroom")
    assert token.startswith(accounts.TOKEN_PREFIX) and len(token) > 40
    assert accounts.user_for_token(token).id == user.id
    assert fresh(ApiToken, record.id).last_used_at is not None
    [row] = raw_rows("api_tokens")
    for value in row.values():
        assert token not in str(value)
        assert token[len(accounts.TOKEN_PREFIX):] not in str(value)


def test_a_revoked_token_stops_working(app):
    admin = make_user("admin")
    record, token = accounts.create_token(make_user())
    accounts.revoke_token(record, actor=admin)
    assert accounts.user_for_token(token) is None


def test_the_token_of_a_deactivated_user_stops_working(app):
    admin = make_user("admin")
    user = make_user()
    _, token = accounts.create_token(user)
    accounts.update_user(user, actor=admin, active=False)
    assert accounts.user_for_token(token) is None


def test_tokens_that_are_not_ours_find_nobody(app):
    _, token = accounts.create_token(make_user())
    secret = token[len(accounts.TOKEN_PREFIX):]
    for garbage in ("", "pt_", secret, "xx_" + secret, token[:-1], token + "a", token.upper(),
                    "pt_" + "a" * 300, "pt_\x00", "Bearer " + token):
        assert accounts.user_for_token(garbage) is None


def test_list_tokens_of_a_user(app):
    amal, omar = make_user(), make_user()
    mine, _ = accounts.create_token(amal, name="mine")
    accounts.create_token(omar, name="theirs")
    assert [t.id for t in accounts.list_tokens(amal)] == [mine.id]
    assert len(accounts.list_tokens()) == 2


# --- the checks views make (petitions/auth/access.py) ------------------------------------

def _call_with_token(app, view, token: str | None, scheme: str = "Bearer"):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    with app.test_request_context("/api/v1/anything", headers=headers):
        g.pop("api_user", None)
        result = view()
        return result, g.get("api_user")


def test_token_required_lets_in_the_token_owner_only(app):
    user = make_user()
    _, token = accounts.create_token(user)
    view = token_required(Scope.READ)(lambda: "let in")
    assert _call_with_token(app, view, token) == ("let in", user)
    assert _call_with_token(app, view, token, scheme="bearer") == ("let in", user)
    for token_given, scheme in ((None, "Bearer"), ("", "Bearer"), (token, "Basic"),
                                ("pt_not-a-token", "Bearer")):
        (response, status), api_user = _call_with_token(app, view, token_given, scheme)
        assert status == 401 and api_user is None
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert "API token" in response.json["error"]["message"]


def test_token_required_for_admins_refuses_an_organizer(app):
    organizer, admin = make_user(), make_user("admin")
    view = token_required(Scope.WRITE, admin=True)(lambda: "let in")
    (response, status), _ = _call_with_token(app, view, accounts.create_token(organizer)[1])
    assert status == 403 and response.json["error"]["status"] == 403
    assert _call_with_token(app, view, accounts.create_token(admin)[1])[0] == "let in"


def test_token_required_refuses_a_token_without_the_scope(app):
    user = make_user()
    _, reader = accounts.create_token(user, scopes=["read"])
    _, exporter = accounts.create_token(user, scopes=["export", "read"])
    export_view = token_required(Scope.EXPORT)(lambda: "exported")
    (response, status), api_user = _call_with_token(app, export_view, reader)
    assert status == 403 and api_user is None
    assert response.json["error"]["message"] == "This API token lacks the “export” scope."
    assert _call_with_token(app, export_view, exporter) == ("exported", user)
    (_, status), _ = _call_with_token(app, token_required(Scope.WRITE)(lambda: "x"), exporter)
    assert status == 403


def test_token_required_refuses_an_expired_token(app, monkeypatch):
    user = make_user()
    record, token = accounts.create_token(user, expires_days=30)
    assert timedelta(days=29) < record.expires_at - utcnow() <= timedelta(days=30)
    view = token_required(Scope.READ)(lambda: "let in")
    assert _call_with_token(app, view, token)[0] == "let in"
    record = fresh(ApiToken, record.id)
    record.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    (response, status), api_user = _call_with_token(app, view, token)
    assert status == 401 and api_user is None
    assert "expired" in response.json["error"]["message"]
    assert accounts.user_for_token(token) is None


def test_tokens_last_api_token_days_and_have_every_scope_unless_told(app, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_DAYS", 7)
    record, _ = accounts.create_token(make_user())
    assert record.scope_list == [Scope.READ, Scope.EXPORT, Scope.WRITE]
    assert timedelta(days=6) < record.expires_at - utcnow() <= timedelta(days=7)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.verb == "token.create"))
    assert entry.after["scopes"] == "read export write"


@pytest.mark.parametrize(("scopes", "days", "message"), [
    ([], None, "at least one scope"), (["admin"], None, "Unknown scope"),
    (["read"], 0, "from 1 to"), (["read"], 100000, "from 1 to")])
def test_create_token_refuses_bad_scopes_and_lifetimes(app, scopes, days, message):
    with pytest.raises(accounts.AccountError, match=message):
        accounts.create_token(make_user(), scopes=scopes, expires_days=days)
    assert raw_rows("api_tokens") == []


def test_managed_action_or_abort(app):
    admin, amal, omar = make_user("admin"), make_user(), make_user()
    action = make_action(organizers=[amal])
    assert managed_action_or_abort(action.slug, amal).id == action.id
    assert managed_action_or_abort(action.slug, admin).id == action.id
    with pytest.raises(Forbidden):
        managed_action_or_abort(action.slug, omar)
    for missing in ("no-such-action", "x" * 200, "bad\x00slug"):
        with pytest.raises(NotFound):
            managed_action_or_abort(missing, admin)
