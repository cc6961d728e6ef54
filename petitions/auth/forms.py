"""Login and password forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from petitions.services.accounts import MIN_PASSWORD_LENGTH

_AT_MOST_1024 = Length(max=1024, message=_l("The password can have at most %(max)d characters."))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[
        DataRequired(_l("Please enter your email.")),
        Length(max=254, message=_l("An email address has at most %(max)d characters."))])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Please enter your password.")), _AT_MOST_1024])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Please enter your current password.")), _AT_MOST_1024])
    new = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Please choose a new password.")),
        Length(min=MIN_PASSWORD_LENGTH,
               message=_l("The password must have at least %(min)d characters.")),
        _AT_MOST_1024])
    repeat = PasswordField(_l("New password, again"), validators=[
        DataRequired(_l("Please enter the new password again.")),
        EqualTo("new", _l("The two new passwords differ."))])


class CodeForm(FlaskForm):
    """The second step of a login: a code of the authenticator app or a recovery code."""

    code = StringField(_l("Code"), validators=[
        DataRequired(_l("Please enter the code.")),
        Length(max=64, message=_l("A code has at most %(max)d characters."))])


class EnrolForm(FlaskForm):
    """Setting up two-factor login: the first code the app shows proves it works."""

    code = StringField(_l("Code from the app"), validators=[
        DataRequired(_l("Please enter the 6-digit code your app shows.")),
        Length(max=64, message=_l("A code has at most %(max)d characters."))])
