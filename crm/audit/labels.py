"""German (and English) names for the short English codes the audit log stores.

One place for the admin's audit log page and the Art. 15 report (crm.privacy.labels), so a
new kind of record or action gets its name once. An unknown code is shown as stored.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "create": _l("recorded"),
    "update": _l("changed"),
    "delete": _l("deleted"),
    "access_export": _l("information about the stored data issued"),
    "export": _l("exported"),
    "merge": _l("duplicates merged"),
    "erase": _l("erased"),
    "view": _l("viewed"),
    "search_hit": _l("shown in a search"),
    "view_consent_proof": _l("consent proof viewed"),
    "import": _l("imported"),
    "import_undo": _l("import undone"),
    "note": _l("note"),
    "retention_approve": _l("erasure approved"),
    "retention_postpone": _l("erasure postponed"),
    "retention_erase": _l("erased after the retention period"),
    "convert": _l("taken over from an inquiry"),
    "list_add": _l("added to a contact list"),
    "list_remove": _l("removed from a contact list"),
    "login_success": _l("signed in"),
    "login_failure": _l("sign-in failed"),
    "login_throttled": _l("sign-in blocked after failed attempts"),
    "logout": _l("signed out"),
    "password_change": _l("password changed"),
    "password_reset": _l("password reset"),
}

# Entity types are table names (the Audited mixin) or the names of explicit entries.
RECORD_LABELS = {
    "person": _l("Contact person"),
    "affiliation": _l("Works at"),
    "activity": _l("Activity"),
    "followup": _l("Follow-up"),
    "participant": _l("Participant"),
    "counselling_session": _l("Counselling session"),
    "participant_contact": _l("Logged contact"),
    "referral": _l("Referral"),
    "consent_release": _l("Release from confidentiality"),
    "support_item": _l("Support checklist item"),
    "newsletter_subscription": _l("Newsletter subscription"),
    "event_contact": _l("Event participation"),
    "lead": _l("Fair contact"),
    "inquiry": _l("Inquiry"),
    "event_registration": _l("Event registration"),
    "organisation": _l("Organisation"),
    "organisation_kind": _l("Kind of organisation"),
    "user_account": _l("User account"),
    "office": _l("Office"),
    "absence": _l("Absence"),
    "event": _l("Event"),
    "placement": _l("Placement"),
    "qualification_need": _l("Qualification need"),
    "firm_support": _l("Firm support checklist"),
    "esf_record": _l("ESF Plus data"),
    "esf_followup_link": _l("ESF Plus short survey link"),
    "intake_rule": _l("Assignment rule for inquiries"),
    "intake_consent_text": _l("Consent text of the inquiry form"),
    "contact_list": _l("Contact list"),
    "import_job": _l("Import run"),
    "mail_outbox": _l("Mail outbox"),
    "newsletter_list": _l("Newsletter list"),
    "newsletter_campaign": _l("Newsletter campaign"),
    "newsletter_delivery": _l("Newsletter delivery"),
    "privacy_text": _l("Privacy notice"),
    "retention_rule": _l("Retention period"),
    "report_definition": _l("Saved report"),
    "annual_report": _l("Annual report"),
    "funder_report": _l("Funder report"),
    "esf_indicators": _l("ESF Plus indicators"),
    "event_figures": _l("Event figures"),
    "inquiry_report": _l("Inquiry report"),
}
