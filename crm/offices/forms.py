"""Forms of the office pages and the first-run setup (CSRF through crm.forms.Form)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from crm.accounts.models import Office
from crm.dashboard.funder import MAX_DAYS
from crm.forms import DecimalCommaField, Filled, Form
from crm.offices.service import MAX_PER_WEEK


class TargetField(DecimalCommaField):
    """A decimal shown the way the user's language writes it (2 or 1,5, never 2.0)."""

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data is None:
            return ""
        return format_decimal(self.data, format="0.##")


def target_field(label: Any) -> TargetField:
    """A weekly target: a number from 0 to 9999, typed as 2,5 or 2.5."""
    return TargetField(
        label,
        validators=[
            Filled(message=_l("Please enter a weekly target.")),
            NumberRange(
                min=0, max=MAX_PER_WEEK, message=_l("Please enter a weekly target from 0 to 9999.")
            ),
        ],
        render_kw={"inputmode": "decimal"},
    )


class OfficeForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    street = StringField(_l("Street and number"), validators=[Optional(), Length(max=200)])
    # Branch offices are in Germany: the same five-digit check as a contact's German address.
    postcode = StringField(
        _l("Postcode"),
        validators=[
            Optional(),
            Regexp(r"^[0-9]{5}$", message=_l("Please enter a five-digit German postcode.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)])
    weekly_entries = target_field(_l("Entries per week (target)"))
    weekly_exits = target_field(_l("Exits per week (target)"))


class TargetsForm(Form):
    """The weekly targets of several offices in one form (fields entries_<id>, exits_<id>)."""

    offices: list[Office]

    def office_fields(self) -> list[tuple[Office, Any, Any]]:
        """(office, entries field, exits field) per office, in the form's order."""
        return [(o, self[f"entries_{o.id}"], self[f"exits_{o.id}"]) for o in self.offices]

    def values(self) -> dict[int, tuple[float, float]]:
        """Office id → (entries, exits) as submitted."""
        return {o.id: (e.data, x.data) for o, e, x in self.office_fields()}


def targets_form(offices: Iterable[Office], **kwargs: Any) -> TargetsForm:
    """A TargetsForm for these offices, prefilled with their current targets."""
    offices = list(offices)

    class _Form(TargetsForm):
        pass

    data: dict[str, float] = {}
    for o in offices:
        setattr(_Form, f"entries_{o.id}", target_field(_l("%(office)s: entries", office=o.name)))
        setattr(_Form, f"exits_{o.id}", target_field(_l("%(office)s: exits", office=o.name)))
        data[f"entries_{o.id}"] = o.weekly_entries
        data[f"exits_{o.id}"] = o.weekly_exits
    form = _Form(data=data, **kwargs)
    form.offices = offices
    return form


class ProjectTermForm(Form):
    """The project term (Projektlaufzeit): an optional name, first and last day."""

    name = StringField(
        _l("Name of the project (optional)"),
        validators=[Optional(), Length(max=200, message=_l("At most 200 characters."))],
    )
    # InputRequired, not DataRequired: a typed but invalid date gets only the "not a valid
    # date" message, not a second "please enter" beside it.
    start_on = DateField(
        _l("Project start"), validators=[InputRequired(message=_l("Please enter the first day."))]
    )
    end_on = DateField(
        _l("Project end"), validators=[InputRequired(message=_l("Please enter the last day."))]
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not ok:
            return ok
        if self.end_on.data < self.start_on.data:
            self.end_on.errors = [_("The project end lies before its start.")]
            return False
        # The funder report refuses longer periods; refused here, not later on its page.
        if (self.end_on.data - self.start_on.data).days >= MAX_DAYS:
            self.end_on.errors = [_("Please enter a project term of at most ten years.")]
            return False
        return ok
