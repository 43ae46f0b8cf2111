"""Demo newsletter: "Newsletter Haus der Wirtschaft" with subscribers in every state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.contacts.demo import OUTDATED_EMAIL
from crm.contacts.models import Person
from crm.newsletters import campaigns, service
from crm.newsletters.models import Audience, Campaign, NewsletterTemplate

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
    template = NewsletterTemplate(
        name="Monatsnewsletter",
        subject="{{ liste }}: Neues im Juni",
        body_html=HTML,
        body_text=TEXT,
    )
    session.add(template)
    audience = Audience(
        name="Verbände mit Tag Haus der Wirtschaft",
        list_id=lst.id,
        kind="filter",
        filter_spec={"tags": ["Haus der Wirtschaft"]},
    )
    session.add(audience)
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
    # The duplicate record with the outdated address (crm/contacts/demo.py) still subscribes:
    # its delivery of the sent campaign bounces, as such addresses do.
    outdated = session.scalar(sa.select(Person).where(Person.email == OUTDATED_EMAIL))
    if outdated is not None:
        service.record_consent(
            session, person=outdated, lst=lst, method="paper", now=start, note="Demo-Daten"
        )
        counts["confirmed"] += 1
    session.flush()
    counts["campaigns"] = _seed_campaigns(session, lst, template, audience)
    return {f"newsletter_{k}": v for k, v in counts.items()}


def _seed_campaigns(
    session: Session, lst: Any, template: NewsletterTemplate, audience: Audience
) -> int:
    """A campaign started to every subscriber (crm.demo sends it) and a draft for an audience."""
    author = session.scalar(sa.select(User).where(User.role == "staff").order_by(User.id))
    made = []
    for name, subject, chosen in (
        ("Juni-Ausgabe", "{{ liste }}: Neues im Juni", None),
        ("Juli-Ausgabe für die Verbände", "{{ liste }}: Sommertreffen im Juli", audience),
    ):
        campaign = Campaign(
            name=name,
            list_id=lst.id,
            audience_id=chosen.id if chosen else None,
            template_id=template.id,
            subject=subject,
            body_html=template.body_html,
            body_text=template.body_text,
            created_by_id=author.id if author else None,
        )
        session.add(campaign)
        session.flush()
        made.append(campaign)
    campaigns.start_campaign(session, made[0])
    return len(made)
