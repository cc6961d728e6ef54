"""Admin console: an action's picture, and the organization's branding."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from petitions.admin import bp
from petitions.admin.forms import ConfirmForm
from petitions.auth.access import admin_required
from petitions.models import Action
from petitions.services import actions as actions_service
from petitions.services import branding, images
from petitions.services.branding import BrandingError
from petitions.services.images import ImageError

Page = str | tuple[str, int]


def _read(field: FileField) -> bytes:
    """The uploaded file's bytes (b"" when none was chosen)."""
    upload = field.data
    if upload is None or not getattr(upload, "filename", ""):
        return b""
    return upload.read(images.MAX_UPLOAD_BYTES + 1)


class ActionImageForm(FlaskForm):
    image = FileField(_l("Picture (JPEG, PNG, WebP or GIF, up to 10 MB)"))
    alt = StringField(_l("Description of the picture for people who can't see it "
                         "(alt text)"), validators=[Length(max=images.MAX_ALT_LENGTH)])


def _action_or_404(slug: str) -> Action:
    action = actions_service.get_action(slug)
    if action is None:
        abort(404)
    return action


def _render_image_page(action: Action, form: ActionImageForm, status: int = 200) -> Page:
    return render_template("admin/action_image.html", action=action, form=form,
                           remove_form=ConfirmForm(), hero=images.view(action.image),
                           widths=images.HERO_WIDTHS), status


@bp.route("/actions/<slug>/image", methods=["GET", "POST"])
@admin_required
def action_image(slug: str) -> Page:
    """Upload or replace the action's hero picture, or change its alt text."""
    action = _action_or_404(slug)
    if request.method != "POST":
        return _render_image_page(action, ActionImageForm(data={"alt": action.image_alt}))
    form = ActionImageForm()
    if not form.validate():
        return _render_image_page(action, form, 422)
    data = _read(form.image)
    if not data and action.image is None:
        form.image.errors = [*form.image.errors, _("Please choose a picture.")]
    try:
        alt = images.check_alt(form.alt.data)
    except ImageError as exc:
        form.alt.errors = [*form.alt.errors, str(exc)]
    if form.image.errors or form.alt.errors:
        return _render_image_page(action, form, 422)
    try:
        images.set_action_image(action, data, alt, actor=current_user, via="web")
    except ImageError as exc:
        form.image.errors = [*form.image.errors, str(exc)]
        return _render_image_page(action, form, 422)
    flash(_("The picture is saved."))
    return redirect(url_for("admin.action_image", slug=action.slug), 303)


@bp.post("/actions/<slug>/image/remove")
@admin_required
def remove_action_image(slug: str) -> Page:
    action = _action_or_404(slug)
    if not ConfirmForm().validate():
        abort(400)
    images.remove_action_image(action, actor=current_user, via="web")
    flash(_("The picture is removed."))
    return redirect(url_for("admin.action_image", slug=action.slug), 303)


class BrandingForm(FlaskForm):
    organization_name = StringField(_l("Organization name"), validators=[
        Optional(), Length(max=200)])
    logo = FileField(_l("Logo (PNG with a transparent background works best)"))
    remove_logo = BooleanField(_l("Remove the logo"))
    primary_colour = StringField(_l("Primary colour, as #rrggbb (buttons, links)"),
                                 validators=[Optional(), Length(max=7)])
    footer_text = TextAreaField(_l("Footer text (e.g. who you are, a registered address)"),
                                validators=[Optional(), Length(max=1000)])
    footer_links = TextAreaField(_l("Footer links, one a line: label | https://address"),
                                 validators=[Optional(), Length(max=5000)])


def _render_branding(form: BrandingForm, status: int = 200) -> Page:
    return render_template("admin/branding.html", form=form, look=branding.current(),
                           default_name=branding.default_name()), status


@bp.route("/branding", methods=["GET", "POST"])
@admin_required
def branding_settings() -> Page:
    if request.method != "POST":
        row = branding.stored()
        data = {} if row is None else {
            "organization_name": row.organization_name, "primary_colour": row.primary_colour,
            "footer_text": row.footer_text,
            "footer_links": branding.links_text(row.footer_links or [])}
        return _render_branding(BrandingForm(data=data))
    form = BrandingForm()
    if not form.validate():
        return _render_branding(form, 422)
    try:
        branding.update(organization_name=form.organization_name.data or "",
                        primary_colour=form.primary_colour.data or "",
                        footer_text=form.footer_text.data or "",
                        footer_links=form.footer_links.data or "",
                        logo=_read(form.logo), remove_logo=bool(form.remove_logo.data),
                        actor=current_user, via="web")
    except BrandingError as exc:
        for name, message in exc.errors.items():
            form[name].errors = [*form[name].errors, message]
        return _render_branding(form, 422)
    flash(_("The branding is saved."))
    return redirect(url_for("admin.branding_settings"), 303)
