"""Newsletter forms: lists, consent texts, consent records, audiences, templates, sign-up."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from crm.forms import Form, Mailable, choices
from crm.newsletters.rendering import TemplateSource, validate_template

STATUS_LABELS = {
    "pending": _l("pending"),
    "confirmed": _l("confirmed"),
    "unsubscribed": _l("unsubscribed"),
    "bounced": _l("bounced"),
}
METHOD_LABELS = {
    "web_form": _l("web form (double opt-in)"),
    "paper": _l("on paper"),
    "existing_business_contact": _l("existing business contact"),
    "import": _l("import"),
}
ACTION_LABELS = {
    "requested": _l("sign-up requested"),
    "confirmed": _l("consent confirmed"),
    "repeated": _l("repeated sign-up"),
    "withdrawn": _l("consent withdrawn"),
    "bounced": _l("address bounced"),
}
CHANNEL_LABELS = {
    **METHOD_LABELS,
    "confirmation_link": _l("confirmation link"),
    "unsubscribe_link": _l("unsubscribe link"),
    "one_click": _l("one-click unsubscribe in the mail program"),
    "mailto": _l("unsubscribe by e-mail"),
    "staff": _l("recorded by staff"),
    "bounce": _l("bounce"),
}
KIND_LABELS = {
    "subscribers": _l("all confirmed subscribers of the list"),
    "static": _l("a static contact list"),
    "filter": _l("a saved filter over contacts"),
}
SALUTATION_LABELS = {"": _l("(none)"), "frau": _l("Ms"), "herr": _l("Mr"), "divers": _l("diverse")}


class ListSettingsForm(Form):
    """What can change on an existing newsletter: not the short name, which is in the sign-up
    addresses already on websites, nor the consent text, which only gets new versions."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    from_name = StringField(_l("Sender name (optional)"), validators=[Optional(), Length(max=120)])
    reply_to = EmailField(
        _l("Reply-To (optional)"), validators=[Optional(), Email(), Mailable(), Length(max=254)]
    )
    public_signup = BooleanField(_l("Public sign-up page"), default=True)


class ListForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    slug = StringField(
        _l("Short name in the sign-up address"),
        validators=[
            DataRequired(),
            Length(max=80),
            Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$", message=_l("Lower-case letters, digits, hyphens.")),
        ],
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    from_name = StringField(_l("Sender name (optional)"), validators=[Optional(), Length(max=120)])
    reply_to = EmailField(
        _l("Reply-To (optional)"), validators=[Optional(), Email(), Mailable(), Length(max=254)]
    )
    public_signup = BooleanField(_l("Public sign-up page"), default=True)
    consent_text = TextAreaField(_l("Consent text"), validators=[DataRequired(), Length(max=5000)])


class ConsentTextForm(Form):
    text = TextAreaField(_l("New consent text"), validators=[DataRequired(), Length(max=5000)])


class RecordConsentForm(Form):
    list_id = SelectField(_l("Newsletter"), coerce=int)
    method = SelectField(
        _l("How consent was given"),
        choices=choices(
            (k, METHOD_LABELS[k]) for k in ("paper", "existing_business_contact", "import")
        ),
    )
    consented_on = DateField(_l("Date of consent (optional)"), validators=[Optional()])
    note = StringField(
        _l("Note (e.g. where the signed form is filed)"), validators=[Optional(), Length(max=500)]
    )


class AudienceForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    list_id = SelectField(_l("Newsletter (whose consent applies)"), coerce=int)
    kind = RadioField(_l("Recipients"), choices=choices(KIND_LABELS.items()), default="subscribers")
    contact_list_id = SelectField(_l("Contact list"), coerce=int, validate_choice=False)
    # Choices: the organisation kinds admins keep (crm.contacts.kinds), set by the view.
    org_kinds = SelectMultipleField(_l("Kind of organisation"), choices=[])
    tags = SelectMultipleField(_l("Tags"), validate_choice=False)
    regions = SelectMultipleField(_l("Regions"), validate_choice=False)


class TemplateForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300)])
    body_html = TextAreaField(_l("HTML body"), validators=[Optional(), Length(max=200_000)])
    body_text = TextAreaField(
        _l("Plain-text body"), validators=[DataRequired(), Length(max=100_000)]
    )


class SignupForm(Form):
    # The public form is CSRF-exempt (see views.signup); no token to render or check.
    class Meta:
        csrf = False

    email = EmailField(
        _l("E-mail address"), validators=[DataRequired(), Email(), Mailable(), Length(max=254)]
    )
    salutation = SelectField(
        _l("Salutation"), choices=choices(SALUTATION_LABELS.items()), default=""
    )
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[Optional(), Length(max=100)])
    consent = BooleanField(validators=[DataRequired(_l("Please agree to receive the newsletter."))])
    # Honeypot: hidden from people by CSS, filled in by bots.
    website = StringField(_l("Leave this field empty"))


def put_template_problems(source: TemplateSource, fields: Mapping[str, Field]) -> bool:
    """Check subject, HTML and text of `source` in the sandbox, with its bounds on work and
    time, and put each German problem on the field `fields` names for its part ("subject",
    "html", "text"); True if there were any.

    The one check of newsletter text before it is stored: a template, a new campaign (whose
    bodies come from its template) and an edited campaign all pass through here.
    """
    problems = validate_template(source)
    for problem in problems:
        field = fields[problem.part]
        field.errors = [*field.errors, problem.message]
    return bool(problems)
