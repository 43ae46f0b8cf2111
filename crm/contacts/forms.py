"""Contact forms: organisation, person, affiliation, qualification need, activity, merge."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from crm.contacts.countries import (
    DEFAULT_COUNTRY,
    POSTCODE_MAX,
    country_choices,
    country_name,
    is_valid_postcode,
    phone_e164,
)
from crm.contacts.normalize import is_valid_german_postcode
from crm.forms import DurationField, Filled, Form, Mailable, WholeNumberField, choices

# The labels of the base kinds for code that has no database at hand (the newsletter audience
# filter); pages show the labels admins keep in organisation_kind (crm.contacts.kinds).
ORG_KIND_LABELS = {
    "employer": _l("Employer"),
    "association": _l("Association"),
    "jobcentre": _l("Jobcentre"),
    "employment_agency": _l("Employment agency"),
    "recognition": _l("Recognition counselling"),
    "education": _l("Education or language course provider"),
    "chamber": _l("Chamber"),
    "authority": _l("Authority"),
    "fair_organiser": _l("Fair organiser"),
    "partner": _l("Other partner"),
    "other": _l("Other"),
}
SALUTATION_LABELS = {
    "frau": _l("Ms"),
    "herr": _l("Mr"),
    "divers": _l("Diverse"),
    "": _l("No salutation"),
}
ACTIVITY_KIND_LABELS = {
    "call": _l("Call"),
    "email": _l("E-mail"),
    "meeting": _l("Meeting"),
    "note": _l("Note"),
    "presentation": _l("Presentation"),
    "fair_contact": _l("Fair contact"),
}
SIZE_CLASS_LABELS = {
    "": _l("unknown"),
    "1-9": _l("1–9 employees"),
    "10-49": _l("10–49 employees"),
    "50-249": _l("50–249 employees"),
    "250+": _l("250 or more employees"),
}
LANGUAGE_LABELS = {
    "de": _l("German"),
    "en": _l("English"),
    "ar": _l("Arabic"),
    "uk": _l("Ukrainian"),
    "ru": _l("Russian"),
    "tr": _l("Turkish"),
    "fa": _l("Persian"),
    "fr": _l("French"),
    "es": _l("Spanish"),
    "pl": _l("Polish"),
}


def german_postcode(_form: Form, field: StringField) -> None:
    """Empty, or a five-digit German postcode."""
    if field.data and not is_valid_german_postcode(field.data):
        raise ValidationError(_l("Please enter a five-digit German postcode."))


def _locale() -> str:
    return str(get_locale() or "de")


def country_field() -> SelectField:
    """A country select (ISO code), Germany first; choices are filled per request's language."""
    return SelectField(_l("Country"), default=DEFAULT_COUNTRY)


def fill_country_choices(form: Form) -> None:
    """Give the form's country select the country names in the current language."""
    form.country.choices = choices(country_choices(_locale()))


def postcode_for_country(form: Form, field: StringField) -> None:
    """Empty, or a postcode that fits the chosen country (five digits in Germany)."""
    value = (field.data or "").strip()
    if not value:
        return
    country = form.country.data or DEFAULT_COUNTRY
    if is_valid_postcode(value, country):
        return
    if country == DEFAULT_COUNTRY:
        raise ValidationError(_l("Please enter a five-digit German postcode."))
    raise ValidationError(
        _(
            "This postcode does not fit the format used in %(country)s.",
            country=country_name(country, _locale()),
        )
    )


def phone_for_country(form: Form, field: StringField) -> None:
    """Empty, or a phone number that can be read (local numbers in the chosen country)."""
    if (field.data or "").strip() and phone_e164(field.data, form.country.data) is None:
        raise ValidationError(
            _(
                "Please enter a valid phone number, e.g. +49 391 5402398 or, within "
                "%(country)s, with the area code.",
                country=country_name(form.country.data or DEFAULT_COUNTRY, _locale()),
            )
        )


def _optional_email(label: object) -> EmailField:
    return EmailField(
        label,
        validators=[
            Optional(),
            Email(message=_l("Please enter a valid e-mail address.")),
            Mailable(),
            Length(max=254),
        ],
    )


class OrganisationKindForm(Form):
    label = StringField(_l("Label"), validators=[DataRequired(), Length(max=120)])
    sort_order = WholeNumberField(
        _l("Position in lists"), default=0, validators=[Filled(), NumberRange(min=0, max=99999)]
    )
    active = BooleanField(_l("Active (can be chosen for organisations)"), default=True)


class OrganisationForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    # Choices: the active kinds (and the record's own if inactive), set by the view.
    kind = SelectField(_l("Kind"), default="employer")
    sector = StringField(_l("Sector"), validators=[Length(max=120)])
    size_class = SelectField(_l("Size"), choices=choices(SIZE_CLASS_LABELS.items()), default="")
    region = StringField(_l("Region or district"), validators=[Length(max=120)])
    street = StringField(_l("Street"), validators=[Length(max=200)])
    postcode = StringField(
        _l("Postcode"), validators=[Length(max=POSTCODE_MAX), postcode_for_country]
    )
    city = StringField(_l("Town"), validators=[Length(max=120)])
    country = country_field()
    phone = StringField(_l("Phone"), validators=[Length(max=60), phone_for_country])
    email = _optional_email(_l("E-mail address"))
    website = StringField(_l("Website"), validators=[Length(max=300)])
    tags = StringField(_l("Tags"), validators=[Length(max=1000)])
    owner_id = SelectField(_l("Responsible staff member"), coerce=int)
    notes = TextAreaField(_l("Notes"))
    confirm = BooleanField(_l("Create anyway"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fill_country_choices(self)


class PersonForm(Form):
    salutation = SelectField(
        _l("Salutation"), choices=choices(SALUTATION_LABELS.items()), default=""
    )
    title = StringField(_l("Title"), validators=[Length(max=40)])
    first_name = StringField(_l("First name"), validators=[Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    email = _optional_email(_l("E-mail address"))
    email_alt = _optional_email(_l("Second e-mail address"))
    country = country_field()
    phone = StringField(_l("Phone"), validators=[Length(max=60), phone_for_country])
    mobile = StringField(_l("Mobile"), validators=[Length(max=60), phone_for_country])
    language = SelectField(
        _l("Preferred language"), choices=choices(LANGUAGE_LABELS.items()), default="de"
    )
    tags = StringField(_l("Tags"), validators=[Length(max=1000)])
    owner_id = SelectField(_l("Responsible staff member"), coerce=int)
    notes = TextAreaField(_l("Notes"))
    # Only on create: the organisation the person works at (a record picker: the text and
    # the chosen id), and in which function.
    organisation = StringField(_l("Organisation"), validators=[Length(max=300)])
    organisation_id = HiddenField()
    function = StringField(_l("Function"), validators=[Length(max=120)])
    confirm = BooleanField(_l("Create anyway"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fill_country_choices(self)


class AffiliationForm(Form):
    organisation = StringField(_l("Organisation"), validators=[DataRequired(), Length(max=300)])
    organisation_id = HiddenField()
    function = StringField(_l("Function"), validators=[Length(max=120)])
    since = DateField(_l("Since"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end must not be before the start."))


QUALIFICATION_LEVEL_LABELS = {
    "helper": _l("No vocational qualification / helper"),
    "skilled": _l("Vocational qualification (skilled worker)"),
    "master": _l("Master craftsman / technician"),
    "academic": _l("University degree"),
}


class NeedForm(Form):
    occupation = StringField(_l("Occupation"), validators=[DataRequired(), Length(max=200)])
    count = WholeNumberField(
        _l("Number"), default=1, validators=[Filled(), NumberRange(min=1, max=9999)]
    )
    needed_since = DateField(_l("Needed since"), validators=[Optional()])
    surveyed_on = DateField(_l("Surveyed on"), default=date.today, validators=[DataRequired()])
    required_language_level = SelectField(
        _l("German required"),
        default="",
        choices=choices(
            [("", _l("no level named")), *((lv, lv) for lv in ("A1", "A2", "B1", "B2", "C1", "C2"))]
        ),
    )
    qualification_level = SelectField(
        _l("Qualification level"),
        default="",
        choices=choices([("", _l("not said")), *QUALIFICATION_LEVEL_LABELS.items()]),
    )
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class ActivityForm(Form):
    kind = SelectField(_l("Kind"), choices=choices(ACTIVITY_KIND_LABELS.items()))
    day = DateField(_l("Date"), validators=[DataRequired()])
    time = TimeField(_l("Time"), validators=[DataRequired()])
    # Typed as on the participant's contact log ("0:15", "1,5 h", "20"): a call noted with a
    # firm's contact person should not refuse what the counsellor types there.
    duration_minutes = DurationField(
        _l("Duration (optional: 0:15, 1,5 h or 20 minutes)"),
        validators=[Optional(), NumberRange(min=1, max=24 * 60)],
    )
    user_id = SelectField(_l("Staff member"), coerce=int)
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    text = TextAreaField(_l("Text"), validators=[Length(max=20000)])


class MergeForm(Form):
    keep = SelectField(_l("Keep"), coerce=int)
