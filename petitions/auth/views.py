"""Login (password, then the second factor), logout, password and two-factor settings.

A login whose password is right but whose second factor is still to come holds a
*pending* server-side session (its id under ``PENDING`` in the cookie) and is not
logged in: an admin without two-factor login can do nothing but enrol.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import segno
from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from petitions.auth import bp
from petitions.auth.forms import CodeForm, EnrolForm, LoginForm, PasswordForm
from petitions.models import StaffSession, User
from petitions.services import accounts, staff_sessions, two_factor

PENDING = "staff_pending"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else.

    Browsers drop tabs and line breaks and read a backslash as a slash, so
    ``/\\evil.example`` and ``/<tab>/evil.example`` lead off the site; a line break
    would also break the Location header (a 500). Only printable ASCII without spaces
    or backslashes is followed.
    """
    if target and target.isascii() and target.isprintable() and " " not in target \
            and "\\" not in target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("organizer.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method != "POST":  # GET, and HEAD like GET
        return render_template("auth/login.html", form=form), 200
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 422
    result = accounts.authenticate(form.email.data or "", form.password.data or "",
                                   client=request.remote_addr)
    if result.user is None:
        # The same words for a wrong password and an unknown address (both are slowed alike).
        message = gettext("The email or password is not right.")
        if result.retry_after is not None:
            message += " " + gettext("Too many attempts from here: try again in a moment.")
        form.password.errors.append(message)
        return render_template("auth/login.html", form=form), 422
    user = result.user
    staff_sessions.end(session.pop(PENDING, None))
    next_page = request.args.get("next")
    if user.has_two_factor:
        session[PENDING] = staff_sessions.start(user, staff_sessions.CODE)
        return redirect(url_for("auth.login_code", next=next_page))
    if two_factor.required(user):
        session[PENDING] = staff_sessions.start(user, staff_sessions.ENROL)
        return redirect(url_for("auth.login_enrol", next=next_page))
    staff_sessions.start(user)
    login_user(user)
    return redirect(_safe_next(next_page))


def _pending(stage: str) -> StaffSession | None:
    """The login under way in this browser at ``stage``, if it has not run out."""
    return staff_sessions.find(session.get(PENDING), stage)


def _log_in_again() -> Response:
    session.pop(PENDING, None)
    flash(gettext("Please log in again."))
    return redirect(url_for("auth.login"))


def _complete_login(record: StaffSession) -> None:
    """The second factor is done: log in, under a new session id."""
    user = record.user
    staff_sessions.promote(record)
    session.pop(PENDING, None)
    login_user(user)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Response | tuple[str, int]:
    record = _pending(staff_sessions.CODE)
    if record is None:
        return _log_in_again()
    form = CodeForm()
    if request.method != "POST":
        return render_template("auth/login_code.html", form=form), 200
    if not form.validate_on_submit():
        return render_template("auth/login_code.html", form=form), 422
    if not two_factor.check(record.user, form.code.data or ""):
        if staff_sessions.count_failed_code(record):
            return _log_in_again()
        # The same words for a wrong, an old, a used and an unknown code.
        form.code.errors.append(gettext("This code is not right. Please try again."))
        return render_template("auth/login_code.html", form=form), 422
    _complete_login(record)
    return redirect(_safe_next(request.args.get("next")))


def _enrolment_page(template: str, user: User, form: EnrolForm, status: int) -> Response:
    secret = two_factor.enrolment_secret(user)
    uri = two_factor.provisioning_uri(user, secret)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
    response = render_template(template, form=form, secret=secret, uri=uri, qr=qr), status
    return _not_stored(response)


def _not_stored(page: tuple[str, int]) -> Response:
    """A page with a secret on it (the TOTP secret, recovery codes): never cached."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _recovery_codes_page(codes: list[str], next_page: str) -> Response:
    return _not_stored((render_template("auth/recovery_codes.html", codes=codes,
                                        next_page=next_page), 200))


def _enrol(user: User, template: str, *,
           wrong_code_ends_login: Callable[[], bool] | None = None) -> list[str] | Response:
    """The enrolment form on ``template``: its page, shown again with the error, or,
    once the first code is right, the new recovery codes. ``wrong_code_ends_login``
    counts a wrong code against a login waiting for it, and says when it must start
    again."""
    form = EnrolForm()
    if request.method != "POST":
        return _enrolment_page(template, user, form, 200)
    if not form.validate_on_submit():
        return _enrolment_page(template, user, form, 422)
    codes = two_factor.enrol(user, form.code.data or "")
    if codes is not None:
        return codes
    if wrong_code_ends_login is not None and wrong_code_ends_login():
        return _log_in_again()
    form.code.errors.append(gettext("This code is not right. Please try again."))
    return _enrolment_page(template, user, form, 422)


@bp.route("/login/two-factor", methods=["GET", "POST"])
def login_enrol() -> Response:
    """An admin without two-factor login, after the right password: set it up first."""
    record = _pending(staff_sessions.ENROL)
    if record is None:
        return _log_in_again()
    codes = _enrol(record.user, "auth/login_enrol.html",
                   wrong_code_ends_login=lambda: staff_sessions.count_failed_code(record))
    if not isinstance(codes, list):
        return codes
    _complete_login(record)
    return _recovery_codes_page(codes, _safe_next(request.args.get("next")))


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def account_two_factor() -> Response:
    """Two-factor login on one's own account: its state, or setting it up."""
    user = current_user._get_current_object()
    if user.has_two_factor:
        return _not_stored((render_template(
            "auth/two_factor.html", codes_left=two_factor.unused_recovery_codes(user)), 200))
    codes = _enrol(user, "auth/account_enrol.html")
    if not isinstance(codes, list):
        return codes
    return _recovery_codes_page(codes, url_for("organizer.dashboard"))


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        staff_sessions.end(current_user.session_token)
    staff_sessions.end(session.pop(PENDING, None))
    logout_user()
    flash(gettext("You are logged out."))
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    form = PasswordForm()
    if request.method != "POST":
        return render_template("auth/password.html", form=form), 200
    if not form.validate_on_submit():
        return render_template("auth/password.html", form=form), 422
    try:
        accounts.change_password(current_user, form.current.data or "", form.new.data or "")
    except accounts.AccountError as exc:
        form.current.errors.append(str(exc))
        return render_template("auth/password.html", form=form), 422
    # Every session of this user ended (the session version changed); this one goes on
    # under a new id.
    user = current_user._get_current_object()
    staff_sessions.end_all(user)
    staff_sessions.start(user)
    login_user(user)
    flash(gettext("Your password is changed. Other sessions were logged out."))
    return redirect(url_for("organizer.dashboard"))
