"""The signing form. Field names are part of the public contract (embeds, tests)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from petitions import countries
from petitions.services.signing import FIELD_LIMITS, SigningError, normalize_email


def valid_email(form: FlaskForm, field: EmailField) -> None:
    """The signing rules' own check of an address, as a WTForms validator."""
    try:
        normalize_email(field.data or "")
    except SigningError as exc:
        raise ValidationError(str(exc)) from exc


class SignatureForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[
        DataRequired(_l("Please enter your first name.")),
        Length(max=FIELD_LIMITS["first_name"])])
    last_name = StringField(_l("Last name"), validators=[
        DataRequired(_l("Please enter your last name.")),
        Length(max=FIELD_LIMITS["last_name"])])
    email = EmailField(_l("Email"), validators=[
        DataRequired(_l("Please enter your email address.")),
        Length(max=FIELD_LIMITS["email"]), valid_email])
    country = SelectField(_l("Country"), validate_choice=False, validators=[
        DataRequired(_l("Please choose your country."))])
    postcode = StringField(_l("Postcode (optional)"), validators=[
        Optional(), Length(max=FIELD_LIMITS["postcode"])])
    comment = TextAreaField(_l("Comment (optional)"), validators=[
        Optional(), Length(max=FIELD_LIMITS["comment"])])
    updates_opt_in = BooleanField(_l("Keep me informed about this action and similar ones."),
                                  default=False)
    show_publicly = BooleanField(_l("Show my first name and country among the recent signers."),
                                 default=False)

    def __init__(self, *args: object, locale: str = "en", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = [("", _l("Choose your country")), *list(countries.choices(locale))]

    def validate_country(self, field: SelectField) -> None:
        if field.data and field.data not in countries.CODES:
            raise ValidationError(_l("Please choose a country from the list."))
