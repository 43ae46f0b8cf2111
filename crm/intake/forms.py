"""Reading and checking the inquiry fields (public form and hotline capture alike).

One plain function instead of a WTForms class for the inquiry itself: the public form shows
its labels and errors in three text sets (German, English, simple German), which a class with
fixed lazy labels cannot. CSRF: the hotline form carries Flask-WTF's token (checked globally);
the public form carries a signed form token instead (see views.public_form). The conversion of
a firm's inquiry is an ordinary Flask-WTF form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional

from crm.contacts.forms import LANGUAGE_LABELS
from crm.database import db_int
from crm.forms import Filled, Form, Mailable, WholeNumberField, choices
from crm.inputs import mailable
from crm.intake.models import CLOSE_REASONS, CONTACT_WAYS, KINDS, LANGUAGES, TOPICS
from crm.intake.service import InquiryData
from crm.intake.texts import SIMPLE_ERRORS

MAX_LENGTHS = {
    "name": 200,
    "email": 254,
    "phone": 50,
    "organisation_name": 200,
    "message": 5000,
    "close_note": 2000,
}


def _message(key: str, simple: bool) -> str:
    if simple:
        return SIMPLE_ERRORS[key]
    return {
        "required": _("Please fill in this field."),
        "choice": _("Please choose one of the options."),
        "email": _("Please enter a valid e-mail address."),
        "contact": _("Please give an e-mail address or a phone number."),
        "organisation": _("Please give the name of the firm."),
        "consent": _("Please agree to the storage of your details."),
        "too_long": _("This is too long."),
    }[key]


def _text(values: Mapping[str, Any], name: str) -> str:
    raw = values.get(name)
    return raw.strip() if isinstance(raw, str) else ""


@dataclass
class Checked:
    """The form's values as typed and its errors by field name."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    data: InquiryData | None = None


def check_inquiry(
    values: Mapping[str, Any],
    *,
    office_ids: list[int],
    simple: bool = False,
    need_consent: bool = True,
) -> Checked:
    """Check the posted fields; `data` is set only when there is no error."""
    names = (
        "kind",
        "topic",
        "office",
        "name",
        "email",
        "phone",
        "organisation_name",
        "message",
        "preferred_language",
        "contact_way",
        "consent",
    )
    typed = {n: _text(values, n) for n in names}
    errors: dict[str, str] = {}
    for name, allowed in (
        ("kind", KINDS),
        ("topic", TOPICS),
        ("preferred_language", LANGUAGES),
        ("contact_way", CONTACT_WAYS),
    ):
        if typed[name] not in allowed:
            errors[name] = _message("choice", simple)
    office_id: int | None = None
    if office_ids:
        office_id = db_int(typed["office"])
        if office_id not in office_ids:
            errors["office"] = _message("choice", simple)
            office_id = None
    for name, limit in MAX_LENGTHS.items():
        if name in typed and len(typed[name]) > limit:
            errors[name] = _message("too_long", simple)
    if not typed["name"]:
        errors["name"] = _message("required", simple)
    if typed["kind"] == "firm" and not typed["organisation_name"]:
        errors["organisation_name"] = _message("organisation", simple)
    if typed["email"] and "email" not in errors:
        try:
            typed["email"] = validate_email(typed["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = _message("email", simple)
        else:
            if not mailable(typed["email"]):
                errors["email"] = _message("email", simple)
    if not typed["email"] and not typed["phone"]:
        errors.setdefault("email", _message("contact", simple))
    if need_consent and typed["consent"] not in ("y", "on", "1"):
        errors["consent"] = _message("consent", simple)
    checked = Checked(values=typed, errors=errors)
    if not errors:
        checked.data = InquiryData(
            kind=typed["kind"],
            topic=typed["topic"],
            office_id=office_id,
            name=typed["name"],
            email=typed["email"],
            phone=typed["phone"],
            organisation_name=typed["organisation_name"],
            message=typed["message"],
            preferred_language=typed["preferred_language"],
            contact_way=typed["contact_way"],
        )
    return checked


def check_close(values: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """The close reason and note, and an error message or None."""
    reason = _text(values, "reason")
    note = _text(values, "note")
    if reason not in CLOSE_REASONS:
        return reason, note, _("Please choose a reason.")
    if len(note) > MAX_LENGTHS["close_note"]:
        return reason, note, _("This is too long.")
    return reason, note, None


class FirmConversionForm(Form):
    """A firm's inquiry becomes a contact person at an organisation with a skills need.

    The organisation is a record picker (an existing one) or the name of a new one; the
    conversion view checks that exactly one of the two is given.
    """

    first_name = StringField(_l("First name"), validators=[Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[Filled(), Length(max=100)])
    email = EmailField(
        _l("E-mail address"),
        validators=[
            Optional(),
            Email(message=_l("Please enter a valid e-mail address.")),
            Mailable(),
            Length(max=254),
        ],
    )
    phone = StringField(_l("Phone"), validators=[Length(max=60)])
    language = SelectField(
        _l("Preferred language"), choices=choices(LANGUAGE_LABELS.items()), default="de"
    )
    function = StringField(_l("Function"), validators=[Length(max=120)])
    organisation = StringField(_l("Existing organisation"), validators=[Length(max=300)])
    organisation_id = HiddenField()
    new_organisation = StringField(_l("or a new organisation"), validators=[Length(max=200)])
    occupation = StringField(
        _l("Skills need: occupation sought"), validators=[Filled(), Length(max=200)]
    )
    count = WholeNumberField(
        _l("Number of people"), validators=[InputRequired(), NumberRange(min=1, max=9999)]
    )
    need_note = TextAreaField(_l("Note on the need"), validators=[Length(max=5000)])
