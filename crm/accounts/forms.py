"""Account forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    Optional,
    ValidationError,
)

from crm.accounts.passwords import MAX_LENGTH
from crm.forms import Form, Mailable, choices, int_or_none

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "lead": _l("Project lead"),
    "counsellor": _l("Counselling"),
    "staff": _l("Assistance"),
    "readonly": _l("Read only"),
}


class LoginForm(Form):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)])
    next = HiddenField()


class NewPasswordForm(Form):
    """Choosing a new password: through a reset link, and (with the current one) on the own
    account page."""

    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=MAX_LENGTH)])
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("new", message=_l("The passwords do not match."))],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])


class ForgotPasswordForm(Form):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])


class LanguageForm(Form):
    locale = SelectField(_l("Language"), choices=choices([("de", "Deutsch"), ("en", "English")]))
    next = HiddenField()


class UserForm(Form):
    email = EmailField(
        _l("E-mail address"), validators=[DataRequired(), Email(), Mailable(), Length(max=254)]
    )
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    # Not the first choice (Administration): an account created in a hurry must not get
    # every permission; counselling is the role most new accounts need.
    role = SelectField(_l("Role"), choices=choices(ROLE_LABELS.items()), default="counsellor")
    office_id = SelectField(_l("Home branch office"), coerce=int)
    other_office_ids = SelectMultipleField(
        _l("Further branch offices (outreach counselling)"), coerce=int
    )

    def validate_office_id(self, field: SelectField) -> None:
        # Counsellors see and record only participants of their offices: without one the
        # new account would open an empty participant list and could record nobody.
        if self.role.data == "counsellor" and not field.data:
            raise ValidationError(
                _l(
                    "Counsellors need a home branch office: they see and record only the "
                    "participants of their offices."
                )
            )


class ActionForm(Form):
    """An empty form for POST buttons (deactivate, reset …): it only carries the CSRF token."""


class HandoverForm(Form):
    """Before deactivating: the colleague who takes over (optional: deactivate without)."""

    colleague_id = SelectField(_l("Hand over to"), coerce=int_or_none, validate_choice=True)


ABSENCE_KIND_LABELS = {
    "vacation": _l("Vacation"),
    "sick": _l("Sick leave"),
    "travel": _l("Business trip"),
    "other": _l("Other"),
}


class AbsenceForm(Form):
    first_day = DateField(_l("First day"), validators=[DataRequired()])
    last_day = DateField(_l("Last day"), validators=[DataRequired()])
    kind = SelectField(_l("Kind"), choices=choices(ABSENCE_KIND_LABELS.items()))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])
