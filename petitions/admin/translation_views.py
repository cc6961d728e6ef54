"""An action's texts in other languages, in the admin console: title, summary,
appeal and demands for each language the interface ships, shown on the public page
to readers who chose that language."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import Form, FormField, StringField, TextAreaField
from wtforms.validators import Length

from petitions.admin import bp
from petitions.auth.access import admin_required
from petitions.i18n import LANGUAGES, direction
from petitions.models import Action
from petitions.services import actions as actions_service
from petitions.services import public_page
from petitions.services.actions import ActionError

Page = str | tuple[str, int] | Response


class TextsForm(Form):
    """One language's texts; leave the title empty to have no text in that language."""

    title = StringField(_l("Title"), validators=[Length(max=200)])
    summary = TextAreaField(_l("Summary (shown in lists and when shared)"),
                            validators=[Length(max=500)])
    body = TextAreaField(_l("Appeal text (Markdown)"), validators=[Length(max=100_000)])
    demands = TextAreaField(_l("Demands (one a line)"), validators=[Length(max=20_000)])


def translations_form(action: Action, formdata: Any = None) -> FlaskForm:
    """A form with one set of text fields for each language but the action's own."""
    languages = [code for code in LANGUAGES if code != action.language]

    class TranslationsForm(FlaskForm):
        pass

    for code in languages:
        setattr(TranslationsForm, code, FormField(TextsForm, label=LANGUAGES[code]))
    form = TranslationsForm(formdata=formdata, data=action.translations or {})
    form.languages = languages  # type: ignore[attr-defined]
    return form


@bp.route("/actions/<slug>/translations", methods=["GET", "POST"])
@admin_required
def action_translations(slug: str) -> Page:
    action = actions_service.get_action(slug)
    if action is None:
        abort(404)
    form = translations_form(action, request.form if request.method == "POST" else None)
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                public_page.set_translations(
                    action, {code: getattr(form, code).data for code in form.languages},
                    actor=current_user, via="web")
            except ActionError as exc:
                for name, message in exc.errors.items():
                    code, _dash, field_name = name.partition("-")
                    field = getattr(form, code)[field_name]
                    field.errors = [*field.errors, message]
            else:
                flash(_("Your changes are saved."))
                return redirect(url_for("admin.action_translations", slug=action.slug), 303)
        status = 422
    else:
        status = 200
    return render_template("admin/translations.html", action=action, form=form,
                           languages=LANGUAGES, direction=direction), status
