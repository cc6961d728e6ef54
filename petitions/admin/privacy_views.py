"""Data-subject requests in the admin console: download everything held about an
address, or erase it."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Length

from petitions.admin import bp
from petitions.auth.access import admin_required
from petitions.services import dsr

Page = str | tuple[str, int] | Response


class SubjectForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[
        DataRequired(_l("Please enter the address the request is about.")), Length(max=254)])
    paper_name = StringField(
        _l("Name on paper signatures (optional)"), validators=[Length(max=200)],
        description=_l("Paper signatures carry no address: give the first and last name "
                       "to include them. Check the download before erasing."))
    confirm_erase = BooleanField(_l("Yes, erase this person's signatures and subscription "
                                    "(this cannot be undone)"))


def _page(form: SubjectForm, status: int = 200) -> tuple[str, int]:
    return render_template("admin/privacy.html", form=form), status


@bp.route("/privacy", methods=["GET", "POST"])
@admin_required
def privacy_requests() -> Page:
    form = SubjectForm(formdata=request.form if request.method == "POST" else None)
    if request.method != "POST":
        return _page(form)
    if not form.validate_on_submit():
        return _page(form, 422)
    address = form.email.data or ""
    try:
        if "erase" in request.form:
            if not form.confirm_erase.data:
                form.confirm_erase.errors = [_("Please tick the box to confirm the erasure.")]
                return _page(form, 422)
            erasure = dsr.erase(address, actor=current_user, via="web",
                                paper_name=form.paper_name.data)
            flash(ngettext("Erased %(num)s signature.", "Erased %(num)s signatures.",
                           erasure.signatures))
            if form.paper_name.data:
                flash(ngettext("Erased %(num)s paper signature.",
                               "Erased %(num)s paper signatures.", erasure.paper_signatures))
            if erasure.packages_rebuilt:
                flash(ngettext("Rebuilt %(num)s delivery package without this person.",
                               "Rebuilt %(num)s delivery packages without this person.",
                               erasure.packages_rebuilt))
            if erasure.already_delivered:
                flash(_("Already sent to the targets before this erasure, so their copy "
                        "still lists this person: delivery %(ids)s.",
                        ids=", ".join(str(i) for i in erasure.already_delivered)))
            if erasure.subscriber:
                flash(_("The network subscription is erased."))
            if erasure.staff_account:
                flash(_("This address also has a staff account: remove it under Users."))
            return redirect(url_for("admin.privacy_requests"), 303)
        data = dsr.export(address, actor=current_user, via="web",
                          paper_name=form.paper_name.data)
    except dsr.RequestError as exc:
        form.email.errors = [*form.email.errors, str(exc)]
        return _page(form, 422)
    response = Response(json.dumps(data, indent=2, ensure_ascii=False),
                        mimetype="application/json")
    response.headers["Content-Disposition"] = "attachment; filename=data-subject-export.json"
    response.headers["Cache-Control"] = "no-store"
    return response
