"""Labels and display values for the Art. 15 report: the UI's own words, times in Berlin.

Field labels are read from the domains' forms (the label a person saw when the value was
entered) and choice values from the label mappings each domain already keeps; only columns
that no form edits get a label here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from wtforms.fields.core import UnboundField

from crm.audit import labels as audit_labels
from crm.contacts import forms as contact_forms
from crm.events import forms as event_forms
from crm.followups import forms as followup_forms
from crm.newsletters import campaign_views as campaign_labels
from crm.newsletters import forms as newsletter_forms
from crm.participants import forms as participant_forms

BERLIN = ZoneInfo("Europe/Berlin")


def form_labels(*form_classes: type) -> dict[str, Any]:
    """{field name: label} of every field declared on the given form classes (first wins)."""
    labels: dict[str, Any] = {}
    for form_class in form_classes:
        for name in dir(form_class):
            field = getattr(form_class, name, None)
            if not isinstance(field, UnboundField) or name in labels:
                continue
            label = field.kwargs.get("label", field.args[0] if field.args else None)
            if label is not None:
                labels[name] = label
    return labels


# Columns no form edits (kept by the system or set by an action button).
COMMON = {
    "created_at": _l("Recorded on"),
    "updated_at": _l("Last changed on"),
}
PERSON = {
    **form_labels(contact_forms.PersonForm),
    "last_contact_at": _l("Last contact"),
    "tags": _l("Tags"),
    **COMMON,
}
AFFILIATION = form_labels(contact_forms.AffiliationForm)
ACTIVITY = {
    **form_labels(contact_forms.ActivityForm),
    "occurred_at": _l("Date and time"),
    "organisation": _l("Organisation"),
}
FOLLOWUP = {
    **form_labels(followup_forms.FollowUpForm, followup_forms.EditForm),
    "due_at": form_labels(followup_forms.FollowUpForm)["due_date"],
    "status": _l("Status"),
    "outcome": _l("Outcome"),
    "done_at": _l("Done on"),
    "done_by_id": _l("Done by"),
    "created_by_id": _l("Created by"),
    "organisation": _l("Organisation"),
    "event": _l("Event"),
}
PARTICIPANT = {
    **form_labels(
        participant_forms.ParticipantForm,
        participant_forms.ExitForm,
        participant_forms.CasePlanForm,
    ),
    "exit_note": _l("Note on the exit"),
    "pseudonym": _l("Pseudonym (for anonymised reports)"),
    "total_minutes": _l("Counselling minutes in total"),
    "first_session_on": _l("First counselling session"),
    "entry_on": _l("Entry"),
    "erase_after": _l("Due for erasure from"),
    **COMMON,
}
SESSION = {
    **form_labels(participant_forms.SessionForm),
    "minutes": _l("Duration in minutes"),
    "counsellor_id": _l("Counsellor"),
}
CONTACT = {
    **form_labels(participant_forms.ContactForm),
    "duration_minutes": _l("Duration in minutes"),
    "user_id": _l("Entered by"),
}
CONTACT_KINDS = participant_forms.CONTACT_KIND_LABELS
REFERRAL = {**form_labels(participant_forms.ReferralForm), "note": _l("Note")}
RELEASE = form_labels(participant_forms.ReleaseForm, participant_forms.RevokeForm)
SUPPORT_ITEM = {
    **form_labels(participant_forms.SupportItemForm),
    "type": _l("Checklist item"),
    "done_on": _l("Done on"),
}
SUBSCRIPTION = {
    "list_id": form_labels(newsletter_forms.RecordConsentForm)["list_id"],
    "status": _l("Status"),
    "source": form_labels(newsletter_forms.RecordConsentForm)["method"],
    "consent_text": form_labels(newsletter_forms.ListForm)["consent_text"],
    "requested_at": _l("Sign-up requested on"),
    "confirmed_at": _l("Consent confirmed on"),
    "unsubscribed_at": _l("Unsubscribed on"),
    "bounced_at": _l("Address bounced on"),
}
SIGNUP = {
    "list_id": SUBSCRIPTION["list_id"],
    "email": _l("E-mail address"),
    "name": _l("Name"),
    "consent_text": SUBSCRIPTION["consent_text"],
    "requested_at": SUBSCRIPTION["requested_at"],
    "ip": _l("IP address"),
    "user_agent": _l("Browser"),
}
CONSENT_EVENT = {
    "at": _l("Date and time"),
    "list_id": SUBSCRIPTION["list_id"],
    "action": _l("What happened"),
    "channel": _l("How it reached us"),
    "consent_text": SUBSCRIPTION["consent_text"],
    "email": _l("E-mail address"),
    "ip": _l("IP address"),
    "user_agent": _l("Browser"),
    "actor_id": _l("Recorded by"),
    "note": _l("Note"),
    "campaign_id": _l("Mailing"),
}
DELIVERY = {
    "campaign_id": _l("Mailing"),
    "email": _l("E-mail address"),
    "status": _l("Status"),
    "sent_at": _l("Sent on"),
}
EVENT_CONTACT = {"event_id": _l("Event"), **form_labels(event_forms.ContactForm)}
LEAD = {
    "event_id": _l("Event"),
    "organisation": form_labels(event_forms.LeadForm)["organisation"],
    "note": form_labels(event_forms.LeadForm)["note"],
    "captured_by_id": _l("Recorded by"),
    "created_at": _l("Recorded on"),
    "followup_id": _l("Follow-up"),
}
# Event registrations (crm.events.registration_privacy): the report's fields and the names of
# changed fields in the log.
EVENT_REGISTRATION = {
    "event_id": _l("Event"),
    "event": _l("Event"),
    "name": _l("Name"),
    "email": _l("E-mail"),
    "email_key": _l("E-mail"),
    "organisation": _l("Organisation"),
    "dietary": _l("Dietary needs"),
    "accessibility": _l("Accessibility needs"),
    "language": _l("Language"),
    "status": _l("Status"),
    "queued_at": _l("Registered at"),
    "cancelled_at": _l("Cancelled at"),
    "checked_in_at": _l("Checked in at"),
    "share_consent": _l("May be shared with co-organisers"),
    "consent_text": _l("Consent text"),
    "consent_version": _l("Consent version"),
    "consented_at": _l("Consent given at"),
    "person_id": _l("Contact person"),
    "source_ip_hash": _l("Sender address (as a keyed hash)"),
}
LIST_MEMBER = {"list": _l("Contact list"), "added_at": _l("Added on")}
AUDIT = {
    "at": _l("Date and time"),
    "action": _l("What happened"),
    "actor_label": _l("Carried out by"),
    "record": _l("Record"),
    "fields": _l("Fields concerned"),
}
IMPORT = {
    "filename": _l("Import file"),
    "at": _l("Imported on"),
    "action": _l("What the import did"),
    "fields": _l("Fields concerned"),
    "file": _l("Uploaded file"),
}

# Choice values: the mappings the domains' forms and pages use.
SALUTATIONS = contact_forms.SALUTATION_LABELS
LANGUAGES = contact_forms.LANGUAGE_LABELS
ACTIVITY_KINDS = contact_forms.ACTIVITY_KIND_LABELS
FOLLOWUP_PRIORITIES = followup_forms.PRIORITY_LABELS
FOLLOWUP_STATUSES = followup_forms.STATUS_LABELS
RECOGNITION = participant_forms.RECOGNITION_LABELS
CHANNELS = participant_forms.CHANNEL_LABELS
OUTCOMES = participant_forms.OUTCOME_LABELS
GENDERS = participant_forms.GENDER_LABELS
DIRECTIONS = participant_forms.DIRECTION_LABELS
REFERRAL_STATUSES = participant_forms.REFERRAL_STATUS_LABELS
SUPPORT_STATUSES = participant_forms.SUPPORT_STATUS_LABELS
SUPPORT_TYPES = participant_forms.SUPPORT_TYPE_LABELS
SUBSCRIPTION_STATUSES = newsletter_forms.STATUS_LABELS
CONSENT_METHODS = newsletter_forms.METHOD_LABELS
CONSENT_ACTIONS = newsletter_forms.ACTION_LABELS
CONSENT_CHANNELS = newsletter_forms.CHANNEL_LABELS
DELIVERY_STATUSES = campaign_labels.DELIVERY_LABELS
EVENT_KINDS = event_forms.KIND_LABELS
CONTACT_STATUSES = event_forms.CONTACT_STATUS_LABELS
IMPORT_ACTIONS = {"create": _l("record created"), "fill": _l("empty fields filled in")}
IMPORT_FILE_STATES = {
    "kept": _l("still stored in the database, deleted after the retention period"),
    "removed": _l("deleted"),
}
# Audit log actions and record kinds (the log itself stores short English codes).
AUDIT_ACTIONS = audit_labels.ACTION_LABELS
RECORD_KINDS = audit_labels.RECORD_LABELS


def choice(mapping: Mapping[str, Any], code: str | None) -> str:
    """The label of a stored code; an unknown code is shown as stored."""
    if code is None:
        return ""
    label = mapping.get(code)
    return str(label) if label is not None else code


def fmt_datetime(value: datetime | None) -> str:
    """21.11.2026 14:30 in Europe/Berlin."""
    if value is None:
        return ""
    local = value.astimezone(BERLIN)
    return f"{local:%d.%m.%Y %H:%M}"


def fmt_date(value: date | datetime | None) -> str:
    """21.11.2026 (a moment is converted to Europe/Berlin first)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BERLIN)
    return f"{value:%d.%m.%Y}"


def fmt_value(value: Any) -> str:
    """Any stored value as the text a person reads: dates German, booleans yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, datetime):
        return fmt_datetime(value)
    if isinstance(value, date):
        return fmt_date(value)
    return str(value)


def field_names(mapping: Mapping[str, Any], names: list[str] | None) -> str:
    """Changed fields of an audit entry as the labels of `mapping` (internal ones left out)."""
    return ", ".join(str(mapping[n]) for n in names or [] if n in mapping)
