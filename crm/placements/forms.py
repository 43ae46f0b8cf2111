"""Placement forms: the placement itself and the one-click proposal from a suggestion."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.forms import Form, choices

KIND_LABELS = {
    "job": _l("Job"),
    "apprenticeship": _l("Apprenticeship"),
    "internship": _l("Internship"),
    "qualification": _l("Qualification measure"),
    "recognition": _l("Recognition / adaptation qualification"),
}
STATUS_LABELS = {
    "planned": _l("planned"),
    "active": _l("active"),
    "ended": _l("ended"),
    "cancelled": _l("cancelled"),
}


class PlacementForm(Form):
    organisation = StringField(_l("Firm"), validators=[DataRequired(), Length(max=300)])
    organisation_id = HiddenField()
    need_id = SelectField(_l("Qualification need it fills"), choices=[], validate_choice=False)
    kind = SelectField(_l("Kind"), choices=choices(KIND_LABELS.items()))
    status = SelectField(_l("Status"), choices=choices(STATUS_LABELS.items()))
    starts_on = DateField(_l("Start"), validators=[DataRequired()])
    ends_on = DateField(_l("End"), validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])

    def validate_ends_on(self, field: DateField) -> None:
        if self.kind.data == "internship" and field.data is None:
            raise ValidationError(_l("An internship needs its end date."))
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The end must not be before the start."))


class ProposeForm(Form):
    """One click on a suggestion: the participant to place (the need is in the URL)."""

    participant_id = HiddenField(validators=[DataRequired()])


TRAINING_LABELS = {
    "": _l("not planned"),
    "planned": _l("planned"),
    "held": _l("held"),
}


class FirmSupportForm(Form):
    training_status = SelectField(
        _l("Intercultural training"), choices=choices(TRAINING_LABELS.items()), default=""
    )
    training_on = DateField(_l("Date of the training"), validators=[Optional()])
    onboarding_contact = StringField(
        _l("Onboarding contact at the firm"), validators=[Optional(), Length(max=200)]
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])
