"""The admin's tools against a flood: block rules, the hourly report, and striking out
signatures in bulk after a preview of how many."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import DateTimeLocalField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from petitions.admin import bp
from petitions.auth.access import admin_required
from petitions.models import BlockKind
from petitions.services import abuse, accounts

Page = str | tuple[str, int] | Response


class BlockForm(FlaskForm):
    kind = SelectField(_l("Block"), choices=[
        SelectChoice(BlockKind.EMAIL_DOMAIN.value, _l("an email domain, e.g. spam.example")),
        SelectChoice(BlockKind.EMAIL.value, _l("an email address")),
        SelectChoice(BlockKind.IP_NETWORK.value,
                     _l("an IP address or range, e.g. 203.0.113.0/24")),
    ])
    value = StringField(_l("Domain, address or range"), validators=[
        DataRequired(_l("Please say what to block.")), Length(max=254)])


class BlockDigestForm(FlaskForm):
    """Block what the report found, by its digest (the report keeps nothing else)."""

    kind = HiddenField(validators=[DataRequired(), Length(max=16)])
    digest = HiddenField(validators=[DataRequired(), Length(max=64)])


class InvalidateForm(FlaskForm):
    action = SelectField(_l("Action"), validators=[Optional()])
    domain = StringField(_l("Email domain"), validators=[Optional(), Length(max=254)])
    network = StringField(_l("IP address or range"), validators=[Optional(), Length(max=64)])
    since = DateTimeLocalField(_l("Signed from (UTC)"), validators=[Optional()])
    until = DateTimeLocalField(_l("Signed before (UTC)"), validators=[Optional()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.action.choices = [SelectChoice("", _l("All actions")),
                               *(SelectChoice(a.slug, a.title)
                                 for a in accounts.managed_actions(current_user))]

    def selection(self) -> abuse.Selection:
        action = abuse.action_by_slug(self.action.data) if self.action.data else None
        return abuse.Selection(
            action_id=action.id if action else None,
            domain=(self.domain.data or "").strip(), network=(self.network.data or "").strip(),
            since=_utc(self.since.data), until=_utc(self.until.data))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value else None


def _page(block: BlockForm | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("admin/abuse.html", block=block or BlockForm(),
                           network_form=BlockDigestForm(), rules=abuse.rules(),
                           reports=abuse.latest_reports()), status


@bp.get("/abuse")
@admin_required
def abuse_home() -> Page:
    return _page()


@bp.post("/abuse/rules")
@admin_required
def add_block_rule() -> Page:
    form = BlockForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        added = abuse.add_rule(BlockKind(form.kind.data), form.value.data or "",
                               actor=current_user)
    except abuse.AbuseError as exc:
        form.value.errors = [*form.value.errors, str(exc)]
        return _page(form, 422)
    if not added:
        flash(_("This is blocked already."))
        return redirect(url_for("admin.abuse_home"), 303)
    # The one time what was typed is shown: the rule keeps only its digest.
    flash(ngettext("%(num)s block rule added for %(value)s. From now on it is shown by "
                   "digest only: %(label)s.",
                   "%(num)s block rules added for %(value)s. From now on they are shown by "
                   "digest only: %(label)s.", len(added),
                   value=(form.value.data or "").strip(),
                   label=", ".join(abuse.digest_label(rule.value) for rule in added[:3])
                   + ("…" if len(added) > 3 else "")))
    return redirect(url_for("admin.abuse_home"), 303)


@bp.post("/abuse/block-network")
@admin_required
def block_network() -> Page:
    form = BlockDigestForm()
    if not form.validate_on_submit() or form.kind.data not in {
            BlockKind.IP_NETWORK.value, BlockKind.EMAIL_DOMAIN.value}:
        abort(400)
    abuse.block_digest(BlockKind(form.kind.data), form.digest.data or "", actor=current_user)
    flash(_("The network is blocked.") if form.kind.data == BlockKind.IP_NETWORK.value
          else _("The domain is blocked."))
    return redirect(url_for("admin.abuse_home"), 303)


@bp.post("/abuse/rules/<int:rule_id>/delete")
@admin_required
def remove_block_rule(rule_id: int) -> Page:
    if not FlaskForm().validate_on_submit():
        abort(400)
    if not abuse.remove_rule(rule_id, actor=current_user):
        abort(404)
    flash(_("The block rule is removed."))
    return redirect(url_for("admin.abuse_home"), 303)


@bp.route("/abuse/invalidate", methods=["GET", "POST"])
@admin_required
def invalidate_signatures() -> Page:
    """Two steps: the criteria give a count to check, then "strike them out" acts."""
    form = InvalidateForm(formdata=request.form if request.method == "POST" else None)
    if request.method != "POST":
        return render_template("admin/abuse_invalidate.html", form=form, count=None), 200
    if not form.validate_on_submit():
        return render_template("admin/abuse_invalidate.html", form=form, count=None), 422
    try:
        if "confirm" in request.form:
            done = abuse.invalidate(form.selection(), actor=current_user)
            flash(ngettext("%(num)s signature struck out.", "%(num)s signatures struck out.", done))
            return redirect(url_for("admin.abuse_home"), 303)
        count = abuse.preview(form.selection())
    except abuse.AbuseError as exc:
        field = getattr(form, exc.field)
        field.errors = [*field.errors, str(exc)]
        return render_template("admin/abuse_invalidate.html", form=form, count=None), 422
    return render_template("admin/abuse_invalidate.html", form=form, count=count), 200
