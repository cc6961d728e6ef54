"""``flask --app petitions users …``: creating staff accounts and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import AuditEntry, Scope, utcnow
from petitions.services import accounts
from tests.account_factories import (  # noqa: F401 - a fixture
    PASSWORD,
    cheap_password_hashing,
    make_user,
    raw_rows,
)

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def _create(runner, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["users", "create", *args], input=input)


def _token(runner, email: str, *options: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["users", "token", email, *options])


@pytest.mark.parametrize("role", ["admin", "organizer"])
def test_create_a_user_with_a_password_option(runner, role):
    result = _create(runner, "Amal@Example.org", "--role", role, "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    user = accounts.find_user("amal@example.org")
    assert user is not None and user.role == role and user.active
    assert accounts.authenticate("amal@example.org", PASSWORD).user.id == user.id
    assert "amal" not in result.output.lower()
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.verb == "user.create"))
    assert entry.via == "cli" and entry.actor_id is None


def test_create_prompts_for_the_password_twice_without_showing_it(runner):
    result = _create(runner, "amal@example.org", "--role", "organizer",
                     input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output and "Repeat" in result.output
    assert PASSWORD not in result.output
    db.session.expire_all()
    assert accounts.authenticate("amal@example.org", PASSWORD).user is not None


def test_create_asks_again_when_the_two_passwords_differ(runner):
    result = _create(runner, "amal@example.org", "--role", "organizer",
                     input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    db.session.expire_all()
    assert accounts.authenticate("amal@example.org", PASSWORD).user is not None


def test_create_refuses_an_address_that_has_an_account(runner):
    make_user(email="amal@example.org")
    result = _create(runner, "AMAL@example.org", "--role", "admin", "--password", PASSWORD)
    assert result.exit_code != 0
    assert "Error: A user with this email address exists already." in result.output
    assert len(raw_rows("users")) == 1


@pytest.mark.parametrize("extra", [["--password", "short"], []])
def test_create_refuses_a_short_password(runner, extra):
    result = _create(runner, "amal@example.org", "--role", "organizer", *extra,
                     input="short\nshort\n")
    assert result.exit_code != 0
    assert "Error: The password must have at least 12 characters." in result.output
    assert raw_rows("users") == []


def test_create_refuses_an_invalid_address(runner):
    result = _create(runner, "not an address", "--role", "organizer", "--password", PASSWORD)
    assert result.exit_code != 0
    assert "Error:" in result.output and "email address" in result.output
    assert raw_rows("users") == []


@pytest.mark.parametrize("extra", [["--role", "superuser"], []])
def test_create_needs_a_known_role(runner, extra):
    result = _create(runner, "amal@example.org", *extra, "--password", PASSWORD)
    assert result.exit_code == 2
    assert "--role" in result.output
    assert raw_rows("users") == []


def test_token_prints_a_working_token_alone_on_the_last_line(runner):
    user = make_user(email="amal@example.org")
    result = _token(runner, "Amal@Example.org")
    assert result.exit_code == 0, result.output
    token = result.output.splitlines()[-1]
    assert token == token.strip() and token.startswith(accounts.TOKEN_PREFIX)
    db.session.expire_all()
    assert accounts.user_for_token(token).id == user.id
    [row] = raw_rows("api_tokens")
    assert row["user_id"] == user.id
    for value in row.values():
        assert token not in str(value)
        assert token[len(accounts.TOKEN_PREFIX):] not in str(value)


def test_token_takes_scopes_and_an_expiry(runner):
    make_user(email="amal@example.org")
    result = _token(runner, "amal@example.org", "--scope", "read", "--scope", "export",
                    "--expires-days", "30")
    assert result.exit_code == 0, result.output
    assert "Scopes: read export;" in result.output
    db.session.expire_all()
    record = accounts.find_token(result.output.splitlines()[-1])
    assert record.scope_list == [Scope.READ, Scope.EXPORT]
    assert timedelta(days=29) < record.expires_at - utcnow() <= timedelta(days=30)


@pytest.mark.parametrize("extra", [["--scope", "admin"], ["--expires-days", "0"],
                                   ["--expires-days", "many"]])
def test_token_refuses_unknown_scopes_and_lifetimes(runner, extra):
    make_user(email="amal@example.org")
    result = _token(runner, "amal@example.org", *extra)
    assert result.exit_code == 2
    assert raw_rows("api_tokens") == []


def test_each_token_is_new(runner):
    make_user(email="amal@example.org")
    first = _token(runner, "amal@example.org").output.splitlines()[-1]
    second = _token(runner, "amal@example.org").output.splitlines()[-1]
    assert first != second
    db.session.expire_all()
    assert accounts.user_for_token(first) is not None
    assert accounts.user_for_token(second) is not None


@pytest.mark.parametrize("deactivated", [False, True])
def test_token_refuses_an_unknown_or_deactivated_user(runner, deactivated):
    if deactivated:
        user = make_user(email="amal@example.org")
        accounts.update_user(user, actor=make_user("admin"), active=False)
    result = _token(runner, "amal@example.org")
    assert result.exit_code != 0
    assert "Error: no active user with that email address" in result.output
    assert raw_rows("api_tokens") == []
