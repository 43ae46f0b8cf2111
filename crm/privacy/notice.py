"""The office's own texts for the Art. 15(1)(a)–(h) section of the access report.

Admins word them on a page under *Verwaltung → Datenschutz*; a text nobody has saved yet is
the German default below. One row per text key, so a new text needs no migration.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

# key -> (form label, German default). The order is the order on the admin page.
TEXTS: dict[str, tuple[object, str]] = {
    "controller": (
        _l("Controller and data protection officer"),
        "Verantwortlich ist der Träger des Projekts (Name und Anschrift bitte in der "
        "Verwaltung eintragen). Die bzw. den Datenschutzbeauftragten erreichen Sie unter "
        "derselben Anschrift mit dem Zusatz „Datenschutz“.",
    ),
    "purpose_contacts": (
        _l("Purposes: contact data"),
        "Kontaktpflege mit Arbeitgebern und Partnern des Netzwerks, Vorbereitung und "
        "Dokumentation von Gesprächen, Wiedervorlagen (Art. 6 Abs. 1 lit. f DSGVO).",
    ),
    "purpose_participants": (
        _l("Purposes: counselling"),
        "Beratung und Begleitung bei der Integration in Arbeit, Anerkennung und "
        "Qualifizierung; Nachweis der Beratungsleistungen gegenüber dem Fördermittelgeber in "
        "anonymisierter Form (Art. 6 Abs. 1 lit. a, b und e DSGVO).",
    ),
    "purpose_newsletter": (
        _l("Purposes: newsletter"),
        "Versand des Newsletters, den Sie bestellt haben, und Nachweis Ihrer Einwilligung "
        "(Art. 6 Abs. 1 lit. a, Art. 7 Abs. 1 DSGVO).",
    ),
    "purpose_events": (
        _l("Purposes: events and fairs"),
        "Einladung zu Veranstaltungen, Organisation der Teilnahme und Nachbereitung von "
        "Kontakten auf Messen (Art. 6 Abs. 1 lit. b und f DSGVO).",
    ),
    "purpose_inquiries": (
        _l("Purposes: inquiries"),
        "Beantwortung Ihrer Anfrage und Vermittlung an die zuständige Ansprechperson "
        "(Art. 6 Abs. 1 lit. a DSGVO, Ihre Einwilligung im Anfrageformular, und lit. b DSGVO "
        "für Schritte vor einer Beratung, um die Sie gebeten haben).",
    ),
    "recipients": (
        _l("Recipients"),
        "Die Mitarbeiterinnen und Mitarbeiter des Projekts, soweit sie für Sie zuständig "
        "sind. Partnerorganisationen erhalten Daten nur, wenn Sie sie von der Schweigepflicht "
        "entbunden haben (siehe unten). Der Fördermittelgeber erhält ausschließlich "
        "anonymisierte Zahlen.",
    ),
    "mail_provider": (
        _l("Mail provider (processor)"),
        "E-Mails werden über den Mailserver unseres IT-Dienstleisters versandt "
        "(Auftragsverarbeitung nach Art. 28 DSGVO).",
    ),
    "storage_note": (
        _l("Storage periods: further notes"),
        "Daten, für die keine gesonderte Frist genannt ist, löschen wir, sobald sie für den "
        "Zweck nicht mehr erforderlich sind und keine gesetzliche Aufbewahrungspflicht "
        "besteht.",
    ),
    "rights": (
        _l("Your rights"),
        "Sie haben das Recht auf Auskunft (Art. 15 DSGVO), Berichtigung (Art. 16), Löschung "
        "(Art. 17), Einschränkung der Verarbeitung (Art. 18), Datenübertragbarkeit (Art. 20) "
        "und Widerspruch (Art. 21). Eine Einwilligung können Sie jederzeit mit Wirkung für "
        "die Zukunft widerrufen (Art. 7 Abs. 3).",
    ),
    "supervisory_authority": (
        _l("Supervisory authority (right to lodge a complaint)"),
        "Sie können sich bei einer Aufsichtsbehörde beschweren (Art. 77 DSGVO), zum Beispiel "
        "beim Landesbeauftragten für den Datenschutz Sachsen-Anhalt, Otto-von-Guericke-Straße "
        "34a, 39104 Magdeburg.",
    ),
    "automated_decisions": (
        _l("Automated decisions"),
        "Es findet keine automatisierte Entscheidungsfindung einschließlich Profiling statt "
        "(Art. 22 DSGVO).",
    ),
}


class PrivacyText(db.Model):
    """One of the office's own texts for the access report (see TEXTS for the keys)."""

    __tablename__ = "privacy_text"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )


def notice_texts(session: Session) -> dict[str, str]:
    """Every text by key: the saved wording, else the German default."""
    saved = dict(session.execute(sa.select(PrivacyText.key, PrivacyText.text)).all())
    return {key: saved.get(key) or default for key, (_label, default) in TEXTS.items()}


def save_notice_texts(session: Session, texts: dict[str, str], *, user_id: int | None) -> None:
    """Store the admins' wording (unknown keys are ignored, an empty text means the default)."""
    for key, value in texts.items():
        if key not in TEXTS:
            continue
        row = session.get(PrivacyText, key)
        if row is None:
            row = PrivacyText(key=key)
            session.add(row)
        row.text = (value or "").strip()
        row.updated_by_id = user_id
    session.flush()


def controller_missing(session: Session) -> bool:
    """True while the controller's text is still the default that asks for name and address."""
    return notice_texts(session)["controller"].strip() == TEXTS["controller"][1]
