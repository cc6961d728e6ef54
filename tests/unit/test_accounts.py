"""The accounts service: users, passwords, the login lock, roles and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select, text
from werkzeug.exceptions import Forbidden, NotFound

from petitions.auth.access import managed_action_or_abort, token_required
from petitions.extensions import db
from petitions.models import ApiToken, AuditEntry, User, utcnow
from petitions.services import accounts, staff_sessions
from tests.account_factories import (  # noqa: F401 - a fixture
    PASSWORD,
    cheap_password_hashing,
    make_user,
    raw_rows,
)
from tests.factories import fresh, make_action

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def lock_after_three(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 3)
    monkeypatch.setitem(app.config, "LOGIN_LOCK_SECONDS", 600)


def _fail(address: str, times: int) -> None:
    for _ in range(times):
        assert accounts.authenticate(address, "not the password at all").user is None


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


# --- logging in and the lock -------------------------------------------------------------

def test_authenticate_accepts_the_right_password_only(app):
    user = make_user(email="right@example.org")
    assert accounts.authenticate("right@example.org", "wrong password, long").user is None
    result = accounts.authenticate("Right@Example.org", PASSWORD)
    assert result.user is not None and result.user.id == user.id
    assert fresh(User, user.id).last_login_at is not None


def test_unknown_address_and_invalid_input_are_just_a_failed_login(app):
    for address in ("nobody@example.org", "not an address", ""):
        result = accounts.authenticate(address, PASSWORD)
        assert result.user is None and not result.locked


def test_repeated_failures_lock_the_account_even_for_the_right_password(app, lock_after_three):
    user = make_user(email="locked@example.org")
    _fail("locked@example.org", 3)
    result = accounts.authenticate("locked@example.org", PASSWORD)
    assert result.user is None and result.locked
    locked_until = fresh(User, user.id).locked_until
    assert locked_until is not None
    assert timedelta(seconds=590) < locked_until - utcnow() <= timedelta(seconds=600)


def test_the_lock_ends_after_its_time(app, lock_after_three):
    user = make_user(email="later@example.org")
    _fail("later@example.org", 3)
    assert accounts.authenticate("later@example.org", PASSWORD).locked
    user = fresh(User, user.id)
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    result = accounts.authenticate("later@example.org", PASSWORD)
    assert result.user is not None and not result.locked
    user = fresh(User, user.id)
    assert user.locked_until is None and user.failed_logins == 0


def test_a_successful_login_resets_the_count_of_failures(app, lock_after_three):
    make_user(email="reset@example.org")
    _fail("reset@example.org", 2)
    assert accounts.authenticate("reset@example.org", PASSWORD).user is not None
    _fail("reset@example.org", 2)
    assert accounts.authenticate("reset@example.org", PASSWORD).user is not None


def test_failures_made_at_the_same_time_all_count(app, lock_after_three, monkeypatch):
    """Two wrong passwords tried in parallel both count: the counter is increased in the
    database, not from the value this request read before checking the password."""
    user = make_user(email="parallel@example.org")
    verify = accounts._verify
    parallel = []

    def verify_while_another_attempt_fails(password_hash: str, password: str) -> bool:
        if not parallel:
            parallel.append(True)
            with db.engine.begin() as other:
                other.execute(text("UPDATE users SET failed_logins = failed_logins + 1 "
                                   "WHERE id = :id"), {"id": user.id})
        return verify(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", verify_while_another_attempt_fails)
    _fail("parallel@example.org", 1)
    assert fresh(User, user.id).failed_logins == 2
    _fail("parallel@example.org", 1)
    assert accounts.authenticate("parallel@example.org", PASSWORD).locked


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
    view = token_required()(lambda: "let in")
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
    view = token_required(admin=True)(lambda: "let in")
    (response, status), _ = _call_with_token(app, view, accounts.create_token(organizer)[1])
    assert status == 403 and response.json["error"]["status"] == 403
    assert _call_with_token(app, view, accounts.create_token(admin)[1])[0] == "let in"


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
