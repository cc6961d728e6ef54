"""Organizer console views: each one parses, calls a service, and renders."""

from __future__ import annotations

from collections.abc import Iterator

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale, gettext, ngettext
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from petitions import countries
from petitions.auth.access import managed_action_or_abort, refuse_cross_site
from petitions.extensions import db
from petitions.models import Action, Delivery, User, utcnow
from petitions.organizer import bp
from petitions.organizer.chart import bar_chart
from petitions.organizer.forms import (
    AutoDeliveryForm,
    ConfirmForm,
    DeliveryRequestForm,
    ExportForm,
    PaperUploadForm,
)
from petitions.services import (
    accounts,
    audit,
    counting,
    deliveries,
    exports,
    paper,
    stats,
    tallies,
)

# The upload report lists at most this many rejected rows; the rest are counted.
REPORT_LIMIT = 200


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined,no-any-return]


def _action(slug: str) -> Action:
    return managed_action_or_abort(slug, _user())


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    size = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    return render_template(
        "errors/error.html", status=413, title=gettext("File too large"),
        message=gettext("The file is larger than %(size)s MB. Split it into smaller files "
                        "and upload them one by one.", size=f"{size:g}")), 413


@bp.get("/")
@login_required
def dashboard() -> str:
    actions = accounts.managed_actions(_user())
    counts = counting.counts_for(a.id for a in actions)
    return render_template("organizer/dashboard.html", actions=actions, counts=counts)


def _page_number() -> int:
    page = request.args.get("page", 1, type=int)
    return page if page is not None and 1 <= page <= 1_000_000 else 1


def _render_action(action: Action, export_form: ExportForm) -> str:
    window = stats.chart_window(action.id, is_open=action.is_open, today=utcnow().date())
    chart = bar_chart(stats.daily_confirmed(action.id, *window)) if window else None
    locale = str(get_locale())
    return render_template(
        "organizer/action.html", action=action, counts=counting.counts(action.id),
        chart=chart, by_country=stats.by_country(action.id, locale),
        by_source=stats.by_source(action.id),
        latest=stats.latest(action.id, _page_number()), export_form=export_form,
        tally=tallies.current_tally(action),
        country_name=lambda code: countries.name(code, locale))


@bp.get("/actions/<slug>")
@login_required
def action(slug: str) -> str:
    action = _action(slug)
    return _render_action(action, ExportForm(locale=str(get_locale()), formdata=None))


def _csv_response(chunks: Iterator[str], filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Personal data: no copy in a shared cache or the browser's.
    response.headers["Cache-Control"] = "no-store"
    return response


# The exports are POSTs with the CSRF token (checked by CSRFProtect before the view):
# a link or a form on another site can't make an organizer's browser download them.
@bp.post("/actions/<slug>/signatures.csv")
@login_required
@refuse_cross_site
def export_signatures(slug: str) -> Response | tuple[str, int]:
    action = _action(slug)
    try:
        filters = exports.parse_export_filters(request.form)
        bom = exports.parse_bom(request.form)
    except exports.ExportFilterError as exc:
        form = ExportForm(formdata=request.form, locale=str(get_locale()))
        form.show_errors(exc.errors)
        return render_template("organizer/export.html", action=action, export_form=form), 422
    exports.record_export(action, filters, actor=_user(), bom=bom)
    return _csv_response(exports.stream_signatures_csv(action, filters, bom=bom),
                         exports.export_filename(action))


@bp.post("/actions/<slug>/paper.csv")
@login_required
@refuse_cross_site
def export_paper(slug: str) -> Response | tuple[str, int]:
    action = _action(slug)
    try:
        bom = exports.parse_bom(request.form)
    except exports.ExportFilterError as exc:
        abort(422, description=exc.errors["bom"])
    exports.record_export(action, None, actor=_user(), bom=bom, kind="paper")
    return _csv_response(exports.stream_paper_csv(action, bom=bom),
                         exports.export_filename(action, "paper"))


def _render_paper(action: Action, form: PaperUploadForm, status: int = 200,
                  outcome: paper.UploadOutcome | None = None) -> tuple[str, int]:
    return render_template(
        "organizer/paper.html", action=action, form=form, outcome=outcome,
        report_limit=REPORT_LIMIT,
        batches=paper.list_batches(action), counts=counting.counts(action.id)), status


@bp.route("/actions/<slug>/paper", methods=["GET", "POST"])
@login_required
def paper_upload(slug: str) -> tuple[str, int]:
    action = _action(slug)
    form = PaperUploadForm()
    if request.method != "POST":
        return _render_paper(action, form)
    if not form.validate_on_submit():
        return _render_paper(action, form, 422)
    try:
        outcome = paper.upload(action, form.file.data.read(), label=form.label.data or "",
                               uploaded_by=_user())
    except paper.PaperUploadError as exc:
        form.file.errors = [str(exc)]
        return _render_paper(action, form, 422)
    if outcome.batch is None:
        return _render_paper(action, form, 422, outcome)
    return _render_paper(action, PaperUploadForm(formdata=None), 200, outcome)


@bp.route("/actions/<slug>/paper/<int:batch_id>/delete", methods=["GET", "POST"])
@login_required
def paper_delete(slug: str, batch_id: int) -> Response | tuple[str, int]:
    action = _action(slug)
    batch = paper.get_batch(action, batch_id)
    if batch is None:
        abort(404)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        removed = paper.delete_batch(batch, actor=_user())
        flash(ngettext("The batch and its %(num)d signature were deleted.",
                       "The batch and its %(num)d signatures were deleted.", removed))
        return redirect(url_for("organizer.paper_upload", slug=action.slug), code=303)
    return render_template("organizer/paper_delete.html", action=action, batch=batch,
                           form=form), 200


# --- the tally and the deliveries to the officials ----------------------------------------

@bp.post("/actions/<slug>/tally")
@login_required
def recompile_tally(slug: str) -> Response:
    action = _action(slug)
    tallies.compile_tally(action.id)
    flash(gettext("The tally was recompiled."))
    return redirect(url_for("organizer.action", slug=action.slug, _anchor="tally"), code=303)


def _delivery_or_404(action: Action, delivery_id: int) -> Delivery:
    delivery = deliveries.get_delivery(action, delivery_id)
    if delivery is None:
        abort(404)
    return delivery


def _auto_form(action: Action) -> AutoDeliveryForm:
    return AutoDeliveryForm(formdata=None, on_goal=action.auto_deliver_on_goal,
                            at_deadline=action.auto_deliver_at_deadline)


@bp.get("/actions/<slug>/deliveries")
@login_required
def delivery_list(slug: str) -> str:
    action = _action(slug)
    return render_template("organizer/deliveries.html", action=action,
                           deliveries=deliveries.list_deliveries(action),
                           auto_form=_auto_form(action))


def _render_delivery_confirm(action: Action, form: DeliveryRequestForm,
                             error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("organizer/delivery_confirm.html", action=action, form=form,
                           error=error, counts=counting.counts(action.id)), status


@bp.route("/actions/<slug>/deliveries/new", methods=["GET", "POST"])
@login_required
def delivery_request(slug: str) -> Response | tuple[str, int]:
    action = _action(slug)
    form = DeliveryRequestForm()
    if request.method != "POST":
        return _render_delivery_confirm(action, form)
    try:
        delivery = deliveries.request_delivery(action, actor=_user(), via="web",
                                               mark_delivered=form.mark_delivered.data)
    except deliveries.DeliveryError as exc:
        return _render_delivery_confirm(action, form, str(exc), 422)
    flash(gettext("The delivery is queued: the package is compiled, then sent to each "
                  "target. This page shows how it goes."))
    return redirect(url_for("organizer.delivery_detail", slug=action.slug,
                            delivery_id=delivery.id), code=303)


@bp.post("/actions/<slug>/deliveries/automatic")
@login_required
def delivery_automatic(slug: str) -> Response:
    action = _action(slug)
    form = AutoDeliveryForm()
    deliveries.set_auto_delivery(action, on_goal=form.on_goal.data,
                                 at_deadline=form.at_deadline.data, actor=_user())
    flash(gettext("The automatic delivery settings were saved."))
    return redirect(url_for("organizer.delivery_list", slug=action.slug, _anchor="automatic"),
                    code=303)


@bp.get("/actions/<slug>/deliveries/<int:delivery_id>")
@login_required
def delivery_detail(slug: str, delivery_id: int) -> str:
    action = _action(slug)
    locale = str(get_locale())
    return render_template("organizer/delivery.html", action=action,
                           delivery=_delivery_or_404(action, delivery_id),
                           country_name=lambda code: countries.name(code, locale))


@bp.post("/actions/<slug>/deliveries/<int:delivery_id>/<name>")
@login_required
@refuse_cross_site
def delivery_download(slug: str, delivery_id: int, name: str) -> Response:
    """A file of the package as it was sent, decrypted for the organizer; every download
    is audited, since the files list the signers' names."""
    action = _action(slug)
    delivery = _delivery_or_404(action, delivery_id)
    stored = deliveries.get_file(delivery, name)
    if stored is None:
        abort(404)
    content = deliveries.read_file(stored)
    audit.record("delivery.download", "delivery", delivery.id, actor=_user(), via="web",
                 after={"file": stored.name})
    db.session.commit()
    response = Response(content, mimetype=stored.media_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{action.slug}-delivery-{delivery.id}-{stored.name}"')
    response.headers["Cache-Control"] = "no-store"
    return response
