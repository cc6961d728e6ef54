"""Organizer console: updates to an action's signers (write, preview, test, send)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from petitions.auth.access import managed_action_or_abort
from petitions.models import Action, Update, UpdateStatus, User
from petitions.organizer import bp
from petitions.services import updates
from petitions.services.actions import render_markdown_offline


class UpdateForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[
        DataRequired(_l("Please write a subject.")), Length(max=updates.SUBJECT_MAX)])
    body = TextAreaField(_l("Update (Markdown)"), validators=[
        DataRequired(_l("Please write the update.")), Length(max=updates.BODY_MAX)])
    public = BooleanField(_l("Also show it on the action's page"), default=True)


class ActionForm(FlaskForm):
    """A POST with nothing but its CSRF token."""


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined,no-any-return]


def _load(slug: str, update_id: int | None = None) -> tuple[Action, Update | None]:
    action = managed_action_or_abort(slug, _user())
    if update_id is None:
        return action, None
    update = updates.get(action, update_id)
    if update is None:
        abort(404)
    return action, update


@bp.get("/actions/<slug>/updates")
@login_required
def updates_list(slug: str) -> str:
    action, _ = _load(slug)
    items = updates.list_for(action)
    return render_template("organizer/updates.html", action=action, items=items,
                           reports=updates.reports(items))


@bp.route("/actions/<slug>/updates/new", methods=["GET", "POST"])
@login_required
def update_new(slug: str) -> tuple[str, int] | Response:
    action, _ = _load(slug)
    form = UpdateForm(formdata=request.form if request.method == "POST" else None)
    preview = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        elif "preview" in request.form:
            preview = render_markdown_offline(form.body.data or "")
        else:
            try:
                update = updates.create_update(action, _user(), form.subject.data or "",
                                               form.body.data or "", public=form.public.data)
            except updates.UpdateError as exc:
                for name, message in exc.errors.items():
                    getattr(form, name).errors = [*getattr(form, name).errors, message]
                status = 422
            else:
                flash(gettext("The update is saved as a draft: check it, send yourself a "
                              "test, then send it."))
                return redirect(url_for("organizer.update_detail", slug=action.slug,
                                        update_id=update.id), code=303)
    return render_template("organizer/updates_form.html", action=action, form=form,
                           preview=preview), status


@bp.get("/actions/<slug>/updates/<int:update_id>")
@login_required
def update_detail(slug: str, update_id: int) -> str:
    action, update = _load(slug, update_id)
    assert update is not None
    return render_template("organizer/updates_detail.html", action=action, update=update,
                           body_html=render_markdown_offline(update.body), form=ActionForm(),
                           report=updates.report(update), audience=updates.audience(action))


def _refused(action: Action, update: Update, exc: updates.UpdateError) -> Response:
    flash("; ".join(exc.errors.values()))
    return redirect(url_for("organizer.update_detail", slug=action.slug,
                            update_id=update.id), code=303)


@bp.route("/actions/<slug>/updates/<int:update_id>/edit", methods=["GET", "POST"])
@login_required
def update_edit(slug: str, update_id: int) -> tuple[str, int] | Response:
    """Change a draft; once sending has started the page says it can't be changed."""
    action, update = _load(slug, update_id)
    assert update is not None
    form = UpdateForm(formdata=request.form if request.method == "POST" else None,
                      data={"subject": update.subject, "body": update.body,
                            "public": update.public})
    preview = None
    status = 200
    if update.status != UpdateStatus.DRAFT:
        return _refused(action, update, updates.UpdateError({"update": gettext(
            "Sending has started: the update can no longer be changed or deleted.")}))
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        elif "preview" in request.form:
            preview = render_markdown_offline(form.body.data or "")
        else:
            try:
                updates.edit_update(update, _user(), form.subject.data or "",
                                    form.body.data or "", public=form.public.data)
            except updates.UpdateError as exc:
                if "update" in exc.errors:
                    return _refused(action, update, exc)
                for name, message in exc.errors.items():
                    getattr(form, name).errors = [*getattr(form, name).errors, message]
                status = 422
            else:
                flash(gettext("Your changes are saved."))
                return redirect(url_for("organizer.update_detail", slug=action.slug,
                                        update_id=update.id), code=303)
    return render_template("organizer/updates_form.html", action=action, form=form,
                           preview=preview, update=update), status


@bp.route("/actions/<slug>/updates/<int:update_id>/delete", methods=["GET", "POST"])
@login_required
def update_delete(slug: str, update_id: int) -> str | Response:
    """Delete a draft, after a confirmation; refused once sending has started."""
    action, update = _load(slug, update_id)
    assert update is not None
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            updates.delete_update(update, _user())
        except updates.UpdateError as exc:
            return _refused(action, update, exc)
        flash(gettext("The draft is deleted."))
        return redirect(url_for("organizer.updates_list", slug=action.slug), code=303)
    if update.status != UpdateStatus.DRAFT:
        return _refused(action, update, updates.UpdateError({"update": gettext(
            "Sending has started: the update can no longer be changed or deleted.")}))
    return render_template("organizer/updates_delete.html", action=action, update=update,
                           form=form)


@bp.post("/actions/<slug>/updates/<int:update_id>/test")
@login_required
def update_test(slug: str, update_id: int) -> Response:
    action, update = _load(slug, update_id)
    assert update is not None
    if not ActionForm().validate_on_submit():
        abort(400)
    updates.send_test(update, _user())
    flash(gettext("A test is on its way to your address; no signer receives it."))
    return redirect(url_for("organizer.update_detail", slug=action.slug,
                            update_id=update.id), code=303)


@bp.route("/actions/<slug>/updates/<int:update_id>/send", methods=["GET", "POST"])
@login_required
def update_send(slug: str, update_id: int) -> str | Response:
    action, update = _load(slug, update_id)
    assert update is not None
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        if updates.start_sending(update, _user()):
            flash(gettext("Sending has started."))
        return redirect(url_for("organizer.update_detail", slug=action.slug,
                                update_id=update.id), code=303)
    return render_template("organizer/updates_send.html", action=action, update=update,
                           form=form, audience=updates.audience(action))
