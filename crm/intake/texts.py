"""The labels of the inquiry fields and the public form's three text sets.

German and English come from the catalogues (`_l`); simple German (Leichte Sprache) is a text
set of its own, written here in German only: it is a way of writing German, not a translation.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

# Bump the version whenever the wording of CONSENT changes in any language: the inquiry records
# the version with the exact text shown.
CONSENT_VERSION = "2026-12"

KIND_LABELS = {
    "person": _l("A person seeking counselling"),
    "firm": _l("A firm with a skills need"),
}
TOPIC_LABELS = {
    "recognition": _l("Recognition of a foreign qualification"),
    "qualification": _l("Qualification"),
    "job": _l("Job search"),
    "relocation": _l("Moving here"),
    "further_education": _l("Further education"),
    "other": _l("Something else"),
}
LANGUAGE_LABELS = {"de": _l("German"), "en": _l("English"), "other": _l("Another language")}
CONTACT_WAY_LABELS = {
    "email": _l("By e-mail"),
    "phone": _l("By phone"),
    "either": _l("Either"),
}
CHANNEL_LABELS = {
    "web": _l("Website form"),
    "hotline": _l("Hotline"),
    "email": _l("E-mail"),
    "other": _l("Other"),
}
STATUS_LABELS = {
    "new": _l("New"),
    "assigned": _l("Assigned"),
    "in_contact": _l("In contact"),
    "converted": _l("Converted"),
    "closed": _l("Closed"),
}
CLOSE_REASON_LABELS = {
    "no_reply": _l("No reply"),
    "not_eligible": _l("Not eligible"),
    "referred": _l("Referred elsewhere"),
    "duplicate": _l("Duplicate"),
    "spam": _l("Spam"),
    "other": _l("Other reason"),
}
FILTER_LABELS = {
    "open": _l("Open"),
    "mine": _l("My inquiries"),
    "overdue": _l("First response overdue"),
    "new": _l("New"),
    "assigned": _l("Assigned"),
    "in_contact": _l("In contact"),
    "converted": _l("Converted"),
    "closed": _l("Closed"),
    "all": _l("All"),
}
# Why a record is offered as the inquirer's duplicate on the detail page.
DUPLICATE_REASON_LABELS = {
    "email": _l("same e-mail address"),
    "phone": _l("same phone number"),
    "name": _l("same name"),
    "name_at_organisation": _l("same name at the organisation"),
}
FORM_LANGUAGE_LABELS = {"de": "Deutsch", "en": "English", "simple": "Leichte Sprache"}
# The fields of an inquiry as the Art. 15 report and its audit log name them.
REPORT_FIELDS: dict[str, Any] = {
    "kind": _l("Who is asking"),
    "topic": _l("Topic"),
    "office": _l("Office"),
    "channel": _l("Received via"),
    "created_at": _l("Received on"),
    "name": _l("Name"),
    "organisation_name": _l("Organisation"),
    "email": _l("E-mail address"),
    "phone": _l("Phone"),
    "contact_way": _l("How to contact you"),
    "preferred_language": _l("Language of the answer"),
    "form_language": _l("Language of the form"),
    "message": _l("Message"),
    "source_ip_hash": _l("Network address"),
    "consent_version": _l("Version of the consent text"),
    "consented_at": _l("Consent given on"),
    "consent_text": _l("Consent text as shown"),
    "status": _l("Status"),
    "assigned_to": _l("Contact person"),
    "assigned_at": _l("Assigned on"),
    "first_contact_at": _l("First contact on"),
    "closed_at": _l("Closed on"),
    "close_reason": _l("Reason for closing"),
    "close_note": _l("Note on closing"),
    "created_by": _l("Taken by"),
    "converted_at": _l("Taken over on"),
    "converted_to": _l("Taken over into"),
    "acknowledgement": _l("Acknowledgement e-mail"),
    # Column names the audit log records for changes.
    "office_id": _l("Office"),
    "assigned_to_id": _l("Contact person"),
    "created_by_id": _l("Taken by"),
    "first_response_due_at": _l("First response due by"),
}


def standard_texts() -> dict[str, object]:
    """The public form's wording in the current language (German or English)."""
    return {
        "title": _l("Your inquiry"),
        "intro": _l(
            "Tell us briefly what you need. One contact person will get back to you, "
            "usually within two working days."
        ),
        "kind": _l("Who is asking?"),
        "kinds": KIND_LABELS,
        "topic": _l("Topic"),
        "topics": TOPIC_LABELS,
        "office": _l("Office"),
        "name": _l("Your name"),
        "organisation": _l("Name of the firm"),
        "organisation_help": _l("Only for firms."),
        "email": _l("E-mail address"),
        "phone": _l("Phone number"),
        "contact_help": _l("Please give an e-mail address or a phone number."),
        "contact_way": _l("How should we contact you?"),
        "contact_ways": CONTACT_WAY_LABELS,
        "language": _l("Preferred language"),
        "languages": LANGUAGE_LABELS,
        "message": _l("Your message"),
        "privacy_title": _l("Privacy notice"),
        "privacy": _l(
            "We use your details only to answer your inquiry. Only the staff responsible for "
            "you see them. If you do not become a participant or client, we delete them after "
            "the retention period. You can ask us at any time what we store and have it "
            "deleted."
        ),
        "consent": _l(
            "I agree that my details are stored and used to answer my inquiry. I can withdraw "
            "this consent at any time."
        ),
        "honeypot": _l("Leave this field empty"),
        "submit": _l("Send inquiry"),
        "required": _l("Fields marked * are required."),
        "done_title": _l("Thank you for your inquiry"),
        "done": _l(
            "We have received your inquiry. If you gave an e-mail address, you will get a "
            "confirmation naming your contact person."
        ),
        "languages_nav": _l("Language"),
        "errors_title": _l("Please check your details"),
    }


SIMPLE_TEXTS: dict[str, object] = {
    "title": "Ihre Anfrage",
    "intro": (
        "Sie haben eine Frage? Schreiben Sie uns. Eine Person von uns ist dann für Sie da. "
        "Diese Person meldet sich bei Ihnen. Meistens in 2 Arbeits-Tagen."
    ),
    "kind": "Wer fragt?",
    "kinds": {
        "person": "Ich suche Beratung für mich.",
        "firm": "Ich frage für eine Firma. Die Firma sucht Fach-Kräfte.",
    },
    "topic": "Worum geht es?",
    "topics": {
        "recognition": "Mein Berufs-Abschluss aus dem Ausland soll gelten.",
        "qualification": "Ich möchte etwas dazu-lernen für meinen Beruf.",
        "job": "Ich suche Arbeit.",
        "relocation": "Ich ziehe hierher.",
        "further_education": "Weiter-Bildung",
        "other": "Etwas anderes",
    },
    "office": "Welches Büro ist in Ihrer Nähe?",
    "name": "Ihr Name",
    "organisation": "Name von der Firma",
    "organisation_help": "Nur für Firmen.",
    "email": "Ihre E-Mail-Adresse",
    "phone": "Ihre Telefon-Nummer",
    "contact_help": "Bitte schreiben Sie eine E-Mail-Adresse oder eine Telefon-Nummer.",
    "contact_way": "Wie sollen wir Sie erreichen?",
    "contact_ways": {"email": "Mit E-Mail", "phone": "Mit Telefon", "either": "Egal"},
    "language": "In welcher Sprache sollen wir mit Ihnen sprechen?",
    "languages": {"de": "Deutsch", "en": "Englisch", "other": "Eine andere Sprache"},
    "message": "Ihre Frage",
    "privacy_title": "Ihre Daten",
    "privacy": (
        "Wir brauchen Ihre Daten, damit wir Ihnen antworten können. "
        "Nur die Menschen, die für Sie zuständig sind, sehen Ihre Daten. "
        "Wenn wir Ihre Daten nicht mehr brauchen, löschen wir sie. "
        "Sie können uns immer fragen: Welche Daten haben Sie von mir? "
        "Sie können immer sagen: Löschen Sie meine Daten."
    ),
    "consent": (
        "Ich bin einverstanden: Sie speichern meine Daten. Sie benutzen die Daten für meine "
        "Anfrage. Ich kann jederzeit sagen: Ich will das nicht mehr."
    ),
    "honeypot": "Dieses Feld bitte leer lassen",
    "submit": "Anfrage abschicken",
    "required": "Felder mit * müssen Sie ausfüllen.",
    "done_title": "Danke für Ihre Anfrage",
    "done": (
        "Wir haben Ihre Anfrage bekommen. Haben Sie uns eine E-Mail-Adresse gegeben? "
        "Dann bekommen Sie eine E-Mail. In der E-Mail steht: Diese Person ist für Sie da."
    ),
    "languages_nav": "Sprache",
    "errors_title": "Bitte prüfen Sie Ihre Angaben",
}

# Error messages in simple German, by the key the form uses.
SIMPLE_ERRORS = {
    "required": "Bitte füllen Sie dieses Feld aus.",
    "choice": "Bitte wählen Sie etwas aus.",
    "email": "Das ist keine richtige E-Mail-Adresse.",
    "contact": "Bitte schreiben Sie eine E-Mail-Adresse oder eine Telefon-Nummer.",
    "organisation": "Bitte schreiben Sie den Namen von der Firma.",
    "consent": "Bitte sagen Sie, dass Sie einverstanden sind.",
    "too_long": "Das ist zu lang.",
}
