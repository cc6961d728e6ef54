"""Supporter-facing routes. Each one parses, calls a service, and renders."""

from __future__ import annotations

import enum
import io
from datetime import date, datetime

import segno
from flask import abort, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from petitions import botcheck, page_cache
from petitions.auth.access import managed_action_or_abort
from petitions.extensions import csrf
from petitions.i18n import direction, format_ago
from petitions.models import Action, utcnow
from petitions.public import bp
from petitions.public.forms import SignatureForm
from petitions.services import actions as actions_service
from petitions.services import counting, deliveries, intake, public_page
from petitions.services.confirming import TokenState, check_token, confirm, resend_for_token
from petitions.services.delivery_package import Addressee, letter_text
from petitions.services.signing import (
    CONSENT_VERSION,
    SignatureInput,
    SigningError,
)
from petitions.urls import external_url


class Submitted(enum.Enum):
    SIGNED = "signed"
    INVALID = "invalid"
    CLOSED = "closed"


def _load(slug: str) -> Action:
    action = actions_service.get_public_action(slug)
    if action is None:
        abort(404)
    return action


def _render_action(action: Action, form: SignatureForm, status: int = 200,
                   closed_message: bool = False, preview: bool = False) -> tuple[str, int]:
    locale = str(get_locale())
    texts = public_page.texts_for(action, locale)
    return render_template(
        "public/action.html", action=action, form=form, texts=texts,
        counts=counting.counts(action.id),
        body_html=actions_service.render_markdown(texts.body),
        consent_version=CONSENT_VERSION, closed_message=closed_message,
        delivery=deliveries.last_sent(action),
        recent_signers=public_page.recent_signers(action.id, locale),
        letter_body_html=actions_service.render_markdown(action.body),
        letters=[letter_text(action, Addressee(t.name, t.title, t.organization))
                 for t in action.targets],
        action_url=external_url("public.action", slug=action.slug),
        text_direction_of=direction, now=utcnow(), preview=preview), status


@bp.get("/")
def index() -> Response:
    def render() -> str:
        published = actions_service.list_published()
        counts = counting.counts_for(a.id for a in published)
        return render_template("public/index.html", actions=published, counts=counts)

    return page_cache.serve(render)


@bp.route("/actions/<slug>", methods=["GET", "POST"])
def action(slug: str) -> tuple[str, int] | Response:
    locale = str(get_locale())
    if request.method != "POST":  # GET, and HEAD like GET: only a POST signs
        return page_cache.serve(
            lambda: _render_action(_load(slug), SignatureForm(locale=locale)))
    action = _load(slug)
    # The posted text fields only: Flask-WTF would also read uploaded files and JSON
    # bodies, and hand the validators values that are not strings (a 500).
    form = SignatureForm(formdata=request.form, locale=locale)
    outcome = _submit(action, form, locale)
    if outcome == Submitted.CLOSED:
        return _render_action(action, form, status=409, closed_message=True)
    if outcome == Submitted.INVALID:
        return _render_action(action, form, status=422)
    # The slug from the URL (it found the action): reading ``action.slug`` after the
    # commit would load the action again.
    return redirect(url_for("public.check_email", slug=slug), code=303)


def _submit(action: Action, form: SignatureForm, locale: str) -> Submitted:
    """Validate a posted signing form and hand it, sealed, to the vault workers: the
    one flow of the action page and the embeddable widget. Errors are left on the
    form's fields. What happens to the signature (a duplicate, a block rule, the
    per-address limit) is decided by a vault worker, after this answer."""
    if not action.is_open:
        return Submitted.CLOSED
    verdict = botcheck.screen(action)
    if verdict is botcheck.Verdict.BOT:
        return Submitted.SIGNED  # the answer a person gets; nothing is stored
    if verdict is not botcheck.Verdict.PERSON:  # shown again, with the reason
        form.validate_on_submit()
        return Submitted.INVALID
    if not form.validate_on_submit():
        return Submitted.INVALID
    data = SignatureInput(
        first_name=form.first_name.data or "", last_name=form.last_name.data or "",
        email=form.email.data or "", country=form.country.data or "",
        postcode=form.postcode.data or "", comment=form.comment.data or "",
        updates_opt_in=bool(form.updates_opt_in.data),
        show_publicly=bool(form.show_publicly.data))
    try:
        intake.submit(action, data, ip=request.remote_addr,
                      source=request.args.get("source"), locale=locale)
    except SigningError as exc:
        getattr(form, exc.field).errors.append(str(exc))
        return Submitted.INVALID
    return Submitted.SIGNED


@bp.get("/actions/<slug>/preview")
@login_required
def preview(slug: str) -> Response:
    """A draft (or any action) as the public will see it, for its admins and organizers:
    marked as a preview, never indexed, never cached, and its form signs nothing."""
    action = managed_action_or_abort(slug, current_user._get_current_object())  # type: ignore[attr-defined]
    page, status = _render_action(action, SignatureForm(locale=str(get_locale())),
                                  preview=True)
    response = make_response(page, status)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store, private"
    return response


@bp.get("/actions/<slug>/check-email")
def check_email(slug: str) -> str:
    return render_template("public/check_email.html", action=_load(slug))


@bp.get("/actions/<slug>/thank-you")
def thank_you(slug: str) -> str:
    action = _load(slug)
    action_url = external_url("public.action", slug=action.slug)
    return render_template("public/thank_you.html", action=action, action_url=action_url,
                           counts=counting.counts(action.id), text_direction_of=direction)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_signature(token: str) -> tuple[str, int] | Response:
    if request.method == "POST":
        result = confirm(token)
        if result.state == TokenState.CONFIRMED and result.slug is not None:
            return redirect(url_for("public.thank_you", slug=result.slug), code=303)
    else:
        result = check_token(token)
    if result.state == TokenState.CONFIRMED and result.action is not None:
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


@bp.route("/actions/<slug>/embed", methods=["GET", "POST"])
@csrf.exempt
def embed(slug: str) -> tuple[str, int] | Response:
    """The compact widget other sites put in an iframe: the count and the signing
    form, signing through the same flow as the action page. After signing it stays
    in the frame and asks the signer to check their email.

    No CSRF token: in a frame on another site the browser withholds our SameSite
    session cookie, so a token could never be checked there. A forged signature
    would still need its confirmation link, which only the inbox receives."""
    locale = str(get_locale())
    if request.method != "POST":  # GET, and HEAD like GET: only a POST signs
        return page_cache.serve(lambda: _render_embed(
            _load(slug), SignatureForm(locale=locale, meta={"csrf": False})))
    action = _load(slug)
    form = SignatureForm(formdata=request.form, locale=locale, meta={"csrf": False})
    outcome = _submit(action, form, locale)
    if outcome == Submitted.SIGNED:
        return redirect(url_for("public.embed", slug=slug, signed=1,
                                lang=request.args.get("lang")), code=303)
    return _render_embed(action, form, status=409 if outcome == Submitted.CLOSED else 422)


def _render_embed(action: Action, form: SignatureForm, status: int = 200) -> tuple[str, int]:
    locale = str(get_locale())
    return render_template(
        "public/embed.html", action=action, form=form,
        texts=public_page.texts_for(action, locale), counts=counting.counts(action.id),
        signed=request.args.get("signed") == "1", closed_message=status == 409,
        action_url=external_url("public.action", slug=action.slug)), status


@bp.app_template_global("external_url")
def _external_url(endpoint: str, **values: object) -> str:
    return external_url(endpoint, **values)


@bp.get("/actions/<slug>/qr.svg")
def action_qr(slug: str) -> Response:
    """A QR code of the action's address, for posters and leaflets."""
    action = _load(slug)
    url = external_url("public.action", slug=action.slug)
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=4,
                                    title=gettext("QR code: %(url)s", url=url))
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f'inline; filename="{action.slug}-qr.svg"'
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.app_template_global("texts_of")
def _texts_of(action: Action) -> public_page.ActionTexts:
    """An action's texts in the page's (or the email's) language, where it has them."""
    return public_page.texts_for(action, str(get_locale()))


@bp.app_template_global("campaign_progress")
def _campaign_progress(total: int, goal: int) -> public_page.Progress:
    return public_page.progress(total, goal)


@bp.app_template_global("days_left")
def _days_left(deadline: date) -> int | None:
    return public_page.days_left(deadline, utcnow().date())


@bp.app_template_global("share_messages")
def _share_messages(title: str, url: str, signed: bool = False) -> dict[str, str]:
    return public_page.share_messages(title, url, signed=signed)


@bp.app_template_filter("ago")
def _ago(moment: datetime, now: datetime) -> str:
    return format_ago(moment, now)
