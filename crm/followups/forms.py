"""Follow-up forms: create, done with outcome, snooze, reassign, cancel."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm.dashboard.weeks import local_date
from crm.database import utcnow
from crm.forms import Form, WholeNumberField, choices

PRIORITY_LABELS = {"low": _l("low"), "normal": _l("normal"), "high": _l("high")}
STATUS_LABELS = {"open": _l("open"), "done": _l("done"), "cancelled": _l("cancelled")}
GROUP_LABELS = {
    "overdue": _l("Overdue"),
    "today": _l("Today"),
    "week": _l("This week"),
    "later": _l("Later"),
}
REPEAT_LABELS = {
    "": _l("does not repeat"),
    "days": _l("days"),
    "weeks": _l("weeks"),
    "months": _l("months"),
}
SNOOZE_LABELS = {"1d": _l("1 day"), "1w": _l("1 week"), "custom": _l("Until a date")}


class FollowUpForm(Form):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    due_date = DateField(_l("Due on"), validators=[DataRequired()])
    due_time = TimeField(_l("Time (optional)"), validators=[Optional()])
    assignee_id = SelectField(_l("Assigned to"), coerce=int)
    priority = SelectField(
        _l("Priority"), choices=choices(PRIORITY_LABELS.items()), default="normal"
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])
    repeat_every = WholeNumberField(
        _l("Repeat every"), validators=[Optional(), NumberRange(min=1, max=365)]
    )
    repeat_unit = SelectField(_l("Unit"), choices=choices(REPEAT_LABELS.items()), default="")
    # Record pickers: the text is what the user typed or chose, the hidden field the chosen
    # record's id (filled by the picker's script; without it the server resolves the text).
    person_q = StringField(_l("Person"), validators=[Optional(), Length(max=300)])
    person_id = HiddenField()
    organisation_q = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    organisation_id = HiddenField()
    participant_q = StringField(_l("Participant"), validators=[Optional(), Length(max=300)])
    participant_id = HiddenField()
    event_q = StringField(_l("Event"), validators=[Optional(), Length(max=300)])
    event_id = HiddenField()


# The record kinds a follow-up links to: (kind, text field, id field).
LINKS = (
    ("person", "person_q", "person_id"),
    ("organisation", "organisation_q", "organisation_id"),
    ("participant", "participant_q", "participant_id"),
    ("event", "event_q", "event_id"),
)


class EditForm(Form):
    """Subject, note, due date/time, priority and recurrence of an open follow-up."""

    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    due_date = DateField(_l("Due on"), validators=[DataRequired()])
    due_time = TimeField(_l("Time (optional)"), validators=[Optional()])
    priority = SelectField(_l("Priority"), choices=choices(PRIORITY_LABELS.items()))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])
    repeat_every = WholeNumberField(
        _l("Repeat every"), validators=[Optional(), NumberRange(min=1, max=365)]
    )
    repeat_unit = SelectField(_l("Unit"), choices=choices(REPEAT_LABELS.items()), default="")


class DoneForm(Form):
    outcome = TextAreaField(_l("Outcome"), validators=[Optional(), Length(max=5000)])


class SnoozeForm(Form):
    period = RadioField(_l("Snooze for"), choices=choices(SNOOZE_LABELS.items()), default="1d")
    until_date = DateField(_l("New due date"), validators=[Optional()])
    until_time = TimeField(_l("Time (optional)"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        # Not a validate_until_date hook: Optional() would end the chain before it runs.
        ok = super().validate(extra_validators)
        if ok and self.period.data == "custom" and self.until_date.data is None:
            self.until_date.errors = [
                *self.until_date.errors,
                _l("Please choose the new due date."),
            ]
            return False
        # Snoozing puts a follow-up off: to a past day it would come back at once, overdue.
        if ok and self.period.data == "custom" and self.until_date.data < local_date(utcnow()):
            self.until_date.errors = [
                *self.until_date.errors,
                _l("The date must not be in the past."),
            ]
            return False
        return ok


class ReassignForm(Form):
    assignee_id = SelectField(_l("Assign to"), coerce=int)


class ActionForm(Form):
    """An empty form for POST buttons (cancel): it only carries the CSRF token."""
