"""Demo inquiries: assignment rules for two offices and inquiries in every state (two of them
converted: into a participant and into a contact person with a skills need), so the queue,
the detail page, the settings and "Mein Tag" have content in `make run`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from crm.accounts.models import Office, User
from crm.database import utcnow
from crm.intake import conversion, service
from crm.intake.texts import CONSENT_VERSION

CONSENT = (
    "Ich bin damit einverstanden, dass meine Angaben gespeichert und zur Beantwortung meiner "
    "Anfrage genutzt werden. Ich kann diese Einwilligung jederzeit widerrufen."
)


def _user(session: Session, email: str) -> User | None:
    return session.scalar(sa.select(User).where(User.email == email))


def seed_intake(session: Session, offices: dict[str, Office]) -> dict[str, int]:
    """Two rules and five inquiries (new web ones, a hotline call, one in contact, one closed)."""
    counsellor = _user(session, "beratung@demo.netzwerk-crm.de")
    lead = _user(session, "leitung@demo.netzwerk-crm.de")
    burg = _user(session, "beratung.burg@demo.netzwerk-crm.de")
    staff = _user(session, "assistenz@demo.netzwerk-crm.de")
    rules = 0
    if counsellor and lead:
        service.save_rule(
            session,
            None,
            office_id=offices["Magdeburg"].id,
            topic="",
            user_ids=[counsellor.id, lead.id],
        )
        service.save_rule(
            session,
            None,
            office_id=offices["Magdeburg"].id,
            topic="recognition",
            user_ids=[counsellor.id],
        )
        rules += 2
    if burg:
        service.save_rule(session, None, office_id=offices["Burg"].id, topic="", user_ids=[burg.id])
        rules += 1
    now = utcnow()
    ack = service.AckSettings(sender=str(current_app.config["CRM_MAIL_FROM"]))
    samples = (
        (
            service.InquiryData(
                kind="person",
                topic="recognition",
                office_id=offices["Magdeburg"].id,
                name="Olena Kovalenko",
                email="olena.kovalenko@example.org",
                message="Ich bin Krankenpflegerin aus der Ukraine und möchte meinen Abschluss "
                "anerkennen lassen.",
                contact_way="email",
            ),
            "web",
            now - timedelta(days=6),
            None,
        ),
        (
            service.InquiryData(
                kind="firm",
                topic="further_education",
                office_id=offices["Burg"].id,
                name="Thomas Richter",
                phone="03921 555 010",
                organisation_name="Richter Metallbau GmbH",
                message="Sucht zwei Schweißer, gern mit Anpassungsqualifizierung.",
                contact_way="phone",
            ),
            "hotline",
            now - timedelta(hours=3),
            staff,
        ),
        (
            service.InquiryData(
                kind="person",
                topic="job",
                office_id=offices["Magdeburg"].id,
                name="Samir Haddad",
                email="samir.haddad@example.org",
                preferred_language="en",
                message="I am an electrical engineer and look for a job in Magdeburg.",
            ),
            "web",
            now - timedelta(days=1),
            None,
        ),
        (
            service.InquiryData(
                kind="person",
                topic="relocation",
                office_id=offices["Magdeburg"].id,
                name="Ana Pereira",
                email="ana.pereira@example.org",
                message="Wir ziehen im Frühjahr nach Magdeburg.",
            ),
            "web",
            now - timedelta(days=3),
            None,
        ),
    )
    created = []
    for data, channel, at, by in samples:
        inquiry = service.create_inquiry(
            session,
            data,
            channel=channel,
            now=at,
            consent_text=CONSENT,
            consent_version=CONSENT_VERSION,
            form_language="en" if data.preferred_language == "en" else "de",
            created_by=by,
            ack=ack,
        )
        created.append(inquiry)
    service.mark_in_contact(created[3], now - timedelta(days=2))
    spam = service.create_inquiry(
        session,
        service.InquiryData(
            kind="person",
            topic="other",
            office_id=offices["Magdeburg"].id,
            name="Gewinnspiel",
            email="win@example.org",
            message="Sie haben gewonnen!",
        ),
        channel="web",
        now=now - timedelta(days=4),
        consent_text=CONSENT,
        consent_version=CONSENT_VERSION,
    )
    service.close(spam, "spam", "", now - timedelta(days=4))
    converted = _seed_converted(session, offices, counsellor, ack)
    return {"intake_rules": rules, "inquiries": len(created) + 1 + converted}


def _seed_converted(
    session: Session, offices: dict[str, Office], counsellor: User | None, ack: Any
) -> int:
    """A person's inquiry converted into a participant and a firm's into a contact person."""
    if counsellor is None:
        return 0
    now = utcnow()
    person = service.create_inquiry(
        session,
        service.InquiryData(
            kind="person",
            topic="recognition",
            office_id=offices["Magdeburg"].id,
            name="Daria Melnyk",
            email="daria.melnyk@example.org",
            phone="0176 5550 1234",
            message="Ich bin Lehrerin aus Kyjiw und möchte wieder in einer Schule arbeiten.",
        ),
        channel="web",
        now=now - timedelta(days=9),
        consent_text=CONSENT,
        consent_version=CONSENT_VERSION,
        ack=ack,
    )
    service.assign(person, counsellor, now - timedelta(days=9))
    data = conversion.participant_prefill(person, now.date())
    data.update(
        office_id=offices["Magdeburg"].id,
        counsellor_id=counsellor.id,
        country_of_origin="Ukraine",
        profession="Lehrerin",
    )
    conversion.convert_to_participant(
        session, person.id, data, user=counsellor, now=now - timedelta(days=8)
    )
    firm = service.create_inquiry(
        session,
        service.InquiryData(
            kind="firm",
            topic="qualification",
            office_id=offices["Magdeburg"].id,
            name="Katrin Vogel",
            email="k.vogel@example.org",
            organisation_name="Vogel Pflegedienst GmbH",
            message="Wir suchen drei Pflegefachkräfte, gern mit Anerkennung im Verfahren.",
        ),
        channel="web",
        now=now - timedelta(days=12),
        consent_text=CONSENT,
        consent_version=CONSENT_VERSION,
        ack=ack,
    )
    service.assign(firm, counsellor, now - timedelta(days=12))
    first, last = conversion.split_name(firm.name)
    conversion.convert_to_person(
        session,
        firm.id,
        conversion.FirmConversion(
            first_name=first,
            last_name=last,
            email=firm.email,
            function="Geschäftsführerin",
            new_organisation_name=firm.organisation_name,
            occupation="Pflegefachkraft",
            count=3,
            need_note=firm.message,
        ),
        user=counsellor,
        now=now - timedelta(days=11),
    )
    return 2
