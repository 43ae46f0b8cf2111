"""Bulk action forms: the first step chooses the action for a selection, the second asks for
what the action needs (a tag, an owner, a list, a newsletter with the consent source)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.forms import Form, choices
from crm.newsletters.forms import METHOD_LABELS

ACTION_LABELS = {
    "tag_add": _l("Add tag"),
    "tag_remove": _l("Remove tag"),
    "owner": _l("Assign responsible person"),
    "list": _l("Add to contact list"),
    "newsletter": _l("Add to newsletter (with consent)"),
    "export_csv": _l("Export selection (CSV)"),
    "export_xlsx": _l("Export selection (Excel)"),
    "counsellor": _l("Assign counsellor"),
}
# What each action needs beyond contacts.view.
ACTION_PERMISSIONS = {
    "tag_add": ("contacts.edit",),
    "tag_remove": ("contacts.edit",),
    "owner": ("contacts.edit",),
    "list": ("contacts.edit",),
    "newsletter": ("contacts.edit", "newsletters.edit"),
    "export_csv": ("contacts.export",),
    "export_xlsx": ("contacts.export",),
    "counsellor": ("participants.edit",),
}
# Where an action needs another permission on one list: exporting participants is not exporting
# contacts (counsellors and staff export contacts, only admins and leads participants).
KIND_ACTION_PERMISSIONS = {
    ("participants", "export_csv"): ("participants.view", "participants.export"),
    ("participants", "export_xlsx"): ("participants.view", "participants.export"),
}
# Static lists and newsletters hold people: for organisations they take the people working there.
KIND_ACTIONS = {
    "people": ("tag_add", "tag_remove", "owner", "list", "newsletter", "export_csv", "export_xlsx"),
    "organisations": (
        "tag_add",
        "tag_remove",
        "owner",
        "list",
        "newsletter",
        "export_csv",
        "export_xlsx",
    ),
    # The export is for leads' reporting (participants.export): no notes, no session contents.
    "participants": ("counsellor", "export_csv", "export_xlsx"),
}
STAFF_METHODS = ("paper", "existing_business_contact")


def action_permissions(kind: str, action: str) -> tuple[str, ...]:
    """The permissions running `action` on the `kind` list needs (beyond opening the list)."""
    return KIND_ACTION_PERMISSIONS.get((kind, action), ACTION_PERMISSIONS[action])


class SelectionForm(Form):
    """The selection (ticked ids travel as repeated `ids` fields) and the chosen action."""

    action = SelectField(_l("Action"), validate_choice=False)
    all_matching = BooleanField()
    filter = HiddenField()
    confirmed = HiddenField()


class TagForm(SelectionForm):
    tag = StringField(_l("Tag"), validators=[DataRequired(), Length(max=80)])


class OwnerForm(SelectionForm):
    owner_id = SelectField(_l("Responsible"), coerce=int)


class CounsellorForm(SelectionForm):
    counsellor_id = SelectField(_l("Responsible counsellor"), coerce=int)


class ListForm(SelectionForm):
    list_id = SelectField(_l("Contact list"), coerce=int)
    new_name = StringField(
        _l("Name of the new contact list"), validators=[Optional(), Length(max=120)]
    )


class NewsletterForm(SelectionForm):
    list_id = SelectField(_l("Newsletter"), coerce=int)
    method = SelectField(
        _l("How consent was given"), choices=choices((k, METHOD_LABELS[k]) for k in STAFF_METHODS)
    )
    source = StringField(
        _l("Source of the consent (e.g. signed form at the fair, contract)"),
        validators=[DataRequired(), Length(max=500)],
    )
    consented_on = DateField(_l("Date of consent"), validators=[DataRequired()])


ACTION_FORMS: dict[str, type[SelectionForm]] = {
    "tag_add": TagForm,
    "tag_remove": TagForm,
    "owner": OwnerForm,
    "list": ListForm,
    "newsletter": NewsletterForm,
    "counsellor": CounsellorForm,
}
