"""Supporter-facing routes. Each one parses, calls a service, and renders."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from petitions.models import Action
from petitions.public import bp
from petitions.public.forms import SignatureForm
from petitions.services import actions as actions_service
from petitions.services import counting, deliveries
from petitions.services.confirming import TokenState, check_token, confirm, resend_for_token
from petitions.services.signing import (
    CONSENT_VERSION,
    ActionClosedError,
    SignatureInput,
    SigningError,
    sign,
)
from petitions.urls import external_url


def _load(slug: str) -> Action:
    action = actions_service.get_public_action(slug)
    if action is None:
        abort(404)
    return action


def _render_action(action: Action, form: SignatureForm, status: int = 200,
                   closed_message: bool = False) -> tuple[str, int]:
    return render_template(
        "public/action.html", action=action, form=form,
        counts=counting.counts(action.id),
        body_html=actions_service.render_markdown(action.body),
        consent_version=CONSENT_VERSION, closed_message=closed_message,
        delivery=deliveries.last_sent(action)), status


@bp.get("/")
def index() -> str:
    published = actions_service.list_published()
    counts = counting.counts_for(a.id for a in published)
    return render_template("public/index.html", actions=published, counts=counts)


@bp.route("/actions/<slug>", methods=["GET", "POST"])
def action(slug: str) -> tuple[str, int] | Response:
    action = _load(slug)
    locale = str(get_locale())
    # The posted text fields only: Flask-WTF would also read uploaded files and JSON
    # bodies, and hand the validators values that are not strings (a 500).
    form = SignatureForm(formdata=request.form if request.method == "POST" else None,
                         locale=locale)
    if request.method == "GET":
        return _render_action(action, form)
    if not action.is_open:
        return _render_action(action, form, status=409, closed_message=True)
    if not form.validate_on_submit():
        return _render_action(action, form, status=422)
    data = SignatureInput(
        first_name=form.first_name.data or "", last_name=form.last_name.data or "",
        email=form.email.data or "", country=form.country.data or "",
        postcode=form.postcode.data or "", comment=form.comment.data or "",
        updates_opt_in=bool(form.updates_opt_in.data))
    try:
        sign(action, data, ip=request.remote_addr, source=request.args.get("source"),
             locale=locale)
    except SigningError as exc:
        getattr(form, exc.field).errors.append(str(exc))
        return _render_action(action, form, status=422)
    except ActionClosedError:
        return _render_action(action, form, status=409, closed_message=True)
    return redirect(url_for("public.check_email", slug=action.slug), code=303)


@bp.get("/actions/<slug>/check-email")
def check_email(slug: str) -> str:
    return render_template("public/check_email.html", action=_load(slug))


@bp.get("/actions/<slug>/thank-you")
def thank_you(slug: str) -> str:
    action = _load(slug)
    action_url = external_url("public.action", slug=action.slug)
    return render_template("public/thank_you.html", action=action, action_url=action_url,
                           counts=counting.counts(action.id))


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_signature(token: str) -> tuple[str, int] | Response:
    result = confirm(token) if request.method == "POST" else check_token(token)
    if result.state == TokenState.CONFIRMED and result.action is not None:
        if request.method == "POST":
            return redirect(url_for("public.thank_you", slug=result.action.slug), code=303)
        return render_template("public/already_confirmed.html", action=result.action), 200
    if result.state == TokenState.VALID:
        return render_template("public/confirm.html", action=result.action, token=token), 200
    if result.state == TokenState.EXPIRED:
        return render_template("public/link_expired.html", action=result.action,
                               token=token), 410
    return render_template("public/link_invalid.html"), 404


@bp.post("/confirm/<token>/resend")
def resend(token: str) -> Response:
    result = resend_for_token(token)
    if result.action is None:
        abort(404)
    return redirect(url_for("public.check_email", slug=result.action.slug), code=303)


@bp.get("/privacy")
def privacy() -> str:
    return render_template("public/privacy.html", consent_version=CONSENT_VERSION)
