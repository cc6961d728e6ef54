"""Login, logout and password change."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from petitions.auth import bp
from petitions.auth.forms import LoginForm, PasswordForm
from petitions.services import accounts


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
    result = accounts.authenticate(form.email.data or "", form.password.data or "")
    if result.user is None:
        # The same words for a wrong password, an unknown address and a locked account.
        form.password.errors.append(gettext(
            "The email or password is not right, or the account is locked for a while "
            "after too many attempts."))
        return render_template("auth/login.html", form=form), 422
    login_user(result.user)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash(gettext("You are logged out."))
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    form = PasswordForm()
    if request.method == "GET":
        return render_template("auth/password.html", form=form), 200
    if not form.validate_on_submit():
        return render_template("auth/password.html", form=form), 422
    try:
        accounts.change_password(current_user, form.current.data or "", form.new.data or "")
    except accounts.AccountError as exc:
        form.current.errors.append(str(exc))
        return render_template("auth/password.html", form=form), 422
    # The session version changed: log this session in again so that it stays.
    login_user(current_user._get_current_object())
    flash(gettext("Your password is changed. Other sessions were logged out."))
    return redirect(url_for("organizer.dashboard"))
