"""ESF Plus forms: entry data (with the disability consent) and the six-month result."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, SelectField
from wtforms.validators import DataRequired, Optional, ValidationError

from crm.esf.labels import (
    FIELD_LABELS,
    ISCED_LABELS,
    LABOUR_LABELS,
    LONG_LABELS,
    NOT_STATED,
    YES_NO_LABELS,
)
from crm.forms import Form, choices

NOT_RECORDED = _l("– not recorded yet –")


def _select(key: str, labels: dict) -> SelectField:
    return SelectField(
        FIELD_LABELS[key],
        choices=choices([("", NOT_RECORDED), *labels.items(), ("unknown", NOT_STATED)]),
        # A select left out of the request (a script, an old form) means "not recorded".
        default="",
    )


class EsfEntryForm(Form):
    """The ESF Plus data at entry ("ESF-Plus-Angaben")."""

    labour_status = _select("labour_status", LABOUR_LABELS)
    isced = _select("isced", ISCED_LABELS)
    third_country = _select("third_country", YES_NO_LABELS)
    foreign_background = _select("foreign_background", YES_NO_LABELS)
    minority = _select("minority", YES_NO_LABELS)
    homeless = _select("homeless", YES_NO_LABELS)
    rural = _select("rural", YES_NO_LABELS)
    disability = _select("disability", YES_NO_LABELS)
    disability_consent = BooleanField(
        _l(
            "The participant has consented in writing to the recording of a disability "
            "(Art. 9(2)(a) GDPR)"
        )
    )
    disability_consent_on = DateField(_l("Consent given on"), validators=[Optional()])

    def validate_disability(self, field: SelectField) -> None:
        """Special-category data only with the participant's own consent (and its date)."""
        if field.data and not self.has_consent:
            raise ValidationError(
                _l(
                    "A disability may only be recorded with the participant's consent: tick "
                    "the consent and enter its date, or leave the field empty."
                )
            )

    def validate(self, extra_validators: Any = None) -> bool:
        """The field checks, then the consent's date: Optional() stops an empty date's own
        checks, so a ticked consent without its date is caught here instead of being dropped."""
        valid = super().validate(extra_validators)
        field = self.disability_consent_on
        if self.disability_consent.data and field.data is None and not field.errors:
            field.errors = [_("Please enter the date of the consent.")]
            valid = False
        return valid

    # Set by the view: whether a consent is already on record.
    consent_on_record = False

    @property
    def has_consent(self) -> bool:
        return self.consent_on_record or bool(
            self.disability_consent.data and self.disability_consent_on.data
        )


class LongResultForm(Form):
    """The result six months after the exit."""

    long_result = SelectField(
        _l("Situation six months after the exit"),
        choices=choices([("", _l("– choose –")), *LONG_LABELS.items()]),
        validators=[DataRequired()],
    )
    long_result_on = DateField(_l("Recorded on"), validators=[DataRequired()])
