"""Placement forms: the placement itself and the one-click proposal from a suggestion."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.contacts.forms import QUALIFICATION_LEVEL_LABELS
from crm.contacts.models import QualificationNeed
from crm.forms import Form, choices
from crm.i18n import fmt_date

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


# When the firm needs the people, as a part of a need's label (the needs survey's answer).
NEED_TIME_FRAME_LABELS = {
    "now": _l("needed now"),
    "6m": _l("needed within 6 months"),
    "12m": _l("needed within 12 months"),
    "later": _l("needed later"),
}


def need_label(need: QualificationNeed) -> str:
    """What tells a firm's needs apart where one is chosen, e.g. "Pflegefachkraft · 2 Personen
    · ab sofort · erfasst 03.11.2026": occupation, number, time frame (or since when it is
    sought), qualification level and the day it was surveyed or entered."""
    parts = [
        need.occupation,
        ngettext("%(num)d person", "%(num)d people", need.count),
    ]
    if need.time_frame in NEED_TIME_FRAME_LABELS:
        parts.append(str(NEED_TIME_FRAME_LABELS[need.time_frame]))
    elif need.needed_since is not None:
        parts.append(_("sought since %(date)s", date=fmt_date(need.needed_since)))
    if need.qualification_level in QUALIFICATION_LEVEL_LABELS:
        parts.append(str(QUALIFICATION_LEVEL_LABELS[need.qualification_level]))
    parts.append(_("entered %(date)s", date=fmt_date(need.surveyed_on)))
    return " · ".join(parts)


def need_choices(needs: list[QualificationNeed]) -> list[SelectChoice]:
    """The need select's options: "none" and one distinct label per need (two needs alike in
    every part also show their number)."""
    labels = [need_label(n) for n in needs]
    twice = {label for label in labels if labels.count(label) > 1}
    return choices(
        [
            ("", _("none")),
            *(
                (str(n.id), f"{label} · {_('No.')} {n.id}" if label in twice else label)
                for n, label in zip(needs, labels, strict=True)
            ),
        ]
    )


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
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The end must not be before the start."))

    def validate(self, extra_validators: Any = None) -> bool:
        """The field checks, then the internship's end: Optional() stops an empty end date's
        own checks, so a missing end is caught here, on the end field, in words."""
        valid = super().validate(extra_validators)
        if self.kind.data == "internship" and self.ends_on.data is None and not self.ends_on.errors:
            self.ends_on.errors = [_("An internship needs its end date.")]
            valid = False
        return valid


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
    # A record picker limited to the firm's people: the typed name and the chosen person's id.
    onboarding_person = StringField(
        _l("Onboarding contact at the firm"), validators=[Optional(), Length(max=300)]
    )
    onboarding_person_id = HiddenField()
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])


def firm_support_form(fs: Any) -> FirmSupportForm:
    """The checklist form showing the stored row (None: nothing recorded yet)."""
    form = FirmSupportForm(formdata=None, obj=fs, prefix="firm")
    person = fs.onboarding_person if fs is not None else None
    form.onboarding_person.data = person.full_name if person is not None else ""
    form.onboarding_person_id.data = str(person.id) if person is not None else ""
    return form
