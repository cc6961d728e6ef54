"""Admin console: the managed list of topics and regions (add, rename, retire).

Actions are tagged with these terms and network members choose from them; the list
is the only source of both, so every term people can choose is one an admin put there.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from petitions.admin import bp
from petitions.admin.forms import ConfirmForm
from petitions.auth.access import admin_required
from petitions.models import Term, TermKind
from petitions.services import topics

KIND_LABELS = {TermKind.TOPIC: _l("Topic"), TermKind.REGION: _l("Region")}


class NewTermForm(FlaskForm):
    kind = SelectField(_l("Kind"), default=TermKind.TOPIC.value,
                       choices=[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()])
    name = StringField(_l("Name"), validators=[
        DataRequired(_l("Please give a name.")), Length(max=topics.NAME_MAX)])


class RenameTermForm(FlaskForm):
    name = StringField(_l("New name"), validators=[
        DataRequired(_l("Please give a name.")), Length(max=topics.NAME_MAX)])


def _term_or_404(term_id: int) -> Term:
    term = topics.get(term_id)
    if term is None:
        abort(404)
    return term


def _render(form: NewTermForm, status: int = 200) -> tuple[str, int]:
    lists = {kind: topics.terms(kind, include_retired=True) for kind in TermKind}
    return render_template("admin/terms.html", form=form, lists=lists,
                           kind_labels=KIND_LABELS, confirm=ConfirmForm()), status


@bp.route("/terms", methods=["GET", "POST"])
@admin_required
def terms() -> tuple[str, int] | Response:
    form = NewTermForm(formdata=request.form if request.method == "POST" else None)
    if request.method != "POST":
        return _render(form)
    if not form.validate():
        return _render(form, 422)
    try:
        term = topics.add(TermKind(form.kind.data), form.name.data or "", actor=current_user)
    except topics.TermError as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        return _render(form, 422)
    flash(_("“%(name)s” is added.", name=term.name))
    return redirect(url_for("admin.terms"), 303)


@bp.route("/terms/<int:term_id>", methods=["GET", "POST"])
@admin_required
def rename_term(term_id: int) -> tuple[str, int] | Response:
    term = _term_or_404(term_id)
    form = RenameTermForm(formdata=request.form if request.method == "POST" else None,
                          data={"name": term.name})
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            try:
                topics.rename(term, form.name.data or "", actor=current_user)
            except topics.TermError as exc:
                form.name.errors = [*form.name.errors, str(exc)]
            else:
                flash(_("The name is saved."))
                return redirect(url_for("admin.terms"), 303)
    return render_template("admin/term_edit.html", form=form, term=term,
                           kind_label=KIND_LABELS[term.kind]), status


@bp.post("/terms/<int:term_id>/retire")
@admin_required
def retire_term(term_id: int) -> Response:
    term = _term_or_404(term_id)
    if not ConfirmForm().validate():
        abort(400)
    retire = request.form.get("retire") == "1"
    topics.set_retired(term, retire, actor=current_user)
    flash(_("“%(name)s” is retired: no longer offered.", name=term.name) if retire
          else _("“%(name)s” is offered again.", name=term.name))
    return redirect(url_for("admin.terms"), 303)
