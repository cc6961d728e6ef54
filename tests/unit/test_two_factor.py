"""The two-factor rules: RFC 6238 codes, one step of drift, each step once, recovery codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from petitions.extensions import db
from petitions.services import two_factor
from tests.account_factories import (  # noqa: F401 - a fixture
    cheap_password_hashing,
    enable_two_factor,
    make_user,
    raw_rows,
)
from tests.factories import fresh

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

# RFC 6238, appendix B: the SHA-1 key "12345678901234567890", 59 s after the epoch.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_TIME = datetime.fromtimestamp(59, UTC)
RFC_CODE = "287082"  # the last six digits of 94287082


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The time two_factor sees, moved by the test."""
    now = {"at": RFC_TIME}
    monkeypatch.setattr(two_factor, "utcnow", lambda: now["at"])
    return now


@pytest.fixture
def rfc_user(app, clock):  # type: ignore[no-untyped-def]
    user = make_user()
    user.totp_secret = RFC_SECRET
    db.session.commit()
    assert two_factor.enrol(user, RFC_CODE) is not None  # step 1 (30-59 s)
    return user


def test_the_codes_are_those_of_rfc_6238(rfc_user):
    assert rfc_user.has_two_factor


def test_a_used_step_and_every_older_one_are_refused(rfc_user, clock):
    assert not two_factor.check(rfc_user, RFC_CODE)  # replayed
    totp = pyotp.TOTP(RFC_SECRET)
    clock["at"] += timedelta(seconds=30)  # step 2
    assert not two_factor.check(rfc_user, totp.generate_otp(0))  # older than the used one
    assert two_factor.check(rfc_user, totp.generate_otp(2))
    assert not two_factor.check(rfc_user, totp.generate_otp(2))


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (1, True),
                                                  (2, False)])
def test_one_step_of_clock_drift_either_way(rfc_user, clock, offset, accepted):
    clock["at"] += timedelta(minutes=5)
    totp = pyotp.TOTP(RFC_SECRET)
    step = totp.timecode(clock["at"])
    assert two_factor.check(rfc_user, totp.generate_otp(step + offset)) is accepted


def test_recovery_codes_are_random_digested_and_work_once(app):
    user = make_user()
    codes = enable_two_factor(user)
    assert len(set(codes)) == two_factor.RECOVERY_CODE_COUNT
    stored = [r["digest"] for r in raw_rows("staff_recovery_codes")]
    assert all(len(d) == 64 for d in stored)
    assert not any(c.replace("-", "") in d for c in codes for d in stored)
    assert two_factor.check(user, codes[0])
    assert not two_factor.check(user, codes[0])
    assert two_factor.unused_recovery_codes(user) == 9
    other = make_user()
    enable_two_factor(other)
    assert not two_factor.check(other, codes[1])  # one user's code is not another's


def test_a_user_without_two_factor_passes_no_check(app):
    user = make_user()
    assert not two_factor.check(user, "123456")
    with pytest.raises(two_factor.TwoFactorError):
        two_factor.enrol(user, "123456")  # no enrolment under way


def test_reset_needs_another_admin(app):
    admin = make_user("admin")
    enable_two_factor(admin)
    with pytest.raises(two_factor.TwoFactorError):
        two_factor.reset(admin, actor=admin)
    assert fresh(type(admin), admin.id).has_two_factor
