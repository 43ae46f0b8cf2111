"""Event forms: event/series, staff slot, checklist item, contact, lead."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from crm.events.registration import RegistrationData
from crm.forms import Form, Mailable, WholeNumberField, choices, int_or_none
from crm.inputs import mailable

KIND_LABELS = {
    "fair": _l("Job fair"),
    "presentation": _l("Presentation"),
    "coordination": _l("Coordination meeting"),
    "information": _l("Information event"),
    "workshop": _l("Workshop"),
    "steering": _l("Steering committee"),
    "conference": _l("Conference"),
    "other": _l("Other"),
}
PATTERN_LABELS = {
    "none": _l("Single date"),
    "biweekly": _l("Every 14 days on this weekday"),
    "quarterly_first_tuesday": _l("Quarterly, first Tuesday (Jan, Apr, Jul, Oct)"),
    "monthly": _l("Monthly on this day"),
    "yearly": _l("Yearly on this day"),
    "custom": _l("Custom rule (RRULE)"),
}
SCOPE_LABELS = {"this": _l("Only this date"), "following": _l("This and all following dates")}
CATEGORY_LABELS = {
    "materials": _l("Materials"),
    "registration": _l("Registration"),
    "booth": _l("Booth"),
    "other": _l("Other"),
}
CONTACT_STATUS_LABELS = {
    "invited": _l("invited"),
    "registered": _l("registered"),
    "attended": _l("attended"),
    "no_show": _l("no-show"),
}
EVENT_STATUS_LABELS = {"planned": _l("planned"), "cancelled": _l("cancelled")}


class EventForm(Form):
    kind = SelectField(_l("Kind"), choices=choices(KIND_LABELS.items()), default="fair")
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    start_date = DateField(_l("Start date"), validators=[DataRequired()])
    start_time = TimeField(_l("Start time"), validators=[Optional()])
    end_date = DateField(_l("End date"), validators=[Optional()])
    end_time = TimeField(_l("End time"), validators=[Optional()])
    place = StringField(_l("Place"), validators=[Optional(), Length(max=200)])
    organiser = StringField(_l("Organiser (organisation name or number)"), validators=[Optional()])
    # Filled by the record picker; without JavaScript the name or number above is resolved.
    organiser_id = HiddenField()
    responsible_id = SelectField(_l("Responsible"), coerce=int)
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=10000)])
    pattern = SelectField(_l("Repeat"), choices=choices(PATTERN_LABELS.items()), default="none")
    custom_rule = StringField(_l("Custom rule"), validators=[Optional(), Length(max=400)])
    scope = RadioField(_l("Apply to"), choices=choices(SCOPE_LABELS.items()), default="this")
    default_checklist = BooleanField(_l("Add the standard fair checklist"), default=True)


class SlotForm(Form):
    user_id = SelectField(_l("Staff member"), coerce=int)
    day = DateField(_l("Date"), validators=[DataRequired()])
    start_time = TimeField(_l("From"), validators=[DataRequired()])
    end_time = TimeField(_l("Until"), validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class ChecklistForm(Form):
    category = SelectField(_l("Category"), choices=choices(CATEGORY_LABELS.items()))
    label = StringField(_l("Item"), validators=[DataRequired(), Length(max=200)])


class ContactForm(Form):
    person = StringField(_l("Person (name, e-mail or number)"), validators=[DataRequired()])
    person_id = HiddenField()
    status = SelectField(_l("Status"), choices=choices(CONTACT_STATUS_LABELS.items()))


class InviteListForm(Form):
    contact_list_id = SelectField(_l("Contact list"), coerce=int_or_none)


class LeadForm(Form):
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("E-mail"), validators=[Optional(), Email(), Mailable(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=60)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=200)])
    # Filled by the record picker: a known organisation is linked as chosen, whatever postcode
    # the visitor gives; without it the name (and postcode) decide as before.
    organisation_id = HiddenField()
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=5)])
    note = TextAreaField(_l("What was discussed"), validators=[Optional(), Length(max=5000)])
    assignee_id = SelectField(_l("Follow-up by"), coerce=int)
    followup_subject = StringField(
        _l("Follow-up subject"), validators=[Optional(), Length(max=200)]
    )
    followup_due = DateField(_l("Follow-up due on"), validators=[Optional()])


REGISTRATION_STATUS_LABELS = {
    "registered": _l("registered"),
    "waitlisted": _l("waiting list"),
    "cancelled": _l("cancelled"),
    "attended": _l("checked in"),
    "no_show": _l("no-show"),
}


class RegistrationSettingsForm(Form):
    registration_open = BooleanField(_l("Public registration is open"))
    capacity = WholeNumberField(
        _l("Seats (empty: unlimited)"), validators=[Optional(), NumberRange(min=0, max=100_000)]
    )
    deadline_date = DateField(_l("Registration deadline (date)"), validators=[Optional()])
    deadline_time = TimeField(_l("Registration deadline (time)"), validators=[Optional()])
    ask_organisation = BooleanField(_l("Ask for the organisation"))
    ask_dietary = BooleanField(_l("Ask for dietary needs"))
    ask_accessibility = BooleanField(_l("Ask for accessibility needs"))


# --- the public registration page -----------------------------------------------------------------
# A plain function, like the inquiry form's (crm.intake.forms): the page is public and framed
# by other sites, so it carries a signed form token instead of Flask-WTF's session token.

REGISTRATION_MAX_LENGTHS = {
    "name": 200,
    "email": 254,
    "organisation": 200,
    "dietary": 500,
    "accessibility": 500,
}


@dataclass
class CheckedRegistration:
    """The posted values as typed, the error per field, and the data when there is none."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    data: RegistrationData | None = None


def _posted(values: Mapping[str, Any], name: str) -> str:
    raw = values.get(name)
    return raw.replace("\x00", "").strip() if isinstance(raw, str) else ""


def check_registration(values: Mapping[str, Any], *, language: str) -> CheckedRegistration:
    """Check the public registration fields; `data` is set only when there is no error."""
    typed = {n: _posted(values, n) for n in (*REGISTRATION_MAX_LENGTHS, "share_consent")}
    errors: dict[str, str] = {}
    for name, limit in REGISTRATION_MAX_LENGTHS.items():
        if len(typed[name]) > limit:
            errors[name] = _("This is too long.")
    if not typed["name"]:
        errors.setdefault("name", _("Please fill in this field."))
    if not typed["email"]:
        errors.setdefault("email", _("Please fill in this field."))
    elif "email" not in errors:
        try:
            typed["email"] = validate_email(typed["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = _("Please enter a valid e-mail address.")
        else:
            if not mailable(typed["email"]):
                errors["email"] = _("Please enter a valid e-mail address.")
    checked = CheckedRegistration(values=typed, errors=errors)
    if not errors:
        checked.data = RegistrationData(
            name=typed["name"],
            email=typed["email"],
            organisation=typed["organisation"],
            dietary=typed["dietary"],
            accessibility=typed["accessibility"],
            share_consent=typed["share_consent"] in ("y", "on", "1"),
            language=language,
        )
    return checked


# --- after the event and invitations -----------------------------------------------------------


class ThankYouForm(Form):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300)])
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=20_000)])


class LeadFollowupsForm(Form):
    working_days = WholeNumberField(
        _l("Due in working days"), validators=[Optional(), NumberRange(min=0, max=60)], default=3
    )


class InvitationForm(Form):
    list_id = SelectField(_l("Newsletter (whose consent applies)"), coerce=int)
    audience_id = SelectField(_l("Audience (optional)"), coerce=int, default=0)
    contact_list_id = SelectField(_l("Contact list (optional)"), coerce=int, default=0)


# --- minutes ----------------------------------------------------------------------------------


class MinutesForm(Form):
    minutes_text = TextAreaField(
        _l("Minutes"),
        validators=[Optional(), Length(max=50_000)],
        render_kw={"rows": 10},
    )
    # The version the editor started from; a newer stored one means a colleague saved meanwhile.
    minutes_version = HiddenField(default="0")


class MinutesActionForm(Form):
    action_subject = StringField(_l("Agreed action"), validators=[DataRequired(), Length(max=200)])
    action_assignee_id = SelectField(_l("Who"), coerce=int)
    action_due = DateField(_l("By when"), validators=[DataRequired()])
