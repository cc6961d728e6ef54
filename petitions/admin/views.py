"""Admin console views: launching actions, users and tokens, the audit log.

Each view parses a form, calls a service with the current admin as the actor
(so the change lands in the audit log), and renders. POSTs are CSRF-protected by
the app-wide CSRFProtect.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import escape
from werkzeug.wrappers import Response
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length, Optional

from petitions.admin import bp, display
from petitions.admin.forms import (
    ActionForm,
    AuditFilterForm,
    CloneForm,
    ConfirmForm,
    EditUserForm,
    NewUserForm,
    TokenForm,
)
from petitions.auth.access import admin_required
from petitions.models import Action, ActionStatus, ApiToken, User
from petitions.services import (
    accounts,
    admin_queries,
    audit,
    counting,
    suppression,
    two_factor,
    updates,
)
from petitions.services import actions as actions_service
from petitions.services.actions import ActionError
from petitions.services.signing import SigningError

AUDIT_PER_PAGE = 50
MAX_AUDIT_PAGE = 100_000  # keeps the offset a number every database takes
Page = str | tuple[str, int] | Response


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"user_label": display.user_label, "when": display.when,
            "status_name": display.status_name, "step_label": display.step_label,
            "changes": display.changes}


def _action_or_404(slug: str) -> Action:
    action = actions_service.get_action(slug)
    if action is None:
        abort(404)
    return action


def _user_or_404(user_id: int) -> User:
    user = admin_queries.get_user(user_id)
    if user is None:
        abort(404)
    return user


def _token_or_404(token_id: int) -> ApiToken:
    token = admin_queries.get_token(token_id)
    if token is None:
        abort(404)
    return token


# --- home --------------------------------------------------------------------------------

@bp.get("/")
@admin_required
def home() -> str:
    actions = accounts.managed_actions(current_user)
    counts = counting.counts_for(a.id for a in actions)
    return render_template("admin/home.html", actions=actions, counts=counts)


# --- actions -----------------------------------------------------------------------------

def _render_action_form(form: ActionForm, action: Action | None, status: int = 200,
                        unsaved: bool = False) -> tuple[str, int]:
    """The form, with the appeal text rendered beside it as the public will see it."""
    transitions = actions_service.allowed_transitions(action) if action else []
    return render_template("admin/action_form.html", form=form, action=action,
                           preview_html=actions_service.render_markdown(form.body.data or ""),
                           transitions=transitions, unsaved=unsaved), status


def _form_only_step(form: ActionForm, action: Action | None) -> tuple[str, int] | None:
    """The "preview" and "add another target" buttons re-render without saving."""
    if "add_target" in request.form:
        form.add_row()
        return _render_action_form(form, action, unsaved=True)
    if "preview" in request.form:
        return _render_action_form(form, action, unsaved=True)
    return None


@bp.route("/actions/new", methods=["GET", "POST"])
@admin_required
def new_action() -> Page:
    form = ActionForm(assignable=admin_queries.assignable_organizers())
    if request.method != "POST":
        return _render_action_form(form, None)
    shown = _form_only_step(form, None)
    if shown is not None:
        return shown
    if not form.validate():
        return _render_action_form(form, None, 422)
    fields = form.fields_for_service()
    # Left empty (no JavaScript, or a title in another script), the slug is made from
    # the title by the rule static/js/action-form.js follows.
    fields["slug"] = fields["slug"] or actions_service.suggest_slug(fields["title"])
    try:
        action = actions_service.create_action(
            **fields,
            organizers=admin_queries.users_by_ids(form.organizers.data or []),
            actor=current_user, via="web")
    except ActionError as exc:
        form.add_service_errors(exc.errors)
        return _render_action_form(form, None, 422)
    flash(_("The action “%(title)s” is saved as a draft.", title=action.title))
    return redirect(url_for("admin.edit_action", slug=action.slug), 303)


@bp.route("/actions/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit_action(slug: str) -> Page:
    action = _action_or_404(slug)
    assignable = admin_queries.assignable_organizers(action.organizers)
    if request.method != "POST":
        form = ActionForm(data=ActionForm.data_of(action), assignable=assignable,
                          action=action)
        return _render_action_form(form, action)
    form = ActionForm(assignable=assignable, action=action)
    shown = _form_only_step(form, action)
    if shown is not None:
        return shown
    if not form.validate():
        return _render_action_form(form, action, 422)
    changes = {**form.fields_for_service(),
               "organizers": admin_queries.users_by_ids(form.organizers.data or [])}
    try:
        actions_service.update_action(action, changes, actor=current_user, via="web")
    except ActionError as exc:
        form.add_service_errors(exc.errors)
        return _render_action_form(form, action, 422)
    flash(_("Your changes are saved."))
    return redirect(url_for("admin.edit_action", slug=action.slug), 303)


@bp.post("/preview")
@admin_required
def preview() -> tuple[str, int, dict[str, str]]:
    """The sanitized HTML of a Markdown text, for the live preview beside the editor."""
    body = request.form.get("body", "")
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    if len(body) > 100_000:
        return (f'<p class="error">{escape(_("The text is too long to preview."))}</p>', 422,
                headers)
    return actions_service.render_markdown(body), 200, headers


@bp.route("/actions/<slug>/clone", methods=["GET", "POST"])
@admin_required
def clone_action(slug: str) -> Page:
    source = _action_or_404(slug)
    form = CloneForm(data={"slug": f"{source.slug}-copy"} if request.method != "POST" else None)
    if request.method != "POST":
        return render_template("admin/clone.html", form=form, source=source), 200
    if not form.validate():
        return render_template("admin/clone.html", form=form, source=source), 422
    try:
        action = actions_service.clone_action(source, slug=(form.slug.data or "").strip(),
                                              actor=current_user, via="web")
    except ActionError as exc:
        form.slug.errors = [*form.slug.errors, *exc.errors.values()]
        return render_template("admin/clone.html", form=form, source=source), 422
    flash(_("This is a new draft, copied from “%(title)s”. Change what differs.",
            title=source.title))
    return redirect(url_for("admin.edit_action", slug=action.slug), 303)


@bp.route("/actions/<slug>/status/<status>", methods=["GET", "POST"])
@admin_required
def change_status(slug: str, status: str) -> Page:
    """One lifecycle step, confirmed: GET asks, POST does it."""
    action = _action_or_404(slug)
    try:
        new = ActionStatus(status)
    except ValueError:
        abort(404)
    step = display.step_label(action.status, new)
    form = ConfirmForm()
    cancel = url_for("admin.edit_action", slug=action.slug)
    error = None
    if new not in actions_service.allowed_transitions(action):
        error = _("This action is %(current)s and can't %(step)s now.",
                  current=display.status_name(action.status), step=step)
    elif request.method == "POST":
        try:
            actions_service.update_action(action, {"status": new}, actor=current_user,
                                          via="web")
        except ActionError as exc:
            error = "; ".join(exc.errors.values())
        else:
            flash(_("Done: the action is %(status)s.", status=display.status_name(new)))
            return redirect(cancel, 303)
    page = render_template(
        "admin/confirm.html", form=form, error=error, cancel=cancel, button=step.capitalize(),
        title=_("Are you sure you want to %(step)s?", step=step),
        detail=_("“%(title)s” is %(current)s; it will be %(new)s.", title=action.title,
                 current=display.status_name(action.status), new=display.status_name(new)))
    return page, 409 if error else 200


# --- users -------------------------------------------------------------------------------

@bp.get("/users")
@admin_required
def users() -> str:
    return render_template("admin/users.html", users=accounts.list_users())


def _render_new_user(form: NewUserForm, status: int = 200) -> tuple[str, int]:
    return render_template("admin/user_new.html", form=form,
                           min_length=accounts.MIN_PASSWORD_LENGTH), status


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user() -> Page:
    form = NewUserForm()
    if request.method != "POST":
        return _render_new_user(form)
    if not form.validate():
        return _render_new_user(form, 422)
    try:
        user = accounts.create_user(form.email.data or "", form.role.data,
                                    password=form.password.data, name=form.name.data or None,
                                    actor=current_user, via="web")
    except accounts.AccountError as exc:
        # Password strength is checked by the form, so what is left is the address.
        form.email.errors = [*form.email.errors, str(exc)]
        return _render_new_user(form, 422)
    flash(_("The account of %(user)s is created.", user=display.user_label(user)))
    return redirect(url_for("admin.users"), 303)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int) -> Page:
    user = _user_or_404(user_id)
    if request.method != "POST":
        form = EditUserForm(data={"name": user.name or "", "role": str(user.role),
                                  "active": user.active})
        return render_template("admin/user_edit.html", form=form, user=user), 200
    form = EditUserForm()
    if not form.validate():
        return render_template("admin/user_edit.html", form=form, user=user), 422
    try:
        accounts.update_user(user, actor=current_user, role=form.role.data,
                             active=form.active.data, name=(form.name.data or "").strip(),
                             via="web")
    except accounts.AccountError as exc:
        # The service refuses only an admin changing their own role or deactivating
        # themselves: the message goes next to the field that asked for it.
        field = form.role if form.role.data != str(user.role) else form.active
        field.errors = [*field.errors, str(exc)]
        return render_template("admin/user_edit.html", form=form, user=user), 422
    flash(_("The account of %(user)s is saved.", user=display.user_label(user)))
    return redirect(url_for("admin.users"), 303)


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["GET", "POST"])
@admin_required
def reset_two_factor(user_id: int) -> Page:
    """Another admin turns off someone's two-factor login, e.g. after a lost phone."""
    user = _user_or_404(user_id)
    form = ConfirmForm()
    error = None
    if user.id == current_user.id:
        error = _("Another admin has to reset your own two-factor login.")
    elif not user.has_two_factor and user.totp_secret is None:
        error = _("This account has no two-factor login to reset.")
    elif request.method == "POST":
        two_factor.reset(user, actor=current_user, via="web")
        flash(_("The two-factor login of %(user)s is reset.", user=display.user_label(user)))
        return redirect(url_for("admin.edit_user", user_id=user.id), 303)
    page = render_template(
        "admin/confirm.html", form=form, error=error,
        cancel=url_for("admin.edit_user", user_id=user.id), button=_("Reset two-factor login"),
        title=_("Reset the two-factor login of %(user)s?", user=display.user_label(user)),
        detail=_("Their authenticator app and recovery codes stop working and they are "
                 "logged out everywhere. An admin must set up two-factor login again at "
                 "the next login; an organizer may."))
    return page, 409 if error else 200


# --- API tokens --------------------------------------------------------------------------

def _render_tokens(form: TokenForm, status: int = 200) -> tuple[str, int]:
    return render_template("admin/tokens.html", form=form, tokens=accounts.list_tokens(),
                           max_token_days=accounts.MAX_TOKEN_DAYS), status


def _token_form() -> TokenForm:
    return TokenForm(users=[u for u in accounts.list_users() if u.active])


@bp.get("/tokens")
@admin_required
def tokens() -> Page:
    return _render_tokens(_token_form())


@bp.post("/tokens")
@admin_required
def create_token() -> Page:
    form = _token_form()
    if not form.validate():
        return _render_tokens(form, 422)
    owner = _user_or_404(form.user.data)
    record, plain = accounts.create_token(owner, form.name.data or "", actor=current_user,
                                          via="web", scopes=form.scopes.data,
                                          expires_days=form.expires_days.data)
    response = make_response(render_template("admin/token_created.html", record=record,
                                             token=plain), 201)
    # The only time the token is shown: no cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@admin_required
def revoke_token(token_id: int) -> Page:
    record = _token_or_404(token_id)
    form = ConfirmForm()
    if request.method == "POST" and record.revoked_at is None:
        accounts.revoke_token(record, actor=current_user, via="web")
        flash(_("The token %(prefix)s… is revoked.", prefix=record.prefix))
        return redirect(url_for("admin.tokens"), 303)
    error = _("This token is revoked already.") if record.revoked_at else None
    page = render_template(
        "admin/confirm.html", form=form, error=error, cancel=url_for("admin.tokens"),
        button=_("Revoke"),
        title=_("Are you sure you want to revoke the token %(prefix)s…?", prefix=record.prefix),
        detail=_("“%(name)s”, of %(user)s. Programs using it will stop working; this can't "
                 "be undone.", name=record.name, user=display.user_label(record.user)))
    return page, 409 if error else 200


# --- audit log ---------------------------------------------------------------------------

@bp.get("/audit")
@admin_required
def audit_log() -> Page:
    people = accounts.list_users()
    form = AuditFilterForm(formdata=request.args, users=people,
                           object_types=admin_queries.audit_object_types())
    if not form.validate():
        return render_template("admin/audit.html", form=form, page=None, query={}), 422
    filters = audit.AuditFilter(
        actor_id=int(form.actor.data) if form.actor.data else None,
        verb=(form.verb.data or "").strip() or None,
        object_type=form.object_type.data or None,
        object_id=(form.object_id.data or "").strip() or None,
        since=form.since.data, until=form.until.data)
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_AUDIT_PAGE)
    page = admin_queries.audit_page(filters, number, AUDIT_PER_PAGE)
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/audit.html", form=form, page=page, query=query), 200


# --- the urgent-action network and the suppression list ---------------------------------

@bp.route("/actions/<slug>/alert", methods=["GET", "POST"])
@admin_required
def alert_network(slug: str) -> Page:
    """Alert the network's members who follow this action's topics or region."""
    action = _action_or_404(slug)
    form = ConfirmForm()
    cancel = url_for("admin.edit_action", slug=action.slug)
    error = None
    if request.method == "POST" and form.validate():
        try:
            updates.create_alert(action, current_user)
        except updates.UpdateError as exc:
            error = "; ".join(exc.errors.values())
        else:
            flash(_("The alert is on its way to the network."))
            return redirect(cancel, 303)
    page = render_template(
        "admin/confirm.html", form=form, error=error, cancel=cancel,
        button=_("Alert the network"),
        title=_("Alert the urgent-action network about “%(title)s”?", title=action.title),
        detail=_("Every confirmed member who follows all actions, or one of its topics or "
                 "its region, gets one email. It can be sent once."))
    return page, 409 if error else 200


class SuppressionForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[
        DataRequired(_l("Please enter an email address.")), Length(max=254)])
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=200)])


class SuppressionSearchForm(FlaskForm):
    """Finding an address's entries: a POST, so the address stays out of URLs."""

    address = EmailField(_l("Find an address"), validators=[
        DataRequired(_l("Please enter an email address.")), Length(max=254)])


def _render_suppressions(form: SuppressionForm, status: int = 200,
                         search_form: SuppressionSearchForm | None = None,
                         search: str = "") -> tuple[str, int]:
    search_form = search_form or SuppressionSearchForm(formdata=None)
    page_number = request.args.get("page", 1, type=int) or 1
    try:
        page = suppression.entries(page=1 if search else min(max(page_number, 1),
                                                             MAX_AUDIT_PAGE),
                                   search=search or None)
    except SigningError as exc:
        search_form.address.errors = [*search_form.address.errors, str(exc)]
        search, status = "", 422
        page = suppression.entries(page=1)
    return render_template("admin/suppressions.html", form=form, page=page, search=search,
                           search_form=search_form, remove_form=ConfirmForm()), status


@bp.post("/suppressions/search")
@admin_required
def suppression_search() -> Page:
    search_form = SuppressionSearchForm()
    form = SuppressionForm(formdata=None)
    if not search_form.validate_on_submit():
        return _render_suppressions(form, 422, search_form)
    return _render_suppressions(form, 200, search_form, (search_form.address.data or "").strip())


@bp.route("/suppressions", methods=["GET", "POST"])
@admin_required
def suppressions() -> Page:
    form = SuppressionForm(formdata=request.form if request.method == "POST" else None)
    if request.method != "POST":
        return _render_suppressions(form)
    if not form.validate():
        return _render_suppressions(form, 422)
    try:
        added = suppression.admin_add(current_user, form.email.data or "", form.note.data)
    except SigningError as exc:
        form.email.errors = [*form.email.errors, str(exc)]
        return _render_suppressions(form, 422)
    flash(_("The address is suppressed: no mail goes to it any more.") if added
          else _("The address was suppressed already."))
    return redirect(url_for("admin.suppressions"), 303)


@bp.post("/suppressions/<int:suppression_id>/remove")
@admin_required
def remove_suppression(suppression_id: int) -> Page:
    if not ConfirmForm().validate():
        abort(400)
    if not suppression.admin_remove(current_user, suppression_id):
        abort(404)
    flash(_("The suppression is removed."))
    return redirect(url_for("admin.suppressions"), 303)
