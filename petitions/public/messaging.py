"""Supporters' pages about the mail they get: the urgent-action network, unsubscribing,
and "It wasn't me". Links in emails only ever show a page; a button on it acts
(mail scanners open every link). The RFC 8058 one-click unsubscribe is the one
POST without a CSRF token: mail clients send it, and it is harmless to repeat."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, RadioField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from petitions import botcheck
from petitions.extensions import csrf
from petitions.models import Action, SignatureStatus, Update
from petitions.public import bp
from petitions.public.forms import valid_email
from petitions.services import network, reminders, updates
from petitions.services.actions import render_markdown
from petitions.services.signing import FIELD_LIMITS


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        """Unknown values are dropped by the service, not refused."""


class PreferencesForm(FlaskForm):
    scope = RadioField(_l("Alert me about"), default="all", choices=[
        SelectChoice("all", _l("Every new urgent action")),
        SelectChoice("chosen", _l("Only the topics and regions I choose"))])
    topics = _Checkboxes(_l("Topics"), choices=[])
    regions = _Checkboxes(_l("Regions"), choices=[])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        topics, regions = network.options()
        self.topics.choices = [SelectChoice(key, name) for key, name in topics]
        self.regions.choices = [SelectChoice(key, name) for key, name in regions]

    def choice(self) -> network.Choice:
        return network.clean_choice(self.scope.data != "chosen", self.topics.data or [],
                                    self.regions.data or [])


class JoinForm(PreferencesForm):
    email = EmailField(_l("Email"), validators=[
        DataRequired(_l("Please enter your email address.")),
        Length(max=FIELD_LIMITS["email"]), valid_email])


def _formdata() -> object:
    return request.form if request.method == "POST" else None


def _render_join(form: JoinForm, status: int) -> tuple[str, int]:
    return render_template("public/network.html", form=form,
                           guarded_form=botcheck.network_form()), status


@bp.route("/network", methods=["GET", "POST"])
def network_join() -> tuple[str, int] | Response:
    """Joining the network sends an email, as signing does: the same rate limits
    (petitions/security.py) and bot checks guard it."""
    form = JoinForm(formdata=_formdata())
    if request.method != "POST":  # GET, and HEAD like GET
        return _render_join(form, 200)
    verdict = botcheck.screen(botcheck.network_form())
    if verdict is botcheck.Verdict.BOT:  # the answer a person gets; nothing is stored
        return redirect(url_for("public.network_check_email"), code=303)
    if verdict is not botcheck.Verdict.PERSON:  # shown again, with the reason
        form.validate_on_submit()
        return _render_join(form, 422)
    if not form.validate_on_submit():
        return _render_join(form, 422)
    try:
        network.subscribe(form.email.data or "", form.choice(), locale=str(get_locale()))
    except network.NetworkError as exc:
        getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, str(exc)]
        return _render_join(form, 422)
    return redirect(url_for("public.network_check_email"), code=303)


@bp.get("/network/check-email")
def network_check_email() -> str:
    return render_template("public/network_check_email.html")


@bp.route("/network/confirm/<token>", methods=["GET", "POST"])
def network_confirm(token: str) -> tuple[str, int]:
    if request.method == "POST":
        subscriber = network.confirm(token)
        if subscriber is None:
            return render_template("public/network_link_invalid.html"), 404
        return render_template("public/network_confirmed.html",
                               preferences_token=network.preferences_token(subscriber)), 200
    if network.pending_for_token(token) is None:
        return render_template("public/network_link_invalid.html"), 404
    return render_template("public/network_confirm.html", token=token), 200


@bp.route("/network/preferences/<token>", methods=["GET", "POST"])
def network_preferences(token: str) -> tuple[str, int] | Response:
    subscriber = network.subscriber_for(token)
    if subscriber is None:
        return render_template("public/network_link_invalid.html"), 404
    form = PreferencesForm(formdata=_formdata(), data={
        "scope": "all" if subscriber.all_actions else "chosen",
        "topics": subscriber.topics, "regions": subscriber.regions})
    status = 200
    saved = False
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                network.update_preferences(subscriber, form.choice())
            except network.NetworkError as exc:
                getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, str(exc)]
            else:
                status, saved = 200, True
    return render_template("public/preferences.html", form=form, token=token,
                           subscriber=subscriber, saved=saved,
                           unsubscribe_token=updates.unsubscribe_token(
                               subscriber_id=subscriber.id)), status


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> tuple[str, int]:
    target = (updates.unsubscribe(token) if request.method == "POST"
              else updates.read_unsubscribe_token(token))
    if target is None:
        return render_template("public/unsubscribe_invalid.html"), 404
    template = "public/unsubscribed.html" if request.method == "POST" else "public/unsubscribe.html"
    return render_template(template, target=target, token=token), 200


@bp.post("/unsubscribe/<token>/one-click")
@csrf.exempt
def unsubscribe_one_click(token: str) -> tuple[str, int]:
    """RFC 8058: the mail client POSTs ``List-Unsubscribe=One-Click`` here."""
    if updates.unsubscribe(token) is None:
        abort(404)
    return "", 200


@bp.route("/not-me/<token>", methods=["GET", "POST"])
def not_me(token: str) -> tuple[str, int]:
    if request.method == "POST":
        action = reminders.not_me(token)
        return render_template("public/not_me_done.html", action=action), 200
    signature = reminders.signature_for_not_me(token)
    if signature is None:
        return render_template("public/not_me_done.html", action=None), 200
    return render_template("public/not_me.html", action=signature.action, token=token,
                           confirmed=signature.status != SignatureStatus.PENDING), 200


@bp.app_template_global("action_updates")
def action_updates(action: Action) -> list[Update]:
    """The action page's timeline: its sent public updates, newest first."""
    return updates.public_timeline(action)


@bp.app_template_global("render_update")
def render_update(body: str) -> str:
    """An update's Markdown as sanitized HTML."""
    return render_markdown(body)
