"""The form of the targets board: the weekly targets of a year."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import NumberRange

from crm.dashboard.service import MAX_PER_WEEK
from crm.forms import DecimalCommaField, Filled, Form


def _target(label: str) -> DecimalCommaField:
    return DecimalCommaField(
        label,
        validators=[
            Filled(message=_l("Please enter a weekly target.")),
            NumberRange(
                min=0, max=MAX_PER_WEEK, message=_l("Please enter a weekly target from 0 to 9999.")
            ),
        ],
        render_kw={"inputmode": "decimal"},
    )


class TargetsForm(Form):
    entries = _target(_l("Entries per week"))
    exits = _target(_l("Exits per week"))
