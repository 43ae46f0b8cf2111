"""Demo newsletter: "Newsletter Haus der Wirtschaft" with subscribers in every state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.contacts.models import Person
from crm.newsletters import service
from crm.newsletters.models import Audience, NewsletterTemplate

CONSENT_TEXT = (
    "Ja, ich möchte den Newsletter „Haus der Wirtschaft“ des Netzwerks per E-Mail erhalten "
    "(etwa monatlich: Veranstaltungen, Fachkräftegewinnung, Förderprogramme). Meine Einwilligung "
    "kann ich jederzeit über den Abmeldelink in jeder Ausgabe widerrufen."
)
HTML = """<p>{{ anrede }},</p>
<p>im Haus der Wirtschaft gibt es Neues für {{ organisation|default("Ihr Unternehmen", true) }}:
die nächste Informationsveranstaltung zur Anerkennung ausländischer Berufsabschlüsse.</p>
<p>Mit freundlichen Grüßen<br>Ihr Netzwerk-Team</p>
<p style="font-size:small"><a href="{{ webversion_link }}">Im Browser ansehen</a> ·
<a href="{{ abmelde_link }}">Newsletter abbestellen</a></p>
"""
TEXT = """{{ anrede }},

im Haus der Wirtschaft gibt es Neues für {{ organisation|default("Ihr Unternehmen", true) }}:
die nächste Informationsveranstaltung zur Anerkennung ausländischer Berufsabschlüsse.

Mit freundlichen Grüßen
Ihr Netzwerk-Team

Im Browser ansehen: {{ webversion_link }}
Abbestellen: {{ abmelde_link }}
"""


def seed_newsletters(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """Create the demo list, a template, an audience and subscribers (demo only)."""
    lst = service.create_list(
        session,
        name="Newsletter Haus der Wirtschaft",
        slug="haus-der-wirtschaft",
        description="Neuigkeiten für Arbeitgeber und Verbände rund um das Haus der Wirtschaft.",
        consent_text=CONSENT_TEXT,
    )
    session.add(
        NewsletterTemplate(
            name="Monatsnewsletter",
            subject="{{ liste }}: Neues im Juni",
            body_html=HTML,
            body_text=TEXT,
        )
    )
    session.add(
        Audience(
            name="Verbände mit Tag Haus der Wirtschaft",
            list_id=lst.id,
            kind="filter",
            filter_spec={"tags": ["Haus der Wirtschaft"]},
        )
    )
    people = session.scalars(
        sa.select(Person).where(Person.email != "").order_by(Person.id).limit(12)
    ).all()
    start = datetime.now(UTC) - timedelta(days=60)
    counts = {"confirmed": 0, "pending": 0, "unsubscribed": 0}
    for i, person in enumerate(people):
        at = start + timedelta(days=i)
        if i % 4 == 3:
            service.request_subscription(
                session, lst, email=person.email, ip="192.0.2.10", user_agent="Demo-Browser", now=at
            )
            counts["pending"] += 1
            continue
        method = "existing_business_contact" if i % 2 else "paper"
        service.record_consent(
            session, person=person, lst=lst, method=method, now=at, note="Demo-Daten"
        )
        if i % 4 == 2:
            service.unsubscribe(
                session, person.id, lst.id, channel="unsubscribe_link", now=at + timedelta(days=10)
            )
            counts["unsubscribed"] += 1
        else:
            counts["confirmed"] += 1
    return {f"newsletter_{k}": v for k, v in counts.items()}
