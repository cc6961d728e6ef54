"""Console forms: the export filters, the paper upload and the deliveries."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import DateInput

from petitions import countries
from petitions.services.paper import LABEL_MAX


class ExportForm(FlaskForm):
    """The export filters, sent by POST with the CSRF token, so that another site
    can't trigger a download of the signers.

    It only renders the fields (and their errors): the values are read by
    ``services.exports.parse_export_filters``, as the API reads them.
    """

    since = StringField(_l("Confirmed on or after (YYYY-MM-DD)"), widget=DateInput())
    country = SelectField(_l("Country"), validate_choice=False)
    opted_in = BooleanField(_l("Only signers who asked for updates"), false_values=("", "0"))
    bom = BooleanField(_l("For Excel (adds a byte-order mark)"), false_values=("", "0"))

    def __init__(self, *args: object, locale: str = "en", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = [("", _l("All countries")), *list(countries.choices(locale))]

    def show_errors(self, errors: Mapping[str, str]) -> None:
        for name, message in errors.items():
            if name in self._fields:
                self._fields[name].errors = [message]


class PaperUploadForm(FlaskForm):
    label = StringField(_l("Where and when were they collected?"), validators=[
        DataRequired(_l("Please describe the batch, e.g. the event and its date.")),
        Length(max=LABEL_MAX)])
    file = FileField(_l("CSV file"), validators=[
        FileRequired(_l("Please choose a CSV file."))])


class ConfirmForm(FlaskForm):
    """A POST with nothing but its CSRF token, for destructive actions."""


class DeliveryRequestForm(FlaskForm):
    """The confirmation step of a delivery: the organizer sees the targets, then sends."""

    mark_delivered = BooleanField(_l("Then mark the action as delivered"))


class AutoDeliveryForm(FlaskForm):
    on_goal = BooleanField(_l("When the goal is reached"))
    at_deadline = BooleanField(_l("When the deadline has passed"))
