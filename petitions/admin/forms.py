"""Admin console forms. They parse and check what a person typed; the services
decide, and their errors are put back next to the field they concern."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    FieldList,
    Form,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from petitions.admin.display import language_choices, user_label
from petitions.models import Action, Role, Scope, Term, TermKind, User
from petitions.services import topics
from petitions.services.accounts import MAX_TOKEN_DAYS, MIN_PASSWORD_LENGTH
from petitions.services.actions import LANGUAGES, SLUG_PATTERN, TargetInput

MAX_TARGET_ROWS = 50

_SLUG_PATTERN_VALIDATORS = [
    Length(max=80),
    Regexp(SLUG_PATTERN, message=_l("Use lower-case letters, digits and single hyphens, "
                                    "e.g. free-the-journalists.")),
]
ROLE_CHOICES = [SelectChoice(Role.ORGANIZER.value, _l("Organizer")),
                SelectChoice(Role.ADMIN.value, _l("Admin"))]


def _valid_email(form: Form, field: Field) -> None:
    if field.data:
        try:
            validate_email(field.data, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValidationError(_l("This is not a valid email address.")) from exc


_SLUG_VALIDATORS = [DataRequired(_l("Please give the action a slug.")),
                    *_SLUG_PATTERN_VALIDATORS]


class TargetForm(Form):
    """One official the action is addressed to. A row left empty is ignored."""

    name = StringField(_l("Name"), validators=[Length(max=200)])
    title = StringField(_l("Title"), validators=[Length(max=200)])
    organization = StringField(_l("Organization"), validators=[Length(max=200)])
    email = EmailField(_l("Email (optional)"), validators=[Length(max=320), _valid_email])

    @property
    def is_blank(self) -> bool:
        return not any((f.data or "").strip() for f in self)

    def validate_name(self, field: StringField) -> None:
        if not (field.data or "").strip() and not self.is_blank:
            raise ValidationError(_l("Please give this target a name."))

    def to_input(self) -> TargetInput:
        return TargetInput(name=(self.name.data or "").strip(),
                           title=(self.title.data or "").strip(),
                           organization=(self.organization.data or "").strip(),
                           email=(self.email.data or "").strip())


def _retired_label(term: Term) -> str:
    return str(_l("%(name)s (retired)", name=term.name))


class ActionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[
        DataRequired(_l("Please give the action a title.")), Length(max=200)])
    # Left empty, it is made from the title (services.actions.suggest_slug); in a
    # browser static/js/slug.js fills it in while the title is typed.
    slug = StringField(_l("Slug: the end of the action's address, e.g. "
                          "free-the-journalists (left empty, it is made from the title)"),
                       validators=[Optional(), *_SLUG_PATTERN_VALIDATORS])
    summary = TextAreaField(_l("Summary (shown in lists and when shared)"),
                            validators=[Length(max=500)])
    body = TextAreaField(_l("Appeal text (Markdown)"), validators=[Length(max=100_000)])
    demands = TextAreaField(_l("Demands (one a line)"), validators=[Length(max=20_000)])
    goal = IntegerField(_l("Goal (signatures)"), default=1000, validators=[
        InputRequired(_l("Please give a goal.")),
        NumberRange(min=1, max=1_000_000_000,
                    message=_l("The goal must be a whole number of at least 1."))])
    deadline = DateField(_l("Deadline (optional, YYYY-MM-DD)"), validators=[Optional()])
    language = SelectField(_l("Language"), default="en",
                           choices=[SelectChoice(code, label, render_kw={"lang": code})
                                    for code, label in language_choices(LANGUAGES)])
    topics = SelectMultipleField(_l("Topics (network members who follow one are alerted)"),
                                 widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    region = SelectField(_l("Region"), default="")
    targets = FieldList(FormField(TargetForm), min_entries=1, max_entries=MAX_TARGET_ROWS)
    # Defences and retention.
    proof_of_work = BooleanField(_l("Ask signers' browsers to solve a small puzzle "
                                    "(against floods of fake signatures; needs JavaScript)"))
    keep_data = BooleanField(_l("Keep the signers' data after the action closes "
                                "(otherwise it is anonymized after the retention period)"))
    organizers = SelectMultipleField(_l("Organizers"), coerce=int,
                                     widget=ListWidget(prefix_label=False),
                                     option_widget=CheckboxInput())

    def __init__(self, *args: Any, assignable: list[User], action: Action | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organizers.choices = [SelectChoice(str(u.id), user_label(u)) for u in assignable]
        # The managed list, and the retired terms the action has (it may keep them).
        kept_topics = set(action.topics or []) if action else set()
        kept_region = action.region if action else ""
        self.topics.choices = [
            SelectChoice(t.key, _retired_label(t) if t.retired else t.name)
            for t in topics.terms(TermKind.TOPIC, include_retired=True)
            if not t.retired or t.key in kept_topics]
        self.region.choices = [SelectChoice("", _l("None")), *[
            SelectChoice(t.key, _retired_label(t) if t.retired else t.name)
            for t in topics.terms(TermKind.REGION, include_retired=True)
            if not t.retired or t.key == kept_region]]
        # Errors about the targets as a whole ("at least one"), shown above the rows.
        self.targets_errors: list[str] = []
        # The empty row that static/js/action-form.js copies for "add another target".
        self.target_template = TargetForm(prefix="targets-__index__-")

    @classmethod
    def data_of(cls, action: Action) -> dict[str, Any]:
        """The form's starting values for editing ``action``."""
        return {
            "title": action.title, "slug": action.slug, "summary": action.summary,
            "body": action.body, "demands": action.demands, "goal": action.goal,
            "deadline": action.deadline, "language": action.language,
            "targets": [TargetInput(t.name, t.title, t.organization, t.email)
                        for t in action.targets],
            "organizers": [u.id for u in action.organizers],
            "proof_of_work": action.proof_of_work, "keep_data": action.keep_data,
            "topics": list(action.topics or []), "region": action.region,
        }

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if not self.target_inputs() and not any(row.errors for row in self.targets):
            self.targets_errors.append(str(_l("Please name at least one target.")))
            valid = False
        return valid

    def add_row(self) -> None:
        """One more empty target row, for the "add another target" button."""
        if len(self.targets) < MAX_TARGET_ROWS:
            self.targets.append_entry()

    def target_inputs(self) -> list[TargetInput]:
        return [row.form.to_input() for row in self.targets if not row.form.is_blank]

    def fields_for_service(self) -> dict[str, Any]:
        """What create_action and update_action take, except the organizers (users)."""
        return {
            "slug": (self.slug.data or "").strip(),
            "title": (self.title.data or "").strip(),
            "summary": (self.summary.data or "").strip(),
            "body": self.body.data or "",
            # Only line feeds (and CR LF) part demands: any other line break in one is
            # refused by the service, not taken for a new demand.
            "demands": (self.demands.data or "").replace("\r\n", "\n").split("\n"),
            "goal": self.goal.data,
            "deadline": self.deadline.data,
            "language": self.language.data,
            "topics": list(self.topics.data or []),
            "region": self.region.data or "",
            "targets": self.target_inputs(),
            "proof_of_work": bool(self.proof_of_work.data),
            "keep_data": bool(self.keep_data.data),
        }

    def add_service_errors(self, errors: dict[str, str]) -> None:
        """Put the service's ``ActionError.errors`` next to the fields they name."""
        for name, message in errors.items():
            if name == "targets":
                self.targets_errors.append(message)
            elif name in self._fields and name != "csrf_token":
                self[name].errors = [*self[name].errors, message]
            else:
                self.form_errors.append(message)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.targets_errors)


class CloneForm(FlaskForm):
    slug = StringField(_l("Slug of the new action"), validators=_SLUG_VALIDATORS)


class ConfirmForm(FlaskForm):
    """A button that only carries the CSRF token: "yes, do it"."""


class NewUserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[
        DataRequired(_l("Please enter an email address.")), Length(max=254), _valid_email])
    name = StringField(_l("Name (optional)"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.ORGANIZER.value)
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Please choose a password.")),
        Length(min=MIN_PASSWORD_LENGTH, max=1024,
               message=_l("The password must have at least %(min)d characters.",
                          min=MIN_PASSWORD_LENGTH))])
    repeat = PasswordField(_l("Password, again"), validators=[
        EqualTo("password", _l("The two passwords differ."))])


class EditUserForm(FlaskForm):
    name = StringField(_l("Name (optional)"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    active = BooleanField(_l("Active (may log in and use API tokens)"))


SCOPE_LABELS = {Scope.READ: _l("read: actions and deliveries"),
                Scope.EXPORT: _l("export: download the signers (CSV)"),
                Scope.WRITE: _l("write: create and change actions, ask for deliveries")}


class TokenForm(FlaskForm):
    user = SelectField(_l("For"), coerce=int)
    name = StringField(_l("Name (what the token is for)"), validators=[
        DataRequired(_l("Please say what the token is for.")), Length(max=100)])
    scopes = SelectMultipleField(
        _l("What it may do"),
        choices=[SelectChoice(s.value, label) for s, label in SCOPE_LABELS.items()],
        default=[Scope.READ.value], widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[DataRequired(_l("Please choose at least one scope."))])
    expires_days = IntegerField(_l("Days until it expires"), validators=[
        InputRequired(_l("Please say how many days the token lasts.")),
        NumberRange(1, MAX_TOKEN_DAYS, _l("From 1 to %(max)s days.", max=MAX_TOKEN_DAYS))])

    def __init__(self, *args: Any, users: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user.choices = [SelectChoice(str(u.id), user_label(u)) for u in users]
        if self.expires_days.data is None and not self.expires_days.raw_data:
            self.expires_days.data = current_app.config["API_TOKEN_DAYS"]


class AuditFilterForm(FlaskForm):
    """The log's filters, read from the query string (a GET form: nothing changes)."""

    class Meta:
        csrf = False

    actor = SelectField(_l("Who"), default="")
    verb = StringField(_l("What (e.g. action. or user.update)"),
                       validators=[Optional(), Length(max=64)])
    object_type = SelectField(_l("Object type"), default="")
    object_id = StringField(_l("Object id"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From (YYYY-MM-DD)"), validators=[Optional()])
    until = DateField(_l("Until (YYYY-MM-DD)"), validators=[Optional()])

    def __init__(self, *args: Any, users: list[User], object_types: list[str],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor.choices = [SelectChoice("", _l("Anyone")),
                              *[SelectChoice(str(u.id), user_label(u)) for u in users]]
        self.object_type.choices = [SelectChoice("", _l("Any")),
                                    *[SelectChoice(t) for t in object_types]]

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))
