"""Participant forms: master data, sessions, exit, releases, referrals, checklist items."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from crm.contacts.countries import country_choices, country_name, parse_country
from crm.dashboard.weeks import local_date
from crm.database import utcnow
from crm.esf.labels import EXIT_LABELS as ESF_EXIT_LABELS
from crm.forms import DurationField, Filled, Form, Mailable, WholeNumberField, choices

RECOGNITION_LABELS = {
    "not_started": _l("not started"),
    "in_progress": _l("in progress"),
    "partial": _l("partial recognition"),
    "full": _l("full recognition"),
    "refused": _l("refused"),
}
CHANNEL_LABELS = {
    "recognition_office": _l("Recognition counselling office"),
    "association_presentation": _l("Association presentation"),
    "job_fair": _l("Job fair"),
    "jobcentre_agency": _l("Job centre / employment agency"),
    "language_course_provider": _l("Language-course provider"),
    "branch_outreach": _l("Outreach in a branch office"),
    "website_hotline": _l("Website / hotline"),
    "other": _l("other"),
}
OUTCOME_LABELS = {
    "employment": _l("Employment"),
    "qualification": _l("Qualification / training"),
    "recognition": _l("Recognition obtained"),
    "moved_away": _l("Moved away"),
    "dropped_out": _l("Dropped out"),
    "other": _l("other"),
}
GENDER_LABELS = {"female": _l("female"), "male": _l("male"), "diverse": _l("diverse")}
DIRECTION_LABELS = {"to": _l("to the partner"), "from": _l("from the partner")}
REFERRAL_STATUS_LABELS = {
    "sent": _l("sent"),
    "accepted": _l("accepted"),
    "declined": _l("declined"),
    "completed": _l("completed"),
}
SUPPORT_STATUS_LABELS = {
    "open": _l("open"),
    "in_progress": _l("in progress"),
    "done": _l("done"),
    "not_needed": _l("not needed"),
}
SUPPORT_TYPE_LABELS = {
    "housing": _l("Housing"),
    "registration_office": _l("Registration office"),
    "residence_permit": _l("Residence permit"),
    "recognition": _l("Recognition"),
    "language_course": _l("Language course"),
    "childcare": _l("Childcare"),
    "school": _l("School"),
    "health_insurance": _l("Health insurance"),
    "bank_account": _l("Bank account"),
    "clubs_culture": _l("Clubs and culture"),
}
STATE_LABELS = {
    "open": _l("in counselling (no exit)"),
    "not_entered": _l("not entered yet"),
    "near_entry": _l("close to entry (7 to 8 hours)"),
    "entered": _l("entered"),
    "exited": _l("exited"),
    "warnings": _l("with overdue data"),
}
WARNING_LABELS = {
    "entry_incomplete": _l("Entry data incomplete for more than 4 weeks"),
    "exit_incomplete": _l("Exit outcome missing for more than 4 weeks"),
}
FIELD_LABELS = {
    "country_of_origin": _l("Country of origin"),
    "profession": _l("Profession learned"),
    "language_level": _l("Language level"),
    "target_field": _l("Target field"),
}
CONTACT_KIND_LABELS = {
    "call": _l("Phone call"),
    "email": _l("E-mail"),
    "meeting": _l("Meeting"),
    "letter": _l("Letter"),
    "other": _l("other"),
}
LEVEL_CHOICES = [("", "–"), *((lvl, lvl) for lvl in ("A1", "A2", "B1", "B2", "C1", "C2"))]


def canonical_country(value: str | None) -> str | None:
    """A recognised country as its German name ("turkey", "Turkei", "TR" → "Türkei"), anything
    else as typed: the reports count participants per country of origin, and one country
    written three ways would be three rows there."""
    if value is None:
        return None
    text = value.strip()
    code = parse_country(text)
    return country_name(code, "de") if code else text


class ParticipantForm(Form):
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("E-mail"), validators=[Optional(), Email(), Mailable(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=60)])
    city = StringField(_l("Place of residence"), validators=[Optional(), Length(max=120)])
    birth_year = WholeNumberField(
        _l("Year of birth"), validators=[Optional(), NumberRange(min=1900, max=2100)]
    )

    def validate_birth_year(self, field: WholeNumberField) -> None:
        """A year still to come is a typo (and would make an age group of minus years)."""
        if field.data is not None and field.data > local_date(utcnow()).year:
            raise ValidationError(_l("The year of birth cannot be in the future."))

    @property
    def country_names(self) -> list[str]:
        """The suggestions of the country field: every country's German name."""
        return [name for _code, name in country_choices("de")]

    gender = SelectField(_l("Gender"), choices=choices([("", "–"), *GENDER_LABELS.items()]))
    country_of_origin = StringField(
        _l("Country of origin"),
        validators=[Length(max=80)],
        filters=[canonical_country],
        render_kw={"list": "countries-of-origin"},
    )
    profession = StringField(_l("Profession learned"), validators=[Length(max=200)])
    profession_learned_in = StringField(
        _l("Where the profession was learned"), validators=[Length(max=200)]
    )
    recognition_status = SelectField(
        _l("Recognition status"), choices=choices(RECOGNITION_LABELS.items())
    )
    recognising_body = StringField(_l("Recognising body"), validators=[Length(max=200)])
    language_level = SelectField(_l("Language level"), choices=choices(LEVEL_CHOICES))
    target_field = StringField(_l("Target field"), validators=[Length(max=200)])
    office_id = SelectField(_l("Branch office"), coerce=int)
    counsellor_id = SelectField(_l("Responsible counsellor"), coerce=int)
    acquisition_channel = SelectField(
        _l("Acquisition channel"), choices=choices(CHANNEL_LABELS.items()), default="other"
    )
    # Record pickers: the text is what the user typed or chose, the hidden field the chosen
    # organisation's id (filled by the picker's script; without it the server resolves the text).
    referring_organisation = StringField(
        _l("Referring organisation"), validators=[Optional(), Length(max=300)]
    )
    referring_organisation_id = HiddenField()
    first_contact_on = DateField(_l("First contact on"), validators=[DataRequired()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=10000)])


class SessionForm(Form):
    held_on = DateField(_l("Date"), validators=[DataRequired()])
    minutes = DurationField(
        _l("Duration (1:30, 1,5 h or 90 minutes)"),
        validators=[Filled(), NumberRange(min=1, max=1440)],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])

    def validate_held_on(self, field: DateField) -> None:
        """A session is recorded once held: a future one would count hours not yet given
        towards the 8 hours and move the entry date into the future."""
        if field.data and field.data > local_date(utcnow()):
            raise ValidationError(
                _l("A session is recorded once it has been held; this date is in the future.")
            )


class ContactForm(Form):
    """One entry of the contact log: a call, e-mail, meeting or letter with the participant."""

    kind = SelectField(_l("Kind of contact"), choices=choices(CONTACT_KIND_LABELS.items()))
    happened_at = DateTimeLocalField(
        _l("Date and time"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[DataRequired()],
    )
    duration = DurationField(
        _l("Duration (optional: 0:15, 1,5 h or 20 minutes)"),
        validators=[Optional(), NumberRange(min=1, max=1440)],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])

    def validate_happened_at(self, field: DateTimeLocalField) -> None:
        """The log holds what happened; a contact on a later day is a plan, and the case
        plan's next contact is where a plan becomes a follow-up."""
        if field.data and field.data.date() > local_date(utcnow()):
            raise ValidationError(
                _l(
                    "A contact is logged once it has happened; this day is in the future. "
                    "Enter a planned contact as the next contact in the case planning."
                )
            )


class CasePlanForm(Form):
    """The participant's next contact and planned transfer; each creates a follow-up."""

    next_contact_on = DateField(_l("Next contact on"), validators=[Optional()])
    transfer_on = DateField(_l("Planned transfer on"), validators=[Optional()])
    transfer_note = StringField(
        _l("What ends (e.g. end of the integration course)"),
        validators=[Optional(), Length(max=200)],
    )

    def validate_transfer_note(self, field: StringField) -> None:
        """A text without a transfer date would be dropped: ask for the date instead."""
        if (field.data or "").strip() and self.transfer_on.data is None:
            raise ValidationError(_l("Please enter the date of the transfer as well."))


class ExitForm(Form):
    exit_on = DateField(_l("Exit on"), validators=[DataRequired()])
    exit_outcome = SelectField(
        _l("Outcome"), choices=choices([("", _l("not known yet")), *OUTCOME_LABELS.items()])
    )
    exit_note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])
    # Choices are the participant's placements (set by the view); "" = none.
    exit_placement_id = SelectField(_l("Placement"), choices=[], validate_choice=False)
    # ESF Plus immediate results (crm.esf), prefilled from the outcome by the view.
    esf_job_searching = BooleanField(ESF_EXIT_LABELS["job_searching"])
    esf_education = BooleanField(ESF_EXIT_LABELS["education"])
    esf_qualification = BooleanField(ESF_EXIT_LABELS["qualification"])
    esf_employment = BooleanField(ESF_EXIT_LABELS["employment"])

    def validate_exit_on(self, field: DateField) -> None:
        """An exit is recorded once it has happened: a future one would drop the participant
        from the open cases and count her as exited in the reports while still counselled.
        A known coming change belongs in the case plan's planned transition."""
        if field.data and field.data > local_date(utcnow()):
            raise ValidationError(
                _l(
                    "An exit is recorded once it has happened; this date is in the future. "
                    "Enter a coming change as the planned transfer in the case planning."
                )
            )


class ReleaseForm(Form):
    # Most releases name the employer a participant is proposed to, not only partner agencies.
    organisation = StringField(_l("Firm or partner"), validators=[DataRequired(), Length(max=300)])
    organisation_id = HiddenField()
    granted_on = DateField(_l("Granted on"), validators=[DataRequired()])
    expires_on = DateField(_l("Expires on"), validators=[Optional()])
    scope = TextAreaField(_l("Scope"), validators=[DataRequired(), Length(max=2000)])


class RevokeForm(Form):
    revoked_on = DateField(_l("Revoked on"), validators=[DataRequired()])


class ReferralForm(Form):
    organisation = StringField(_l("Partner"), validators=[DataRequired(), Length(max=300)])
    organisation_id = HiddenField()
    referred_on = DateField(_l("Date"), validators=[DataRequired()])
    direction = SelectField(_l("Direction"), choices=choices(DIRECTION_LABELS.items()))
    purpose = StringField(_l("Purpose"), validators=[DataRequired(), Length(max=300)])
    status = SelectField(
        _l("Status"), choices=choices(REFERRAL_STATUS_LABELS.items()), default="sent"
    )


class ReferralStatusForm(Form):
    status = SelectField(_l("Status"), choices=choices(REFERRAL_STATUS_LABELS.items()))


class SupportItemForm(Form):
    status = SelectField(_l("Status"), choices=choices(SUPPORT_STATUS_LABELS.items()))
    due_on = DateField(_l("Due on"), validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000)])
    # The counselling users the viewer may pick (checked by the view); "" = the counsellor.
    responsible_id = StringField(_l("Responsible"), validators=[Optional(), Length(max=12)])


class ItemTypeForm(Form):
    name = StringField(_l("New checklist item"), validators=[DataRequired(), Length(max=120)])


class ActionForm(Form):
    """An empty form for POST buttons (delete): it only carries the CSRF token."""
